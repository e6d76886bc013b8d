/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The socket owner, shared by flowjoy.c (the TC programs read it) and
 * procmap.c (the cgroup hooks and the start-up iterator write it). Both
 * objects declare the same fj_owners map; userspace loads procmap.o with
 * flowjoy.o's map put in its place (CollectionOptions.MapReplacements), so
 * there is one map. Keep the two declarations identical: the replacement
 * is refused when type, sizes or flags differ.
 */
#ifndef FJ_OWNER_H
#define FJ_OWNER_H

#define BPF_MAP_TYPE_SK_STORAGE 24
#define BPF_F_NO_PREALLOC 1
/* Cloned with the socket: a socket accept() returns inherits its
 * listener's owner, which is the server process. */
#define BPF_F_CLONE 512
#define BPF_SK_STORAGE_GET_F_CREATE 1

// fj_owner is who made (or last connected, bound or sent from) a socket.
struct fj_owner {
	__u32 tgid;      // process id
	__u32 pid;       // thread id
	__u32 uid;
	__u32 gid;
	__u64 start_ns;  // the process's start_boottime: tells a reused pid apart
	__u64 cgroup_id; // cgroup v2 id (the cgroup directory's inode)
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct fj_owner);
} fj_owners SEC(".maps");

static void *(*bpf_sk_storage_get)(void *map, void *sk, void *value, __u64 flags) = (void *)107;

#endif /* FJ_OWNER_H */
