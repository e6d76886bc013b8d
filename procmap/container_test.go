package procmap

import (
	"strings"
	"testing"
)

const cid = "3f1c0a7e9b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f506"

func TestContainerID(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/system.slice/docker-" + cid + ".scope", cid},
		{"/docker/" + cid, cid},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c.slice/cri-containerd-" + cid + ".scope", cid},
		{"/kubepods/burstable/pod7d3e0c7a-1b2c-4d5e-8f90-a1b2c3d4e5f6/" + cid, cid},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/crio-" + cid + ".scope", cid},
		{"/machine.slice/libpod-" + cid + ".scope", cid},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope/container", cid},
		{"/system.slice/containerd.service", ""},
		{"/system.slice/ssh.service", ""},
		{"/user.slice/user-1000.slice/session-3.scope", ""},
		{"/", ""},
		{"", ""},
		{"/docker/" + strings.ToUpper(cid), ""}, // ids are lowercase
		{"/docker/" + cid[:63], ""},             // too short
		{"/system.slice/docker-" + cid + ".service", ""}, // not a scope
		{"/system.slice/docker-" + cid[:12] + ".scope", ""},
		{"/docker/" + cid + "/../x", ""},
	} {
		if got := ContainerID(tc.path); got != tc.want {
			t.Errorf("ContainerID(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func FuzzContainerID(f *testing.F) {
	f.Add("/system.slice/docker-" + cid + ".scope")
	f.Add("/kubepods/burstable/pod1/" + cid)
	f.Add("/user.slice/user-1000.slice/session-3.scope")
	f.Add("../../" + cid)
	f.Fuzz(func(t *testing.T, p string) {
		id := ContainerID(p)
		if id != "" && (!isContainerID(id) || !strings.Contains(p, id)) {
			t.Fatalf("ContainerID(%q) = %q: not an id taken from the path", p, id)
		}
	})
}
