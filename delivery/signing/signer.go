package signing

import (
	"bytes"
	"time"

	"github.com/consign/consign"
)

// Signer signs envelopes with a keyring's active key. It is safe for
// concurrent use, also while the keyring rotates: each envelope is signed
// by whichever key was active when Sign took it, and names that key.
type Signer struct {
	ring *Keyring
}

// NewSigner returns a Signer over ring.
func NewSigner(ring *Keyring) *Signer { return &Signer{ring: ring} }

// Sign returns an envelope for payload, signed with the active key, valid
// from issued for ttl. The caller chooses serial and must give every new
// payload for a kind and subject a higher serial than the last (re-signing
// the same payload with the same serial is a harmless re-delivery; a
// different payload with a reused serial is refused by verifiers that saw
// the first). The envelope holds its own copy of payload.
//
// Rules, all reported at once as *consign.ValidationError values
// (errors.Is(err, consign.ErrInvalid)):
//   - kind: 1–64 bytes of lowercase letters, digits, '.', '_' and '-';
//   - subject: 1–1024 bytes of valid UTF-8;
//   - serial: at least 1 (0 means "none seen" to a verifier);
//   - issued: not zero, and issued and issued+ttl within years 1–9999 (so
//     the envelope encodes as JSON);
//   - ttl: more than 0.
//
// A zero Keyring (one not made by GenerateKeyring or LoadKeyring) has no key
// to sign with: ErrFailedPrecondition.
func (s *Signer) Sign(kind, subject string, payload []byte, serial uint64, issued time.Time, ttl time.Duration) (Envelope, error) {
	var p consign.Problems
	if rule := kindRule(kind); rule != "" {
		p.AddValue("Kind", kind, rule)
	}
	if rule := subjectRule(subject); rule != "" {
		p.AddValue("Subject", subject, rule)
	}
	p.Check(serial >= 1, "Serial", "at least 1")
	issued = issued.Round(0)
	expires := issued.Add(ttl)
	switch {
	case issued.IsZero():
		p.Add("Issued", "required")
	case issued.Year() < 1 || issued.Year() > 9999:
		p.AddValue("Issued", issued, "within years 1 to 9999")
	}
	switch {
	case ttl <= 0:
		p.AddValue("TTL", ttl, "more than 0")
	case expires.Year() > 9999:
		p.AddValue("Expires", expires, "within years 1 to 9999 (issued+ttl)")
	}
	if err := p.Err(); err != nil {
		return Envelope{}, err
	}
	env := Envelope{
		Kind:    kind,
		Subject: subject,
		Serial:  serial,
		Issued:  issued,
		Expires: expires,
		Payload: bytes.Clone(payload),
	}
	keyID, sig, err := s.ring.sign(func(keyID string) []byte {
		env.KeyID = keyID
		return env.SignedBytes()
	})
	if err != nil {
		return Envelope{}, err
	}
	env.KeyID, env.Signature = keyID, sig
	return env, nil
}
