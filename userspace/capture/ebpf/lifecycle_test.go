package ebpf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/event"
)

// The test binary doubles as a capture process that tests can kill:
// with FJ_TEST_CHILD set it attaches in the named namespace, says
// "ready", and runs until SIGTERM or SIGINT, as flowjoy does.
func TestMain(m *testing.M) {
	switch os.Getenv("FJ_TEST_CHILD") {
	case "":
	case "unprivileged":
		_, err := Open(Config{Interfaces: []string{"lo"}})
		fmt.Printf("permission=%v %v\n", errors.Is(err, loader.ErrPermission), err)
		os.Exit(0)
	default:
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	runtime.LockOSThread()
	ns, err := netns.GetFromName(os.Getenv("FJ_NS"))
	if err == nil {
		err = netns.Set(ns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	cfg := Config{Interfaces: []string{os.Getenv("FJ_IF")}, XDP: os.Getenv("FJ_XDP") != ""}
	if os.Getenv("FJ_TC") == "clsact" {
		cfg.TC = loader.TCClsact
	}
	eng, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("ready")
	err = eng.Run(ctx, discard{})
	if cerr := eng.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type discard struct{}

func (discard) Packet(*event.Packet) {}
func (discard) Counts(*event.Counts) {}

// TestProcessEnd attaches from a child process and ends it: on SIGTERM
// it detaches everything itself; on SIGKILL tcx and XDP links die with
// it, and clsact filters stay until Cleanup removes them.
func TestProcessEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tc       string
		xdp      bool
		sig      syscall.Signal
		leftover bool // clsact filters outlive SIGKILL
	}{
		{"tcx/SIGTERM", "tcx", false, syscall.SIGTERM, false},
		{"tcx+xdp/SIGKILL", "tcx", true, syscall.SIGKILL, false},
		{"clsact/SIGTERM", "clsact", false, syscall.SIGTERM, false},
		{"clsact/SIGKILL", "clsact", false, syscall.SIGKILL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "FJ_TEST_CHILD=1", "FJ_NS="+tb.nsA, "FJ_IF="+tb.ifA, "FJ_TC="+tc.tc)
			if tc.xdp {
				cmd.Env = append(cmd.Env, "FJ_XDP=1")
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			ready := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				ready <- line
			}()
			select {
			case line := <-ready:
				if strings.TrimSpace(line) != "ready" {
					t.Fatalf("child said %q; stderr: %s", line, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("child not ready after 20 s; stderr: %s", stderr.String())
			}

			var attached []string
			tb.in(tb.hA, func() (err error) {
				attached, err = leftovers(tb.ifA)
				return err
			})
			if len(attached) != 2 {
				t.Fatalf("child attached %v, want ingress and egress", attached)
			}

			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			if tc.sig == syscall.SIGTERM && err != nil {
				t.Fatalf("child after SIGTERM: %v; stderr: %s", err, stderr.String())
			}

			if !tc.leftover {
				tb.assertNoLeftovers(tb.ifA)
				return
			}
			var left []string
			tb.in(tb.hA, func() (err error) {
				left, err = leftovers(tb.ifA)
				return err
			})
			if len(left) != 2 {
				t.Fatalf("after SIGKILL %v is attached, want the child's two clsact filters", left)
			}
			var removed []string
			tb.in(tb.hA, func() (err error) {
				removed, err = loader.Cleanup()
				return err
			})
			if len(removed) != 2 {
				t.Errorf("Cleanup removed %v, want the two filters", removed)
			}
			tb.assertNoLeftovers(tb.ifA)
		})
	}
}

// TestOpenUnprivileged runs Open as an ordinary user: the error must say
// why and point to the pcap engine.
func TestOpenUnprivileged(t *testing.T) {
	requireRoot(t) // to become someone else
	dir, err := os.MkdirTemp("", "fjtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ebpf.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "FJ_TEST_CHILD=unprivileged")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, "permission=true ") || !strings.Contains(got, "root") || !strings.Contains(got, "--engine pcap") {
		t.Errorf("Open as uid 65534 said %q; want ErrPermission, naming root and --engine pcap", got)
	}
}
