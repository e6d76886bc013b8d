package features

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkByteDistAdd counts random payloads of a typical packet size.
func BenchmarkByteDistAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	payload := make([]byte, 1400)
	for i := range payload {
		payload[i] = byte(rng.IntN(256))
	}
	b.SetBytes(int64(len(payload)))
	var d ByteDist
	for i := 0; i < b.N; i++ {
		if i%8 == 0 {
			d.Reset()
		}
		d.Add(payload, -1)
	}
}
