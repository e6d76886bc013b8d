// Package procmap tells which process owned each local side of a flow.
//
// The kernel attributes, when a socket is made and used, instead of
// polling (Joy polled `ss -tnp` and missed short flows):
//
//   - cgroup socket hooks (bpf/procmap.c) write each socket's owner (tgid,
//     uid, comm, cgroup, start time) into socket-local storage, on the
//     cgroup v2 root or the cgroup given; accepted sockets inherit their
//     listener's owner because the storage is cloned with the socket;
//   - the eBPF engine's egress program reads that storage and sends the
//     owner with the packet's sample (event.Packet.Owner);
//   - exec, fork and exit events keep a cache of processes here, so a
//     process that has already exited when its flow's record is written
//     is still described (for Grace after its exit);
//   - at start-up /proc seeds the cache and an iterator attributes the
//     sockets that already exist.
//
// Attributor implements pipeline.Attribution. The libpcap engine gets a
// /proc fallback (ProcAttributor) that matches flows to sockets; capture
// files get none.
package procmap
