package signing

import (
	"testing"
	"time"
)

// Run with -benchtime=1x or a few seconds; both are short.

func BenchmarkSign(b *testing.B) {
	s := NewSigner(newRing(b, 1))
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := s.Sign(KindPolicy, "DEV00042", payload, 1, t0, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ring := newRing(b, 1)
	payload := make([]byte, 1024)
	env := mustSign(b, NewSigner(ring), KindPolicy, "DEV00042", payload, 1)
	v, _ := newVerifier(b, ring.PublicKeys())
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := v.Verify(env, KindPolicy, "DEV00042"); err != nil { // a re-delivery each time
			b.Fatal(err)
		}
	}
}
