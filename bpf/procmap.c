//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// Process attribution, in its own object because its program kinds
// (cgroup hooks, tracing, iterators) are optional: a kernel that refuses
// one must not stop the data path in flowjoy.c.
//
// - cgroup socket hooks write the owner of each socket into fj_owners
//   (SK_STORAGE, shared with flowjoy.c) when the socket is made, and
//   refresh it when it is connected, bound or sent from without a
//   connection (a socket made by one process and used by another after
//   fork or fd passing). Accepted sockets are made by the kernel and get
//   their listener's owner by BPF_F_CLONE.
// - tp_btf/sched_process_{exec,fork,exit} report processes through their
//   own ring buffer, so userspace knows a process that has already exited.
// - sockets that exist when flowjoy starts get their owners from
//   userspace (procmap/seed.go), which writes fj_owners through a
//   duplicate of each socket's fd: iter/task_file cannot, as this kernel's
//   verifier refuses bpf_sk_storage_get on the socket it reaches
//   (bpf_sock_from_file(file)->sk is an untrusted pointer).
//
// The kernel only records; names, paths and containers are resolved in
// userspace.

#include "fj_bpf.h"
#include "fj_owner.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define BPF_MAP_TYPE_RINGBUF 27

// Kernel types, only the fields read here: clang records CO-RE
// relocations, and the loader fixes the offsets from the running kernel's
// BTF.
#define __core __attribute__((preserve_access_index))

struct kernfs_node {
	__u64 id;
} __core;
struct cgroup {
	struct kernfs_node *kn;
} __core;
struct css_set {
	struct cgroup *dfl_cgrp;
} __core;
struct cred {
	struct { __u32 val; } uid;
	struct { __u32 val; } gid;
} __core;
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __core;
struct task_struct {
	int pid;
	int tgid;
	__u64 start_boottime;
	char comm[16];
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	const struct cred *cred;
	struct css_set *cgroups;
} __core;
struct linux_binprm {
	const char *filename;
} __core;

// The UAPI context of cgroup/connect* and cgroup/sendmsg* programs, up to
// the socket.
struct bpf_sock_addr {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	union {
		struct bpf_sock *sk;
		__u64 __sk;
	} __attribute__((aligned(8)));
};

static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __u64 (*bpf_get_current_uid_gid)(void) = (void *)15;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static __u64 (*bpf_get_current_cgroup_id)(void) = (void *)80;
static long (*bpf_probe_read_user)(void *dst, __u32 size, const void *src) = (void *)112;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *src) = (void *)115;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *)158;

// Process events.
#define FJ_PROC_EXEC 1
#define FJ_PROC_FORK 2
#define FJ_PROC_EXIT 3

#define FJ_FILENAME_MAX 256
#define FJ_ARGS_MAX 1024

// fj_proc_event heads every record of the procs ring buffer. Exec records
// carry filename and args after it (struct fj_exec_event); fork and exit
// records are the header alone.
struct fj_proc_event {
	__u8 kind;      // FJ_PROC_*
	__u8 _pad[3];
	__u32 tgid;
	__u32 pid;      // the thread that exec'd, forked or exited
	__u32 ppid;     // real parent's tgid (fork: the parent)
	__u32 uid;
	__u32 gid;
	__u64 start_ns; // the process's start_boottime
	__u64 cgroup_id;
	char comm[16];
};

struct fj_exec_event {
	struct fj_proc_event hdr;
	__u32 filename_len; // bytes of filename, without the NUL
	__u32 args_len;     // bytes of args: argv strings, each NUL-terminated
	char filename[FJ_FILENAME_MAX];
	char args[FJ_ARGS_MAX];
};

const struct fj_exec_event *unused_fj_exec_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // set by userspace
} procs SEC(".maps");

static __always_inline __u64 fj_task_cgroup(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

// fj_fill_owner describes the current task.
static __always_inline void fj_fill_owner(struct fj_owner *o)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	struct task_struct *t = bpf_get_current_task_btf();

	o->tgid = pt >> 32;
	o->pid = (__u32)pt;
	o->uid = (__u32)ug;
	o->gid = ug >> 32;
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->start_ns = t->group_leader->start_boottime;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

// fj_own writes the current task as the owner of sk; refresh = 0 only
// fills an owner nobody wrote yet.
static __always_inline void fj_own(struct bpf_sock *sk, int refresh)
{
	if (!sk)
		return;
	struct fj_owner *o = bpf_sk_storage_get(&fj_owners, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (o->tgid == tgid || (o->tgid && !refresh))
		return;
	fj_fill_owner(o);
}

// cgroup hooks must return 1 (allow): attribution never changes what a
// socket may do.

SEC("cgroup/sock_create")
int fj_sock_create(struct bpf_sock *sk)
{
	fj_own(sk, 1);
	return 1;
}

SEC("cgroup/post_bind4")
int fj_post_bind4(struct bpf_sock *sk)
{
	fj_own(sk, 1);
	return 1;
}

SEC("cgroup/post_bind6")
int fj_post_bind6(struct bpf_sock *sk)
{
	fj_own(sk, 1);
	return 1;
}

SEC("cgroup/connect4")
int fj_connect4(struct bpf_sock_addr *ctx)
{
	fj_own(ctx->sk, 1);
	return 1;
}

SEC("cgroup/connect6")
int fj_connect6(struct bpf_sock_addr *ctx)
{
	fj_own(ctx->sk, 1);
	return 1;
}

SEC("cgroup/sendmsg4")
int fj_sendmsg4(struct bpf_sock_addr *ctx)
{
	fj_own(ctx->sk, 1);
	return 1;
}

SEC("cgroup/sendmsg6")
int fj_sendmsg6(struct bpf_sock_addr *ctx)
{
	fj_own(ctx->sk, 1);
	return 1;
}

static __always_inline void fj_proc_header(struct fj_proc_event *e, __u8 kind, struct task_struct *t)
{
	e->kind = kind;
	e->_pad[0] = e->_pad[1] = e->_pad[2] = 0;
	e->tgid = t->tgid;
	e->pid = t->pid;
	e->ppid = t->real_parent->tgid;
	e->uid = t->cred->uid.val;
	e->gid = t->cred->gid.val;
	e->start_ns = t->group_leader->start_boottime;
	e->cgroup_id = fj_task_cgroup(t);
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), t->comm);
}

// exec: the new program's filename (as exec was given it: relative, or a
// symlink; userspace resolves /proc/PID/exe) and argv, read from the new
// memory, which exec has just written, so it is present.
SEC("tp_btf/sched_process_exec")
int fj_exec(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx[2];
	struct fj_exec_event *e = bpf_ringbuf_reserve(&procs, sizeof(*e), 0);
	if (!e)
		return 0;
	fj_proc_header(&e->hdr, FJ_PROC_EXEC, t);

	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
	e->filename_len = n > 0 ? n - 1 : 0;

	e->args_len = 0;
	struct mm_struct *mm = t->mm;
	unsigned long start = mm->arg_start, end = mm->arg_end;
	if (end > start) {
		__u64 len = end - start;
		if (len > FJ_ARGS_MAX)
			len = FJ_ARGS_MAX;
		if (bpf_probe_read_user(e->args, len & (FJ_ARGS_MAX * 2 - 1), (void *)start) == 0)
			e->args_len = len;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

// fork: a new process (not a thread) inherits its parent's program until
// it execs; sshd and servers that fork per connection never exec.
SEC("tp_btf/sched_process_fork")
int fj_fork(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];
	if (child->pid != child->tgid)
		return 0;
	struct fj_proc_event *e = bpf_ringbuf_reserve(&procs, sizeof(*e), 0);
	if (!e)
		return 0;
	fj_proc_header(e, FJ_PROC_FORK, child);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

// exit: only when the whole thread group is gone.
SEC("tp_btf/sched_process_exit")
int fj_exit(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	if (!(__u8)ctx[1]) // group_dead
		return 0;
	struct fj_proc_event *e = bpf_ringbuf_reserve(&procs, sizeof(*e), 0);
	if (!e)
		return 0;
	fj_proc_header(e, FJ_PROC_EXIT, t);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
