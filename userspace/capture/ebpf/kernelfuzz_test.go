package ebpf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/event"
)

// kernelHarness runs the TC ingress program on packets given as bytes
// (BPF_PROG_TEST_RUN), with no header samples and no payload budget, so
// that each keyed packet lands in the flow map and each packet the kernel
// does not key comes up whole.
type kernelHarness struct {
	objs   objects
	reader *ringbuf.Reader
	mu     sync.Mutex
}

var harness struct {
	once sync.Once
	h    *kernelHarness
	err  error
}

func loadHarness() (*kernelHarness, error) {
	harness.once.Do(func() {
		e := &Engine{cfg: Config{Interfaces: []string{"lo"}, NumPkts: -1, DistBytes: -1, MaxFlows: 64, RingBytes: 1 << 20}}
		if harness.err = e.cfg.setDefaults(); harness.err != nil {
			return
		}
		if harness.err = e.load(); harness.err != nil {
			return
		}
		h := &kernelHarness{objs: e.objs}
		if h.reader, harness.err = ringbuf.NewReader(e.objs.Samples); harness.err != nil {
			return
		}
		harness.h = h
	})
	return harness.h, harness.err
}

// kernelOutcome is what the program did with one packet.
type kernelOutcome struct {
	entries []bpf.FlowjoyFjKey
	values  []bpf.FlowjoyFjFlow
	whole   int // unkeyed samples
}

func (h *kernelHarness) run(data []byte) (kernelOutcome, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var o kernelOutcome
	ret, err := h.objs.Ingress.Run(&cebpf.RunOptions{Data: data})
	if err != nil {
		return o, err
	}
	if int32(ret) != -1 {
		return o, fmt.Errorf("program returned %d, want TC_ACT_UNSPEC", int32(ret))
	}
	var k bpf.FlowjoyFjKey
	var v bpf.FlowjoyFjFlow
	it := h.objs.Flows.Iterate()
	for it.Next(&k, &v) {
		o.entries = append(o.entries, k)
		o.values = append(o.values, v)
	}
	if err := it.Err(); err != nil {
		return o, err
	}
	for i := range o.entries {
		if err := h.objs.Flows.Delete(&o.entries[i]); err != nil {
			return o, err
		}
	}
	var rec ringbuf.Record
	h.reader.SetDeadline(time.Now())
	for {
		err := h.reader.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return o, err
		}
		if len(rec.RawSample) > 29 && rec.RawSample[29]&sampleUnkeyed != 0 {
			o.whole++
		} else {
			return o, fmt.Errorf("a keyed sample with no header samples configured")
		}
	}
	return o, nil
}

// FuzzKernelAgreesWithDecoder runs the kernel's parser and userspace's
// decoder on the same bytes: whatever the kernel keys and counts, the
// decoder must key the same way and measure the same payload; whatever
// the kernel ignores as not IP, the decoder must refuse too. (What the
// kernel sends up whole, userspace decides alone.) Needs root.
func FuzzKernelAgreesWithDecoder(f *testing.F) {
	f.Add(ethernet(macOf(1), macOf(2), ipv4(mustAddr("10.0.0.1"), mustAddr("10.0.0.2"), 17, nil, []byte{0, 53, 4, 0, 0, 12, 0, 0, 1, 2, 3, 4}, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		requireRoot(t)
		h, err := loadHarness()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 14 || len(data) > 3000 {
			return // BPF_PROG_TEST_RUN needs an Ethernet header and a page at most
		}
		o, err := h.run(data)
		if errors.Is(err, unix.EINVAL) {
			return // BPF_PROG_TEST_RUN wants a whole IP header behind an IP EtherType
		}
		if err != nil {
			t.Fatal(err)
		}
		var out decode.Packet
		derr := (&decode.Decoder{}).Decode(event.LinkEthernet, data, &out)
		switch {
		case len(o.entries) > 1:
			t.Fatalf("one packet made %d flow entries", len(o.entries))
		case len(o.entries) == 1:
			if derr != nil {
				t.Fatalf("the kernel counted a packet (key %+v) that the decoder refuses: %v", o.entries[0], derr)
			}
			out.Key.IfIndex = o.entries[0].Ifindex
			if kk := kernelKey(out.Key); kk != o.entries[0] {
				t.Fatalf("kernel key %+v, decoder key %+v", o.entries[0], out.Key)
			}
			_, side := out.Key.Canonical()
			d := o.values[0].Dir[side]
			if d.Packets != 1 || d.Bytes != uint64(out.PayloadLen) || d.TcpFlags != uint32(out.TCPFlags) {
				t.Fatalf("kernel counted %d packets, %d payload bytes, flags %#x; decoder: payload %d, flags %#x",
					d.Packets, d.Bytes, d.TcpFlags, out.PayloadLen, out.TCPFlags)
			}
		case o.whole == 0 && derr == nil:
			t.Fatalf("the kernel ignored a packet the decoder keys as %+v", out.Key)
		}
	})
}

// TestWriteKernelFuzzSeeds (re)writes the seed corpus of
// FuzzKernelAgreesWithDecoder from the shared captures (see
// testdata/README), when FJ_WRITE_SEEDS=1.
func TestWriteKernelFuzzSeeds(t *testing.T) {
	if os.Getenv("FJ_WRITE_SEEDS") != "1" {
		t.Skip("set FJ_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzKernelAgreesWithDecoder")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzKernelAgreesWithDecoder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range kernelSeedCaptures {
		fh, err := os.Open(filepath.Join("/work/shared/pcaps/tcpdump", name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.LinkType() != layers.LinkTypeEthernet {
			t.Fatalf("%s: link type %v", name, r.LinkType())
		}
		for i := 0; i < 8; i++ {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(data) < 14 || len(data) > 3000 {
				continue
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
			file := filepath.Join(dir, fmt.Sprintf("%s-%d", name[:len(name)-len(filepath.Ext(name))], i))
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fh.Close()
	}
}

// kernelSeedCaptures are tcpdump test captures (BSD-3-Clause) with the
// encapsulations and headers the kernel parser must treat like the
// decoder.
var kernelSeedCaptures = []string{
	"various_gre.pcap", "geneve.pcap", "vxlan.pcap", "ipv6-routing-header.pcap",
	"dccp_options-oobr.pcap", "icmpv6.pcap", "ipv6-too-long-jumbo.pcap",
	"802.1ad_QinQ.pcap", "pppoes.pcap", "ip6_frag_asan.pcap",
}

func macOf(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, b} }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
