package record

import (
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// Exe is the process that owned one side's socket: Joy's "exe" object
// (name, path, hash, uptime) and what flowjoy adds to it. The same shape
// serves "exe" (the sa side) and "peer_exe" (the da side, when it is on
// this host too).
type Exe struct {
	Name   string // the program's file name
	Path   string // its full path ("" when unknown)
	Hash   string // hex SHA-256 of the file, with --exe-hash
	Uptime int64  // whole seconds the process had run when the record's flow started (<0: unknown)

	PID       uint32 // process id (the thread group id)
	PPID      uint32 // parent's process id (0: unknown)
	Cmdline   string // arguments, separated by spaces
	UID       uint32
	User      string // the name of UID ("" when it has none)
	Cgroup    string // cgroup v2 path ("" when unknown)
	Container string // container id from Cgroup ("" when not in a container)
}

func appendExe(dst []byte, key string, e *Exe) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, `":{"name":`...)
	dst = jsontext.Append(dst, e.Name)
	if e.Path != "" {
		dst = append(dst, `,"path":`...)
		dst = jsontext.Append(dst, e.Path)
	}
	if e.Hash != "" {
		dst = append(dst, `,"hash":"`...)
		dst = append(dst, e.Hash...)
		dst = append(dst, '"')
	}
	if e.Uptime >= 0 {
		dst = append(dst, `,"uptime":`...)
		dst = strconv.AppendInt(dst, e.Uptime, 10)
	}
	dst = appendUintKey(dst, "pid", uint64(e.PID))
	if e.PPID != 0 {
		dst = appendUintKey(dst, "ppid", uint64(e.PPID))
	}
	dst = append(dst, `,"cmdline":`...)
	dst = jsontext.Append(dst, e.Cmdline)
	dst = appendUintKey(dst, "uid", uint64(e.UID))
	if e.User != "" {
		dst = append(dst, `,"user":`...)
		dst = jsontext.Append(dst, e.User)
	}
	if e.Cgroup != "" {
		dst = append(dst, `,"cgroup":`...)
		dst = jsontext.Append(dst, e.Cgroup)
	}
	if e.Container != "" {
		dst = append(dst, `,"container":`...)
		dst = jsontext.Append(dst, e.Container)
	}
	return append(dst, '}')
}
