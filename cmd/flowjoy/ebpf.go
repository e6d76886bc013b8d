package main

import (
	"errors"
	"io"
)

// openEBPF opens the eBPF engine (filled in with the kernel data path).
func openEBPF(c *config) (liveEngine, error) {
	return nil, errors.New("not built into this binary")
}

func cleanupLeftovers(w io.Writer) error {
	return errors.New("--cleanup: the eBPF engine is not built into this binary")
}
