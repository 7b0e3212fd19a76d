package signing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
)

func TestVerifyRefusals(t *testing.T) {
	ring := newRing(t, 1)
	other := newRing(t, 2)
	s := NewSigner(ring)
	sign := func(kind, subject, payload string, serial uint64, issued time.Time, ttl time.Duration) Envelope {
		env, err := s.Sign(kind, subject, []byte(payload), serial, issued, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	good := sign(KindPolicy, "DEV1", "p", 5, t0, time.Hour)

	tests := []struct {
		name  string
		prior []Envelope // accepted first
		env   Envelope
		now   time.Time // zero: t0
		keys  []PublicKey
		want  error // nil: accepted
		code  error
	}{
		{name: "good", env: good},
		{name: "unknown key", env: mustSign(t, NewSigner(other), KindPolicy, "DEV1", []byte("p"), 5),
			want: ErrUnknownKey, code: consign.ErrPermissionDenied},
		{name: "empty trust set", env: good, keys: []PublicKey{}, want: ErrUnknownKey, code: consign.ErrPermissionDenied},
		{name: "key past NotAfter", env: good, now: t0.Add(time.Minute),
			keys: []PublicKey{{ID: ring.Active().ID, Key: ring.Active().Public, NotAfter: t0}},
			want: ErrUnknownKey, code: consign.ErrPermissionDenied},
		{name: "key at NotAfter", env: good,
			keys: []PublicKey{{ID: ring.Active().ID, Key: ring.Active().Public, NotAfter: t0}}},
		{name: "signature byte flipped", env: func() Envelope {
			e := good
			e.Signature = append([]byte(nil), good.Signature...)
			e.Signature[10] ^= 1
			return e
		}(), want: ErrBadSignature, code: consign.ErrPermissionDenied},
		{name: "no signature", env: func() Envelope { e := good; e.Signature = nil; return e }(),
			want: ErrBadSignature, code: consign.ErrPermissionDenied},
		{name: "payload changed", env: func() Envelope { e := good; e.Payload = []byte("q"); return e }(),
			want: ErrBadSignature, code: consign.ErrPermissionDenied},
		{name: "wrong kind", env: sign(KindManifest, "DEV1", "p", 5, t0, time.Hour),
			want: ErrWrongSubject, code: consign.ErrPermissionDenied},
		{name: "wrong subject", env: sign(KindPolicy, "DEV2", "p", 5, t0, time.Hour),
			want: ErrWrongSubject, code: consign.ErrPermissionDenied},
		{name: "expired", env: good, now: t0.Add(time.Hour + time.Nanosecond),
			want: ErrExpired, code: consign.ErrFailedPrecondition},
		{name: "at expiry", env: good, now: t0.Add(time.Hour)},
		{name: "beyond skew", env: good, now: t0.Add(-DefaultSkew - time.Nanosecond),
			want: ErrNotYetValid, code: consign.ErrFailedPrecondition},
		{name: "within skew", env: good, now: t0.Add(-DefaultSkew)},
		{name: "rollback", prior: []Envelope{sign(KindPolicy, "DEV1", "p", 6, t0, time.Hour)}, env: good,
			want: ErrRollback, code: consign.ErrConflict},
		{name: "same serial, other content", prior: []Envelope{sign(KindPolicy, "DEV1", "other", 5, t0, time.Hour)},
			env: good, want: ErrRollback, code: consign.ErrConflict},
		{name: "same serial, other expiry", prior: []Envelope{sign(KindPolicy, "DEV1", "p", 5, t0, 2*time.Hour)},
			env: good, want: ErrRollback, code: consign.ErrConflict},
		{name: "re-delivery", prior: []Envelope{good}, env: good},
		{name: "newer", prior: []Envelope{sign(KindPolicy, "DEV1", "old", 4, t0, time.Hour)}, env: good},
		{name: "other subject's serial does not count",
			prior: []Envelope{sign(KindPolicy, "DEV2", "p", 9, t0, time.Hour), sign(KindManifest, "DEV1", "p", 9, t0, time.Hour)},
			env:   good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := ring.PublicKeys()
			if tt.keys != nil {
				keys = tt.keys
			}
			v, c := newVerifier(t, keys)
			for _, p := range tt.prior {
				if _, err := v.Verify(p, p.Kind, p.Subject); err != nil {
					t.Fatalf("prior: %v", err)
				}
			}
			before := v.State()
			if !tt.now.IsZero() {
				c.now = tt.now
			}
			payload, err := v.Verify(tt.env, KindPolicy, "DEV1")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if string(payload) != string(tt.env.Payload) {
					t.Fatalf("payload %q", payload)
				}
				if got := v.State()[StateKey(KindPolicy, "DEV1")]; got != tt.env.Serial {
					t.Fatalf("mark %d after accepting serial %d", got, tt.env.Serial)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, tt.want) || !errors.Is(err, tt.code) {
				t.Fatalf("err = %v, want %v (%v)", err, tt.want, tt.code)
			}
			for _, other := range []error{ErrUnknownKey, ErrBadSignature, ErrWrongSubject, ErrExpired, ErrNotYetValid, ErrRollback} {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("err = %v also matches %v", err, other)
				}
			}
			if payload != nil {
				t.Fatal("refusal returned a payload")
			}
			if !strings.Contains(err.Error(), tt.want.Error()) {
				t.Errorf("message %q does not say %q", err, tt.want)
			}
			if tt.want == ErrRollback && ve.Newest != before[StateKey(KindPolicy, "DEV1")] {
				t.Errorf("Newest = %d, want %d", ve.Newest, before[StateKey(KindPolicy, "DEV1")])
			}
			if fmt.Sprint(v.State()) != fmt.Sprint(before) {
				t.Errorf("a refusal changed the state: %v → %v", before, v.State())
			}
		})
	}
}

// When several checks fail, the first in the documented order wins, and a
// refused envelope never raises the mark.
func TestVerifyOrder(t *testing.T) {
	ring, other := newRing(t, 1), newRing(t, 2)
	s := NewSigner(ring)
	v, c := newVerifier(t, ring.PublicKeys())
	if _, err := v.Verify(mustSign(t, s, KindPolicy, "D", []byte("x"), 5), KindPolicy, "D"); err != nil {
		t.Fatal(err)
	}
	c.now = t0.Add(2 * time.Hour) // everything below has expired
	alien := mustSign(t, NewSigner(other), KindManifest, "E", nil, 1)
	tampered := mustSign(t, s, KindManifest, "E", nil, 1)
	tampered.Serial = 2
	old := mustSign(t, s, KindPolicy, "D", nil, 1)
	wrong := mustSign(t, s, KindManifest, "D", nil, 1)
	for _, tt := range []struct {
		env  Envelope
		want error
	}{
		{alien, ErrUnknownKey},      // also bad kind, expired, rollback-free
		{tampered, ErrBadSignature}, // also wrong kind, expired
		{wrong, ErrWrongSubject},    // also expired
		{old, ErrExpired},           // also rollback
	} {
		if _, err := v.Verify(tt.env, KindPolicy, "D"); !errors.Is(err, tt.want) {
			t.Errorf("err = %v, want %v", err, tt.want)
		}
	}
	c.now = t0
	newer := mustSign(t, s, KindPolicy, "D", nil, 9)
	newer.Expires = t0.Add(-time.Second) // and therefore a bad signature
	if _, err := v.Verify(newer, KindPolicy, "D"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v", err)
	}
	if got := v.State()[StateKey(KindPolicy, "D")]; got != 5 {
		t.Fatalf("refusals moved the mark to %d", got)
	}
}

func TestVerifyArguments(t *testing.T) {
	v, _ := newVerifier(t, newRing(t, 1).PublicKeys())
	for _, a := range [][2]string{{"", "D"}, {"policy", ""}, {"Policy", "D"}, {"policy", "\xff"}} {
		if _, err := v.Verify(Envelope{}, a[0], a[1]); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("Verify(%q, %q) = %v, want ErrInvalid", a[0], a[1], err)
		}
	}
}

func TestVerifierSkewOption(t *testing.T) {
	ring := newRing(t, 1)
	env := mustSign(t, NewSigner(ring), KindPolicy, "D", nil, 1)
	for _, tt := range []struct {
		skew   time.Duration
		early  time.Duration // how long before Issued the clock is
		accept bool
	}{
		{0, DefaultSkew, true},
		{0, DefaultSkew + 1, false},
		{-1, 0, true},
		{-1, 1, false},
		{time.Hour, time.Hour, true},
		{time.Hour, time.Hour + 1, false},
	} {
		c := &fixedClock{now: t0.Add(-tt.early)}
		v, err := NewVerifier(ring.PublicKeys(), &VerifierOptions{Clock: c.Now, Skew: tt.skew})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(env, KindPolicy, "D")
		if (err == nil) != tt.accept || (err != nil && !errors.Is(err, ErrNotYetValid)) {
			t.Errorf("skew %v, clock %v early: err = %v, want accepted %v", tt.skew, tt.early, err, tt.accept)
		}
	}
	// The default clock is the real one.
	v, err := NewVerifier(ring.PublicKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := NewSigner(ring).Sign(KindPolicy, "D", nil, 1, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(live, KindPolicy, "D"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(env, KindPolicy, "D"); !errors.Is(err, ErrExpired) && !errors.Is(err, ErrRollback) {
		t.Fatalf("an envelope from %v under the real clock: %v", t0, err)
	}
}

func TestSetKeys(t *testing.T) {
	ring := newRing(t, 1)
	k := ring.PublicKeys()[0]
	tests := []struct {
		name  string
		keys  []PublicKey
		field string
	}{
		{"short key", []PublicKey{{ID: k.ID, Key: k.Key[:31]}}, "Keys[0].Key"},
		{"wrong ID", []PublicKey{k, {ID: "0000000000000000", Key: newRing(t, 2).Active().Public}}, "Keys[1].ID"},
		{"duplicate", []PublicKey{k, k}, "Keys[1].ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := newVerifier(t, ring.PublicKeys())
			err := v.SetKeys(tt.keys)
			if !errors.Is(err, consign.ErrInvalid) || !hasField(err, tt.field) {
				t.Fatalf("err = %v, want a problem with %s", err, tt.field)
			}
			if got := ids(v.Keys()); len(got) != 1 || got[0] != k.ID {
				t.Fatalf("a refused SetKeys changed the trust set to %v", got)
			}
			if _, err := NewVerifier(tt.keys, nil); !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("NewVerifier: %v", err)
			}
		})
	}
	// The verifier keeps its own copy.
	keys := ring.PublicKeys()
	v, _ := newVerifier(t, keys)
	keys[0].Key[0] ^= 1
	v.Keys()[0].Key[1] ^= 1
	if _, err := v.Verify(mustSign(t, NewSigner(ring), KindPolicy, "D", nil, 1), KindPolicy, "D"); err != nil {
		t.Fatalf("caller's changes reached the trust set: %v", err)
	}
}

// The rotation story: the site rotates, announces the new trust set, and
// later retires the old key.
func TestRotation(t *testing.T) {
	ring := newRing(t, 1)
	s := NewSigner(ring)
	v, c := newVerifier(t, ring.PublicKeys())
	oldKey := ring.Active().ID
	byOld := mustSign(t, s, KindManifest, "PKG00001/1", []byte("m1"), 1)

	if _, err := ring.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	byNew := mustSign(t, s, KindPolicy, "DEV1", []byte("p1"), 1)
	if byNew.KeyID == oldKey {
		t.Fatal("Rotate did not change the signing key")
	}
	if _, err := v.Verify(byNew, KindPolicy, "DEV1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key before the announcement: %v, want ErrUnknownKey", err)
	}
	if err := v.SetKeys(ring.PublicKeys()); err != nil { // the announcement
		t.Fatal(err)
	}
	if _, err := v.Verify(byNew, KindPolicy, "DEV1"); err != nil {
		t.Fatalf("new key after the announcement: %v", err)
	}
	if _, err := v.Verify(byOld, KindManifest, "PKG00001/1"); err != nil {
		t.Fatalf("old key before retirement: %v", err)
	}

	// Scheduled retirement: the key works until NotAfter.
	if err := ring.SetNotAfter(oldKey, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := v.SetKeys(ring.PublicKeys()); err != nil {
		t.Fatal(err)
	}
	c.now = t0.Add(time.Minute)
	if _, err := v.Verify(byOld, KindManifest, "PKG00001/1"); err != nil {
		t.Fatalf("old key at NotAfter: %v", err)
	}
	c.now = t0.Add(time.Minute + 1)
	if _, err := v.Verify(byOld, KindManifest, "PKG00001/1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old key past NotAfter: %v, want ErrUnknownKey", err)
	}

	c.now = t0
	if err := ring.Retire(oldKey); err != nil {
		t.Fatal(err)
	}
	if err := v.SetKeys(ring.PublicKeys()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(byOld, KindManifest, "PKG00001/1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old key after retirement: %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(byNew, KindPolicy, "DEV1"); err != nil {
		t.Fatalf("new key after retirement of the old: %v", err)
	}
}

func TestStateRestore(t *testing.T) {
	ring := newRing(t, 1)
	s := NewSigner(ring)
	v, _ := newVerifier(t, ring.PublicKeys())
	p3 := mustSign(t, s, KindPolicy, "DEV/1", []byte("three"), 3)
	m7 := mustSign(t, s, KindManifest, "PKG00012/3", nil, 7)
	for _, e := range []Envelope{p3, m7} {
		if _, err := v.Verify(e, e.Kind, e.Subject); err != nil {
			t.Fatal(err)
		}
	}
	state := v.State()
	want := map[string]uint64{"policy/DEV/1": 3, "manifest/PKG00012/3": 7}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Fatalf("State = %v, want %v", state, want)
	}
	state["policy/DEV/1"] = 99 // State is a copy
	if v.State()["policy/DEV/1"] != 3 {
		t.Fatal("State shares memory with the verifier")
	}
	state["policy/DEV/1"] = 3

	// A restarted agent.
	r, _ := newVerifier(t, ring.PublicKeys())
	if err := r.Restore(state); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(mustSign(t, s, KindPolicy, "DEV/1", []byte("two"), 2), KindPolicy, "DEV/1"); !errors.Is(err, ErrRollback) {
		t.Fatalf("older serial after Restore: %v, want ErrRollback", err)
	}
	if _, err := r.Verify(p3, KindPolicy, "DEV/1"); err != nil {
		t.Fatalf("re-delivery of the newest after Restore: %v", err)
	}
	if _, err := r.Verify(p3, KindPolicy, "DEV/1"); err != nil {
		t.Fatalf("second re-delivery: %v", err)
	}
	other3 := mustSign(t, s, KindPolicy, "DEV/1", []byte("other"), 3)
	if _, err := r.Verify(other3, KindPolicy, "DEV/1"); !errors.Is(err, ErrRollback) {
		t.Fatalf("same serial, other content, after a re-delivery pinned it: %v, want ErrRollback", err)
	}

	// Restore never lowers a mark.
	if err := r.Restore(map[string]uint64{"policy/DEV/1": 1, "manifest/PKG00012/3": 8}); err != nil {
		t.Fatal(err)
	}
	if got := r.State(); got["policy/DEV/1"] != 3 || got["manifest/PKG00012/3"] != 8 {
		t.Fatalf("after Restore: %v", got)
	}
	if _, err := r.Verify(p3, KindPolicy, "DEV/1"); err != nil {
		t.Fatalf("a lower Restore forgot the pinned content: %v", err)
	}

	// Malformed state changes nothing.
	for _, bad := range []string{"nokind", "/DEV1", "Policy/DEV1", "policy/", "policy/\xff"} {
		err := r.Restore(map[string]uint64{bad: 100, "policy/NEW": 100})
		if !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("Restore(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, ok := r.State()["policy/NEW"]; ok {
		t.Fatal("a refused Restore changed the state")
	}
}

// Many goroutines verify serials 1..n of one subject in any order while the
// trust set is replaced: the mark ends at n, and no goroutine has a serial
// accepted that is lower than one accepted for it before.
func TestVerifyConcurrent(t *testing.T) {
	ring := newRing(t, 1)
	s := NewSigner(ring)
	const n = 100
	envs := make([]Envelope, n)
	for i := range envs {
		envs[i] = mustSign(t, s, KindPolicy, "D", []byte{byte(i)}, uint64(i+1))
	}
	v, err := NewVerifier(ring.PublicKeys(), &VerifierOptions{Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var last uint64
			for i := range n {
				e := envs[(i*(g+3))%n]
				if _, err := v.Verify(e, KindPolicy, "D"); err == nil {
					if e.Serial < last {
						t.Errorf("accepted serial %d after %d", e.Serial, last)
					}
					last = e.Serial
				} else if !errors.Is(err, ErrRollback) {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := v.SetKeys(ring.PublicKeys()); err != nil {
				t.Error(err)
			}
			_ = v.State()
		}
	})
	wg.Wait()
	if _, err := v.Verify(envs[n-1], KindPolicy, "D"); err != nil {
		t.Fatal(err)
	}
	if got := v.State()[StateKey(KindPolicy, "D")]; got != n {
		t.Fatalf("mark %d, want %d", got, n)
	}
}

// A trust set survives the trip to the agent as JSON.
func TestPublicKeysJSON(t *testing.T) {
	ring := newRing(t, 1)
	old := ring.Active().ID
	if _, err := ring.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	if err := ring.SetNotAfter(old, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ring.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	var keys []PublicKey
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	v, _ := newVerifier(t, keys)
	got := v.Keys()
	if len(got) != 2 || got[0].ID != ring.Active().ID || !got[0].NotAfter.IsZero() || !got[1].NotAfter.Equal(t0.Add(time.Hour)) {
		t.Fatalf("trust set after JSON: %+v (from %s)", got, data)
	}
	if _, err := v.Verify(mustSign(t, NewSigner(ring), KindPolicy, "D", nil, 1), KindPolicy, "D"); err != nil {
		t.Fatal(err)
	}
}
