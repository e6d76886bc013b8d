// Package sink writes finished records: JSON lines to standard output or
// to a file, gzip-compressed when the file name ends in ".gz".
//
// Records are whole lines; a line is never split between writes of the
// underlying buffer that a reader could see half of, because the buffer is
// flushed only at line boundaries, and Close always flushes, so the output
// is valid JSON lines even when the process is stopped by a signal and
// shuts down cleanly.
package sink

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// Sink receives records.
type Sink interface {
	// Write takes one record: a JSON object followed by a newline.
	Write(line []byte) error
	// Flush makes written records visible to readers.
	Flush() error
	// Close flushes and releases the output.
	Close() error
}

// lineWriter is a Sink over a buffered writer with optional layers
// (gzip, file) to close in order.
type lineWriter struct {
	buf     *bufio.Writer
	closers []io.Closer // innermost last
	name    string
}

// Open returns a Sink writing to path; "" or "-" is standard output.
func Open(path string) (Sink, error) {
	if path == "" || path == "-" {
		return &lineWriter{buf: bufio.NewWriterSize(os.Stdout, 256<<10), name: "stdout"}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	w := &lineWriter{name: path, closers: []io.Closer{f}}
	var out io.Writer = f
	if strings.HasSuffix(path, ".gz") {
		zw := gzip.NewWriter(f)
		w.closers = append([]io.Closer{zw}, w.closers...)
		out = zw
	}
	w.buf = bufio.NewWriterSize(out, 256<<10)
	return w, nil
}

func (w *lineWriter) Write(line []byte) error {
	if w.buf.Available() < len(line) && w.buf.Buffered() > 0 {
		if err := w.buf.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", w.name, err)
		}
	}
	if _, err := w.buf.Write(line); err != nil {
		return fmt.Errorf("writing %s: %w", w.name, err)
	}
	return nil
}

func (w *lineWriter) Flush() error {
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", w.name, err)
	}
	return nil
}

func (w *lineWriter) Close() error {
	err := w.Flush()
	for _, c := range w.closers {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing %s: %w", w.name, cerr)
		}
	}
	return err
}
