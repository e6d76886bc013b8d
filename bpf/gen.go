// Package bpf holds flowjoy's kernel programs (flowjoy.c) and the Go
// bindings bpf2go generates for them. The compiled object is committed, so
// building flowjoy needs no clang; `make generate` rebuilds it, and the
// result is byte-identical on any machine with the same clang.
package bpf

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target bpfel -go-package bpf -cflags "-O2 -g -Wall -Werror -mcpu=v3" -type fj_key -type fj_dir -type fj_dir_rare -type fj_flow -type fj_sample -type fj_stats Flowjoy flowjoy.c -- -I./headers

// Process attribution (procmap.c) is its own object: its program kinds are
// optional, and a generated loader loads every program of an object.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target bpfel -go-package bpf -cflags "-O2 -g -Wall -Werror -mcpu=v3" -type fj_owner -type fj_proc_event -type fj_exec_event Procmap procmap.c -- -I./headers
