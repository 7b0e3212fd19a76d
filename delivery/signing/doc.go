// Package signing signs what a site sends to devices — each device's policy
// and each package's content manifest — and verifies it on the device
// (issue 6, "Signed policy"). It uses ed25519 from the standard library and
// nothing else.
//
// The site holds a [Keyring] and signs through a [Signer]; the agent holds a
// [Verifier] with the site's public keys (its trust set) and remembers, for
// every kind and subject, the newest serial it has accepted.
//
//	site:  ring, _ := signing.GenerateKeyring(nil, now)
//	       env, _ := signing.NewSigner(ring).Sign("policy", deviceID, body, serial, now, 24*time.Hour)
//	agent: v, _ := signing.NewVerifier(ring.PublicKeys(), nil)
//	       body, err := v.Verify(env, "policy", deviceID)
//
// # Envelopes
//
// An [Envelope] is what travels: the payload (opaque bytes, usually JSON the
// caller made) with the key that signed it, what it is (Kind) and whom it is
// for (Subject), a Serial that grows with every new version of that kind and
// subject, when it was issued and when it expires, and the signature.
// Envelopes are JSON-encodable; the signature never covers the JSON form,
// so re-encoding (key order, spacing, time zone of the times) cannot break
// it.
//
// # Signed bytes
//
// The signature is ed25519 over [Envelope.SignedBytes], a canonical encoding
// of every field except Signature. Each piece is written in this order:
//
//	"consign-signed-v1"   domain, as a string (see below)
//	KeyID                 string
//	Kind                  string
//	Subject               string
//	Serial                uint64, 8 bytes big-endian
//	Issued                int64 Unix seconds (8 bytes, big-endian two's
//	                      complement) then uint32 nanoseconds (4 bytes)
//	Expires               as Issued
//	Payload               string
//
// where a string is its length as a uint64 (8 bytes big-endian) followed by
// its bytes. Every variable-length piece is length-prefixed and every other
// piece has a fixed width, so two different envelopes never share signed
// bytes, and the domain prefix keeps a signature made here from being valid
// for any other protocol (or a later version of this one). Times are
// encoded as instants: the same instant in another time zone, or with or
// without a monotonic clock reading, signs the same.
//
// # Keys and rotation
//
// A key's ID is the first 16 hex digits of the SHA-256 of its public key
// ([KeyID]). [Keyring.Rotate] makes a new active key; the previous ones stay
// in the keyring as verify-only keys (their private halves are discarded)
// and are listed by [Keyring.PublicKeys] until [Keyring.Retire] removes
// them, or until the NotAfter set by [Keyring.SetNotAfter] passes. To rotate
// without refusals, a site announces the new trust set (PublicKeys after
// Rotate) to its agents, which install it with [Verifier.SetKeys]; envelopes
// signed with the old key keep verifying until it is retired. A keyring is
// persisted with [Keyring.Save] and [LoadKeyring].
//
// # Verification
//
// [Verifier.Verify] checks, in this order, and stops at the first failure:
// the key is trusted ([ErrUnknownKey]), the signature is valid
// ([ErrBadSignature]), the kind and subject are the ones expected
// ([ErrWrongSubject]), the envelope has not expired — a device with stale
// policy is frozen rather than fed an old one ([ErrExpired]) — and is not
// from the future beyond a small clock-skew allowance ([ErrNotYetValid]),
// and it is not a rollback ([ErrRollback]): its serial is not lower than the
// newest accepted for that kind and subject. An envelope with the newest
// serial is accepted again only if its signed bytes are the same (a
// re-delivery). Only an envelope that passes every check raises the mark.
// [Verifier.State] and [Verifier.Restore] let an agent persist the marks.
//
// # Errors
//
// Refusals are *[VerifyError] values; errors.Is matches the sentinel naming
// the reason (ErrUnknownKey, …) and a consign code: ErrPermissionDenied for
// an untrusted key, a bad signature or the wrong subject,
// ErrFailedPrecondition for an expired or not-yet-valid envelope, and
// ErrConflict for a rollback. Bad arguments (an empty kind, a ttl that is not
// positive, a malformed key file, …) are *consign.ValidationError values
// matching consign.ErrInvalid, naming the field and the rule.
//
// # Concurrency
//
// Keyring, Signer and Verifier are safe for concurrent use.
package signing
