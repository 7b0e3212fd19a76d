package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign"
)

// The reasons Verifier.Verify refuses an envelope. The error it returns is
// a *VerifyError; errors.Is matches one of these (and a consign code, see
// VerifyError.Is).
var (
	// ErrUnknownKey: the envelope names a key that is not in the trust set,
	// or one whose NotAfter has passed.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadSignature: the signature does not match the envelope — some
	// field or payload byte was changed, or it was never signed by that key.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongSubject: a valid envelope, but of another kind or for another
	// subject than the one asked for (another device's policy, say).
	ErrWrongSubject = errors.New("wrong kind or subject")
	// ErrExpired: the clock is past the envelope's Expires. An agent keeps
	// acting on nothing newer rather than on stale instructions (freeze).
	ErrExpired = errors.New("expired")
	// ErrNotYetValid: the envelope's Issued is later than the clock plus the
	// allowed skew.
	ErrNotYetValid = errors.New("not yet valid")
	// ErrRollback: the envelope's serial is lower than the newest accepted
	// for its kind and subject, or equal to it with different content.
	ErrRollback = errors.New("rollback")
)

// VerifyError is why Verify refused an envelope, with the details that
// matter for the reason.
type VerifyError struct {
	// Reason is one of ErrUnknownKey, ErrBadSignature, ErrWrongSubject,
	// ErrExpired, ErrNotYetValid and ErrRollback.
	Reason error
	// KeyID, Kind, Subject and Serial are the envelope's (as received,
	// so not to be trusted when Reason is ErrUnknownKey or ErrBadSignature).
	KeyID   string
	Kind    string
	Subject string
	Serial  uint64
	// WantKind and WantSubject are what the caller asked for.
	WantKind    string
	WantSubject string
	// Now is the verifier's clock at the check.
	Now time.Time
	// Issued and Expires are the envelope's validity window.
	Issued  time.Time
	Expires time.Time
	// Newest is, for ErrRollback, the newest serial accepted for the kind
	// and subject.
	Newest uint64
	// Detail says more, e.g. "key retired at …" or "same serial, different
	// content".
	Detail string
}

// Error names the envelope, the reason and the detail.
func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s %q serial %d (key %s): %v", e.Kind, e.Subject, e.Serial, e.KeyID, e.Reason)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns Reason.
func (e *VerifyError) Unwrap() error { return e.Reason }

// Is matches Reason and the consign code it maps to:
// consign.ErrPermissionDenied for ErrUnknownKey, ErrBadSignature and
// ErrWrongSubject (the content is not trusted for this use),
// consign.ErrFailedPrecondition for ErrExpired and ErrNotYetValid (valid
// content at another time), consign.ErrConflict for ErrRollback (an older
// version than one already accepted).
func (e *VerifyError) Is(target error) bool {
	if target == e.Reason {
		return true
	}
	switch e.Reason {
	case ErrUnknownKey, ErrBadSignature, ErrWrongSubject:
		return target == consign.ErrPermissionDenied
	case ErrExpired, ErrNotYetValid:
		return target == consign.ErrFailedPrecondition
	case ErrRollback:
		return target == consign.ErrConflict
	}
	return false
}

// DefaultSkew is the clock skew Verify allows by default: an envelope
// issued up to this long after the verifier's clock is accepted.
const DefaultSkew = 5 * time.Minute

// VerifierOptions configures a Verifier. A nil *VerifierOptions means all
// defaults.
type VerifierOptions struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Skew is how far in the future Issued may be; zero means DefaultSkew
	// and a negative value allows none. It does not extend Expires.
	Skew time.Duration
}

// Verifier checks envelopes on the device side against a trust set of
// public keys, its clock, and the newest serial it has accepted for each
// kind and subject. It is safe for concurrent use. Make one with
// NewVerifier.
type Verifier struct {
	clock func() time.Time
	skew  time.Duration
	trust atomic.Pointer[trustSet]

	mu    sync.Mutex
	marks map[string]mark // by StateKey
}

type trustSet struct {
	list []PublicKey
	byID map[string]PublicKey
}

// mark is the newest envelope accepted for one kind and subject.
type mark struct {
	serial uint64
	digest [sha256.Size]byte // of its signed bytes
	known  bool              // false after Restore: digest unknown
}

// NewVerifier returns a Verifier trusting keys (see SetKeys) with no
// serials seen yet.
func NewVerifier(keys []PublicKey, opts *VerifierOptions) (*Verifier, error) {
	v := &Verifier{clock: time.Now, skew: DefaultSkew, marks: make(map[string]mark)}
	if opts != nil {
		if opts.Clock != nil {
			v.clock = opts.Clock
		}
		switch {
		case opts.Skew < 0:
			v.skew = 0
		case opts.Skew > 0:
			v.skew = opts.Skew
		}
	}
	if err := v.SetKeys(keys); err != nil {
		return nil, err
	}
	return v, nil
}

// SetKeys replaces the trust set, e.g. with the one a site announced after
// rotating its keys. Each key must pass PublicKey.Validate and IDs must be
// unique; otherwise the set is left as it was and every problem is
// reported (consign.ErrInvalid). An empty set is allowed and refuses
// everything. Envelopes being verified concurrently use either the old
// set or the new one.
func (v *Verifier) SetKeys(keys []PublicKey) error {
	var p consign.Problems
	ts := &trustSet{list: make([]PublicKey, 0, len(keys)), byID: make(map[string]PublicKey, len(keys))}
	for i, k := range keys {
		field := fmt.Sprintf("Keys[%d]", i)
		before := p.Len()
		k.check(&p, field)
		if _, dup := ts.byID[k.ID]; dup && p.Len() == before {
			p.AddValue(field+".ID", k.ID, "unique")
		}
		k.Key = bytes.Clone(k.Key)
		ts.list = append(ts.list, k)
		ts.byID[k.ID] = k
	}
	if err := p.Err(); err != nil {
		return err
	}
	v.trust.Store(ts)
	return nil
}

// Keys returns the trust set, in the order SetKeys was given it.
func (v *Verifier) Keys() []PublicKey {
	ts := v.trust.Load()
	out := make([]PublicKey, len(ts.list))
	for i, k := range ts.list {
		k.Key = bytes.Clone(k.Key)
		out[i] = k
	}
	return out
}

// Verify checks env and returns its payload (env.Payload itself, not a
// copy) when every check passes; only then does it record env.Serial as the
// newest accepted for its kind and subject. The checks, in order, each
// refusing with a *VerifyError for the reason named (see the package
// documentation): the key (ErrUnknownKey), the signature
// (ErrBadSignature), env.Kind == wantKind and env.Subject == wantSubject
// (ErrWrongSubject), the clock not after env.Expires (ErrExpired), the
// clock plus the skew not before env.Issued (ErrNotYetValid), and the
// serial (ErrRollback). wantKind and wantSubject must follow the rules of
// Signer.Sign (consign.ErrInvalid otherwise).
func (v *Verifier) Verify(env Envelope, wantKind, wantSubject string) ([]byte, error) {
	var p consign.Problems
	if rule := kindRule(wantKind); rule != "" {
		p.AddValue("wantKind", wantKind, rule)
	}
	if rule := subjectRule(wantSubject); rule != "" {
		p.AddValue("wantSubject", wantSubject, rule)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	now := v.clock()
	refuse := func(reason error, detail string) *VerifyError {
		return &VerifyError{
			Reason: reason, KeyID: env.KeyID, Kind: env.Kind, Subject: env.Subject, Serial: env.Serial,
			WantKind: wantKind, WantSubject: wantSubject, Now: now, Issued: env.Issued, Expires: env.Expires,
			Detail: detail,
		}
	}

	key, ok := v.trust.Load().byID[env.KeyID]
	if !ok {
		return nil, refuse(ErrUnknownKey, "not in the trust set")
	}
	if !key.NotAfter.IsZero() && now.After(key.NotAfter) {
		return nil, refuse(ErrUnknownKey, "key retired at "+key.NotAfter.UTC().Format(time.RFC3339))
	}
	msg := env.SignedBytes()
	if len(env.Signature) != ed25519.SignatureSize {
		return nil, refuse(ErrBadSignature, fmt.Sprintf("signature is %d bytes, not %d", len(env.Signature), ed25519.SignatureSize))
	}
	if !ed25519.Verify(key.Key, msg, env.Signature) {
		return nil, refuse(ErrBadSignature, "")
	}
	if env.Kind != wantKind || env.Subject != wantSubject {
		return nil, refuse(ErrWrongSubject, fmt.Sprintf("want %s %q", wantKind, wantSubject))
	}
	if now.After(env.Expires) {
		return nil, refuse(ErrExpired, "expired at "+env.Expires.UTC().Format(time.RFC3339Nano))
	}
	if now.Add(v.skew).Before(env.Issued) {
		return nil, refuse(ErrNotYetValid, fmt.Sprintf("issued at %s, more than %s ahead of the clock",
			env.Issued.UTC().Format(time.RFC3339Nano), v.skew))
	}

	digest := sha256.Sum256(msg)
	sk := StateKey(env.Kind, env.Subject)
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.marks[sk]
	switch {
	case env.Serial < m.serial:
		e := refuse(ErrRollback, fmt.Sprintf("older than serial %d", m.serial))
		e.Newest = m.serial
		return nil, e
	case env.Serial == m.serial && m.known && digest != m.digest:
		e := refuse(ErrRollback, "same serial as the newest accepted, different content")
		e.Newest = m.serial
		return nil, e
	}
	v.marks[sk] = mark{serial: env.Serial, digest: digest, known: true}
	return env.Payload, nil
}

// StateKey is the key State and Restore use for a kind and subject:
// kind + "/" + subject. It is unambiguous because a kind has no '/'.
func StateKey(kind, subject string) string { return kind + "/" + subject }

// State returns the newest serial accepted for each kind and subject, keyed
// by StateKey, for an agent to persist and give back to Restore after a
// restart.
func (v *Verifier) State() map[string]uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]uint64, len(v.marks))
	for k, m := range v.marks {
		out[k] = m.serial
	}
	return out
}

// Restore raises the newest accepted serials to those in state (as State
// returned them); it never lowers one, so restoring old state cannot
// re-open a rollback. Every key must be a StateKey of a valid kind and
// subject; otherwise nothing changes and every problem is reported
// (consign.ErrInvalid).
//
// State keeps serials, not content, so for a restored serial Verify cannot
// tell a re-delivery from different content with the same serial: it
// accepts the first envelope with that serial and from then on only the
// same signed bytes. A site that never reuses a serial for different
// content (Signer.Sign's contract) loses nothing by this.
func (v *Verifier) Restore(state map[string]uint64) error {
	var p consign.Problems
	for k := range state {
		kind, subject, ok := strings.Cut(k, "/")
		field := fmt.Sprintf("State[%q]", k)
		switch {
		case !ok:
			p.Add(field, "a key of the form kind/subject")
		case kindRule(kind) != "":
			p.Add(field, "kind: "+kindRule(kind))
		case subjectRule(subject) != "":
			p.Add(field, "subject: "+subjectRule(subject))
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, s := range state {
		if s > v.marks[k].serial {
			v.marks[k] = mark{serial: s}
		}
	}
	return nil
}
