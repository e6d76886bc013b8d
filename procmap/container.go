package procmap

import (
	"path"
	"strings"
)

// ContainerID returns the container id that a cgroup v2 path names, or ""
// when the path is not a container's: systemd slices and services (and
// the root) have no container id, and the record reports only their
// cgroup path.
//
// Runtimes name a container's cgroup after its id:
//
//	/system.slice/docker-<64 hex>.scope                     docker, systemd driver
//	/docker/<64 hex>                                        docker, cgroupfs driver
//	/kubepods.slice/…/cri-containerd-<64 hex>.scope         containerd (CRI)
//	/kubepods/burstable/pod<uid>/<64 hex>                   kubelet, cgroupfs driver
//	/kubepods.slice/…/crio-<64 hex>.scope                   cri-o
//	/machine.slice/libpod-<64 hex>.scope                    podman
//	/user.slice/…/libpod-<64 hex>.scope/container           podman, with a nested cgroup
//
// The innermost component that names an id wins, so nested runtimes (a
// container in a container) report the inner one.
func ContainerID(cgroup string) string {
	for p := path.Clean("/" + cgroup); p != "/" && p != "."; p = path.Dir(p) {
		if id := containerComponent(path.Base(p)); id != "" {
			return id
		}
	}
	return ""
}

// containerPrefixes are the runtimes' scope name prefixes.
var containerPrefixes = []string{"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"}

func containerComponent(c string) string {
	if strings.HasSuffix(c, ".scope") {
		c = strings.TrimSuffix(c, ".scope")
		for _, pre := range containerPrefixes {
			if id, ok := strings.CutPrefix(c, pre); ok && isContainerID(id) {
				return id
			}
		}
		return ""
	}
	// cgroupfs drivers use the bare id as the directory name.
	if isContainerID(c) {
		return c
	}
	return ""
}

// isContainerID reports whether s is a 64-digit lowercase hex id, as
// docker, containerd, cri-o and podman all use.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
