package procmap

import (
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// cgroupNames maps cgroup v2 ids to paths. A cgroup's id is the inode
// number of its directory in the cgroup v2 mount, so the map is built by
// walking the mount, again when an id is missing (a cgroup made since),
// at most every rescanEvery.
type cgroupNames struct {
	root     string // the cgroup v2 mount; "" disables
	mu       sync.Mutex
	byID     map[uint64]string
	lastScan time.Time
}

const rescanEvery = 500 * time.Millisecond

func newCgroupNames(root string) *cgroupNames {
	return &cgroupNames{root: root, byID: make(map[uint64]string)}
}

// path returns the cgroup path of id ("/" for the root), or "" if unknown.
func (c *cgroupNames) path(id uint64) string {
	if c == nil || c.root == "" || id == 0 {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.byID[id]; ok {
		return p
	}
	if time.Since(c.lastScan) < rescanEvery {
		return ""
	}
	c.lastScan = time.Now()
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			rel, _ := filepath.Rel(c.root, p)
			c.byID[st.Ino] = filepath.Clean("/" + rel)
		}
		return nil
	})
	return c.byID[id]
}
