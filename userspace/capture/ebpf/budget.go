package ebpf

import (
	"fmt"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// SetPayloadBudget sets how many more payload bytes the kernel may copy
// of each direction of a flow (either direction's key): what its parsers
// and byte_dist still want; 0 when they are done, which stops both
// directions. After that the flow costs the kernel one map update per
// packet. It may be called from any goroutine.
//
// The budget goes into a side map that the kernel applies to the flow's
// entry at its next packet: userspace never writes the entry itself,
// which would race with the kernel's counting. A few more bytes may
// arrive that were copied before the kernel saw the new budget.
func (e *Engine) SetPayloadBudget(key flowkey.Key, bytes uint32) error {
	k := kernelKey(key)
	e.budgetMu.Lock()
	defer e.budgetMu.Unlock()
	if err := e.objs.BudgetOverrides.Put(&k, int64(bytes)); err != nil {
		return fmt.Errorf("setting the payload budget of %s:%d > %s:%d: %w",
			key.SrcAddr(), key.SrcPort, key.DstAddr(), key.DstPort, err)
	}
	// The generation tells every flow to look for an override once.
	e.gen++
	if err := e.objs.BudgetGen.Set(e.gen); err != nil {
		return fmt.Errorf("publishing payload budgets: %w", err)
	}
	return nil
}
