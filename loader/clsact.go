package loader

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// filterPrefix starts the name of every cls_bpf filter flowjoy adds:
// "flowjoy/<pid>/<start time>/<direction>". The owner's start time (in
// clock ticks since boot, /proc/<pid>/stat field 22) tells a live owner
// from a reused process id.
const filterPrefix = "flowjoy/"

// filterPriority places our filters in the clsact chain. Filters of
// another kind cannot share a priority with ours, so it is one nobody
// picks by hand.
const filterPriority = 0x3f4a

func (a *Attachment) attachClsact(at *attached, l netlink.Link, prog *ebpf.Program, ingress bool) error {
	if err := a.ensureClsact(at, l); err != nil {
		return err
	}
	owner, err := processTag(os.Getpid())
	if err != nil {
		return err
	}
	parent := uint32(netlink.HANDLE_MIN_EGRESS)
	if ingress {
		parent = netlink.HANDLE_MIN_INGRESS
	}
	name := filterPrefix + owner + "/" + direction(ingress)
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: l.Attrs().Index,
			Parent:    parent,
			Priority:  filterPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	if err := a.nl.FilterAdd(f); err != nil {
		return err
	}
	// The kernel picked the handle; deleting needs it.
	filters, err := a.nl.FilterList(l, parent)
	if err != nil {
		return err
	}
	for _, x := range filters {
		if bf, ok := x.(*netlink.BpfFilter); ok && bf.Name == name {
			at.filters = append(at.filters, bf)
			return nil
		}
	}
	return fmt.Errorf("filter %s not found after adding it", name)
}

func (a *Attachment) ensureClsact(at *attached, l netlink.Link) error {
	qdiscs, err := a.nl.QdiscList(l)
	if err != nil {
		return err
	}
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			return nil
		}
	}
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: l.Attrs().Index,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_CLSACT,
	}}
	if err := a.nl.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding clsact qdisc: %w", err)
	}
	at.qdisc = q
	return nil
}

// removeQdiscIfEmpty removes a clsact qdisc we created, unless someone
// else has put filters in it meanwhile.
func removeQdiscIfEmpty(nl *netlink.Handle, q *netlink.Clsact) error {
	l, err := nl.LinkByIndex(q.LinkIndex)
	if err != nil {
		return nil // the interface is gone, and its qdisc with it
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		if fs, err := nl.FilterList(l, parent); err != nil || len(fs) > 0 {
			return nil
		}
	}
	if err := nl.QdiscDel(q); err != nil && !isNotFound(err) {
		return fmt.Errorf("removing clsact qdisc from %q: %w", l.Attrs().Name, err)
	}
	return nil
}

// Cleanup removes, in the calling thread's network namespace, the clsact
// filters that flowjoy processes which are no longer running left behind
// (a SIGKILL leaves them; tcx and XDP links go with the process). It
// returns a description of each filter removed. `flowjoy --cleanup` calls
// it; Attach does too.
func Cleanup() ([]string, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", Explain(err))
	}
	defer nl.Close()
	return cleanup(nl)
}

func cleanup(nl *netlink.Handle) ([]string, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, l := range links {
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, err := nl.FilterList(l, parent)
			if err != nil {
				continue // no clsact qdisc here
			}
			for _, f := range filters {
				bf, ok := f.(*netlink.BpfFilter)
				if !ok || !strings.HasPrefix(bf.Name, filterPrefix) || ownerRunning(bf.Name) {
					continue
				}
				if err := nl.FilterDel(bf); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("removing filter %s from %q: %w", bf.Name, l.Attrs().Name, err))
					continue
				}
				removed = append(removed, fmt.Sprintf("%s: %s", l.Attrs().Name, bf.Name))
			}
		}
	}
	return removed, errors.Join(errs...)
}

// ownerRunning says whether the process named in a filter name is alive.
// A name it cannot parse counts as a leftover.
func ownerRunning(name string) bool {
	parts := strings.Split(strings.TrimPrefix(name, filterPrefix), "/")
	if len(parts) != 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return false
	}
	tag, err := processTag(pid)
	return err == nil && tag == parts[0]+"/"+parts[1]
}

// processTag returns "<pid>/<start time>" for a running process.
func processTag(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	start, err := statStartTime(string(b))
	if err != nil {
		return "", fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return fmt.Sprintf("%d/%d", pid, start), nil
}

// statStartTime reads field 22 (starttime) of a /proc/<pid>/stat line.
// The command name (field 2) may hold spaces and parentheses, so fields
// are counted from the last ')'.
func statStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	fields := strings.Fields(stat[i+1:])
	const startField = 22 - 3 // fields after ')' begin with field 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("%d fields", len(fields)+2)
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

func isNotFound(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL)
}
