// Command udpblast makes load for scripts/bench-live.sh: small UDP
// datagrams as fast as one sender can, a sink that counts them, and a
// new-flow flood of unique tuples written as raw frames. Each mode prints
// one JSON object with what it did.
//
//	udpblast blast -to 10.78.0.2:9000 -size 18 -duration 5s
//	udpblast sink -listen 10.78.0.2:9000 -idle 1s
//	udpblast flood -dev veth0 -dst-mac 02:.. -dst 10.78.0.2 -rate 100000 -duration 10s
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: udpblast blast|sink|flood [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "blast":
		err = blast(os.Args[2:])
	case "sink":
		err = sink(os.Args[2:])
	case "flood":
		err = flood(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpblast:", err)
		os.Exit(1)
	}
}

func report(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

// blast sends datagrams of -size payload bytes from one socket (one flow)
// until -duration is over: as fast as it can, or at -rate per second.
func blast(args []string) error {
	fs := flag.NewFlagSet("blast", flag.ExitOnError)
	to := fs.String("to", "", "destination ADDR:PORT")
	size := fs.Int("size", 18, "payload bytes (18: a 64-byte Ethernet frame)")
	d := fs.Duration("duration", 5*time.Second, "how long to send")
	rate := fs.Int("rate", 0, "datagrams per second (0: as fast as it can)")
	fs.Parse(args)
	c, err := net.Dial("udp", *to)
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	msg := make([]byte, *size)
	var sent, failed uint64
	start := time.Now()
	end := start.Add(*d)
	for time.Now().Before(end) {
		raw.Write(func(fd uintptr) bool {
			// Plain write(2) without the poller: the socket never blocks
			// for long and a full queue (ENOBUFS) is only counted.
			for range 256 {
				if _, err := unix.Write(int(fd), msg); err != nil {
					failed++
				} else {
					sent++
				}
			}
			return true
		})
		// Pace: datagram n should leave at start + n/rate.
		if *rate > 0 {
			if ahead := time.Until(start.Add(time.Duration(float64(sent+failed) / float64(*rate) * float64(time.Second)))); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	_, lp, _ := net.SplitHostPort(c.LocalAddr().String())
	report(map[string]any{"sent": sent, "failed": failed, "seconds": time.Since(start).Seconds(), "src_port": lp,
		"cpu_seconds": cpuSeconds()})
	return nil
}

// sink counts datagrams until none came for -idle after the first one.
func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	listen := fs.String("listen", "", "ADDR:PORT")
	idle := fs.Duration("idle", time.Second, "stop after this long without a datagram")
	wait := fs.Duration("wait", 30*time.Second, "give up if nothing comes for this long")
	fs.Parse(args)
	c, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.UDPConn).SetReadBuffer(8 << 20)
	fmt.Fprintln(os.Stderr, "udpblast: sink ready")
	buf := make([]byte, 65536)
	var n uint64
	var first, last time.Time
	c.SetReadDeadline(time.Now().Add(*wait))
	for {
		_, _, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return err
		}
		last = time.Now()
		if n == 0 {
			first = last
		}
		n++
		if n%1024 == 0 || n == 1 {
			c.SetReadDeadline(last.Add(*idle))
		}
	}
	report(map[string]any{"received": n, "seconds": last.Sub(first).Seconds()})
	return nil
}

// flood writes one UDP frame per new flow (source address from
// 10.200.0.0/16 and source port vary; every tuple unique) through a
// packet socket on -dev, at -rate frames per second. The frames go
// through the interface's egress hooks like any sent packet.
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	dev := fs.String("dev", "", "interface to write frames to")
	dstMAC := fs.String("dst-mac", "", "destination MAC (the peer's)")
	dst := fs.String("dst", "", "destination IPv4 address")
	rate := fs.Int("rate", 100000, "new flows per second")
	d := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(*dstMAC)
	if err != nil {
		return err
	}
	dip := net.ParseIP(*dst).To4()
	if dip == nil {
		return fmt.Errorf("-dst %q: not an IPv4 address", *dst)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // send only
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(unix.ETH_P_IP), Halen: 6}
	copy(sa.Addr[:], mac)

	frame := make([]byte, 14+20+8+8)
	copy(frame[0:], mac)
	copy(frame[6:], ifi.HardwareAddr)
	binary.BigEndian.PutUint16(frame[12:], unix.ETH_P_IP)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 20+8+8)
	copy(ip[16:], dip)
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[2:], 9999)
	binary.BigEndian.PutUint16(udp[4:], 8+8)

	var sent, failed uint64
	start := time.Now()
	const batch = 500
	for i := uint64(0); time.Since(start) < *d; {
		for range batch {
			// 65536 addresses × 60000 ports before a tuple repeats.
			src := uint32(10)<<24 | 200<<16 | uint32(i&0xffff)
			binary.BigEndian.PutUint32(ip[12:], src)
			binary.BigEndian.PutUint16(ip[4:], uint16(i))
			binary.BigEndian.PutUint16(ip[10:], 0)
			binary.BigEndian.PutUint16(ip[10:], checksum(ip[:20]))
			binary.BigEndian.PutUint16(udp[0:], uint16(1024+(i>>16)))
			binary.BigEndian.PutUint64(udp[8:], i)
			if err := unix.Sendto(fd, frame, 0, sa); err != nil {
				failed++
			} else {
				sent++
			}
			i++
		}
		// Pace: batch i should leave at start + i/rate.
		if ahead := time.Until(start.Add(time.Duration(float64(i) / float64(*rate) * float64(time.Second)))); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	if sent+failed > 65536*60000 {
		return fmt.Errorf("%d flows sent: tuples repeat; lower -rate or -duration", sent)
	}
	report(map[string]any{"flows": sent, "failed": failed, "seconds": time.Since(start).Seconds()})
	return nil
}

// cpuSeconds is this process's user and system CPU time: the sender's,
// which includes what the kernel does for each packet it sends (egress
// hooks, packet taps, and on a veth the peer's receive path).
func cpuSeconds() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
