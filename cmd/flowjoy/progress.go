package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/userspace/capture/pcapfile"
)

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressBar redraws one line on stderr with how much of the input files
// was read. It reads only atomic counters of the files, so the reading
// loop pays nothing for it.
type progressBar struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, files []*pcapfile.File) *progressBar {
	var total int64
	for _, f := range files {
		total += f.Size
	}
	b := &progressBar{done: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		start := time.Now()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-b.done:
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", 72))
				return
			case <-tick.C:
			}
			var read int64
			for _, f := range files {
				read += f.BytesRead()
			}
			rate := float64(read) / time.Since(start).Seconds() / 1e6
			if total <= 0 {
				fmt.Fprintf(w, "\r%8.1f MB read, %6.1f MB/s", float64(read)/1e6, rate)
				continue
			}
			frac := min(float64(read)/float64(total), 1)
			const width = 40
			filled := int(frac * width)
			fmt.Fprintf(w, "\r[%s%s] %3.0f%% %6.1f MB/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, rate)
		}
	}()
	return b
}

// stop ends the display and clears its line; safe on a nil bar.
func (b *progressBar) stop() {
	if b == nil {
		return
	}
	close(b.done)
	b.wg.Wait()
}
