package signing

import (
	"math/rand/v2"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seeded returns a deterministic random source.
func seeded(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

// newRing returns a deterministic keyring created at t0.
func newRing(t testing.TB, seed byte) *Keyring {
	t.Helper()
	r, err := GenerateKeyring(seeded(seed), t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixedClock is a settable clock.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

// newVerifier returns a verifier trusting keys, with its clock at t0 and the
// default skew.
func newVerifier(t testing.TB, keys []PublicKey) (*Verifier, *fixedClock) {
	t.Helper()
	c := &fixedClock{now: t0}
	v, err := NewVerifier(keys, &VerifierOptions{Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v, c
}

// mustSign signs or fails the test.
func mustSign(t testing.TB, s *Signer, kind, subject string, payload []byte, serial uint64) Envelope {
	t.Helper()
	env, err := s.Sign(kind, subject, payload, serial, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
