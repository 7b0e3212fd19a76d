package signing

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genSigned draws a valid envelope signed by ring's active key.
func genSigned(ring *Keyring) *rapid.Generator[Envelope] {
	s := NewSigner(ring)
	return rapid.Custom(func(t *rapid.T) Envelope {
		env, err := s.Sign(
			rapid.StringMatching(`[a-z][a-z0-9._-]{0,10}`).Draw(t, "kind"),
			rapid.StringN(1, 20, -1).Draw(t, "subject"),
			rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "payload"),
			rapid.Uint64Range(1, 1<<62).Draw(t, "serial"),
			t0.Add(time.Duration(rapid.Int64Range(-1<<50, 1<<50).Draw(t, "issued"))),
			time.Duration(rapid.Int64Range(1, 1<<50).Draw(t, "ttl")),
		)
		if err != nil {
			t.Fatal(err)
		}
		return env
	})
}

// mutate changes exactly one signed field or one byte of the payload or
// signature; keyID is another key the verifier trusts.
func mutate(t *rapid.T, env Envelope, otherKeyID string) (Envelope, string) {
	e := env
	e.Payload = bytes.Clone(env.Payload)
	e.Signature = bytes.Clone(env.Signature)
	nonzero := func(label string) int64 {
		d := rapid.Int64Range(1, 1<<40).Draw(t, label)
		if rapid.Bool().Draw(t, label+".neg") {
			d = -d
		}
		return d
	}
	otherString := func(s string) string {
		r := rapid.StringN(0, 20, -1).Filter(func(x string) bool { return x != s }).Draw(t, "string")
		return r
	}
	switch field := rapid.SampledFrom([]string{
		"KeyID", "Kind", "Subject", "Serial", "Issued", "Expires", "PayloadByte", "PayloadLength", "Signature",
	}).Draw(t, "field"); field {
	case "KeyID":
		e.KeyID = otherKeyID
		return e, field
	case "Kind":
		e.Kind = otherString(e.Kind)
		return e, field
	case "Subject":
		e.Subject = otherString(e.Subject)
		return e, field
	case "Serial":
		e.Serial ^= rapid.Uint64Range(1, 1<<63).Draw(t, "xor")
		return e, field
	case "Issued":
		e.Issued = e.Issued.Add(time.Duration(nonzero("d")))
		return e, field
	case "Expires":
		e.Expires = e.Expires.Add(time.Duration(nonzero("d")))
		return e, field
	case "PayloadByte":
		if len(e.Payload) == 0 {
			e.Payload = []byte{rapid.Byte().Draw(t, "b")}
			return e, "PayloadLength"
		}
		i := rapid.IntRange(0, len(e.Payload)-1).Draw(t, "i")
		e.Payload[i] ^= rapid.ByteRange(1, 255).Draw(t, "xor")
		return e, field
	case "PayloadLength":
		if len(e.Payload) > 0 && rapid.Bool().Draw(t, "truncate") {
			e.Payload = e.Payload[:rapid.IntRange(0, len(e.Payload)-1).Draw(t, "n")]
		} else {
			e.Payload = append(e.Payload, rapid.Byte().Draw(t, "b"))
		}
		return e, field
	default: // Signature
		i := rapid.IntRange(0, len(e.Signature)-1).Draw(t, "i")
		e.Signature[i] ^= rapid.ByteRange(1, 255).Draw(t, "xor")
		return e, field
	}
}

// Tampering with any single field or byte is a bad signature, whatever
// else is wrong with the result; the untouched envelope verifies.
func TestTamperIsBadSignature(t *testing.T) {
	ring := newRing(t, 1)
	oldID := ring.Active().ID
	if _, err := ring.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	keys := ring.PublicKeys()
	rapid.Check(t, func(t *rapid.T) {
		env := genSigned(ring).Draw(t, "env")
		clock := func() time.Time { return env.Issued }
		v, err := NewVerifier(keys, &VerifierOptions{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		bad, field := mutate(t, env, oldID)
		if _, err := v.Verify(bad, env.Kind, env.Subject); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("changed %s: err = %v, want ErrBadSignature", field, err)
		}
		if _, err := v.Verify(env, env.Kind, env.Subject); err != nil {
			t.Fatalf("untouched envelope: %v", err)
		}
	})
}

// Random deliveries against a model of the rollback rule: accepted iff the
// serial is above the newest accepted, or equal to it with the same signed
// bytes (unknown after a restart from State, when the first such envelope
// is accepted and pins the content).
func TestRollbackModel(t *testing.T) {
	ring := newRing(t, 1)
	s := NewSigner(ring)
	rapid.Check(t, func(t *rapid.T) {
		v, err := NewVerifier(ring.PublicKeys(), &VerifierOptions{Clock: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		type newest struct {
			serial  uint64
			payload string
			known   bool
		}
		model := map[string]newest{}
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for range steps {
			if rapid.IntRange(0, 9).Draw(t, "op") == 0 { // restart from persisted state
				state := v.State()
				if v, err = NewVerifier(ring.PublicKeys(), &VerifierOptions{Clock: func() time.Time { return t0 }}); err != nil {
					t.Fatal(err)
				}
				if err := v.Restore(state); err != nil {
					t.Fatal(err)
				}
				for k, n := range model {
					model[k] = newest{serial: n.serial}
				}
				continue
			}
			subject := rapid.SampledFrom([]string{"A", "B"}).Draw(t, "subject")
			serial := rapid.Uint64Range(1, 5).Draw(t, "serial")
			payload := rapid.SampledFrom([]string{"x", "y"}).Draw(t, "payload")
			env, err := s.Sign(KindPolicy, subject, []byte(payload), serial, t0, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			n := model[subject]
			want := serial > n.serial || serial == n.serial && (!n.known || n.payload == payload)
			_, err = v.Verify(env, KindPolicy, subject)
			if (err == nil) != want {
				t.Fatalf("%s serial %d %q after %+v: err = %v, want accepted %v", subject, serial, payload, n, err, want)
			}
			if err != nil && !errors.Is(err, ErrRollback) {
				t.Fatalf("refusal is not a rollback: %v", err)
			}
			if want {
				model[subject] = newest{serial: serial, payload: payload, known: true}
			}
		}
	})
}
