package signing

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
)

func TestSignValidation(t *testing.T) {
	s := NewSigner(newRing(t, 1))
	type args struct {
		kind, subject string
		serial        uint64
		issued        time.Time
		ttl           time.Duration
	}
	ok := args{kind: "policy", subject: "DEV1", serial: 1, issued: t0, ttl: time.Hour}
	tests := []struct {
		name   string
		edit   func(a *args)
		fields []string
	}{
		{"empty kind", func(a *args) { a.kind = "" }, []string{"Kind"}},
		{"upper-case kind", func(a *args) { a.kind = "Policy" }, []string{"Kind"}},
		{"kind with slash", func(a *args) { a.kind = "a/b" }, []string{"Kind"}},
		{"long kind", func(a *args) { a.kind = strings.Repeat("k", MaxKindLen+1) }, []string{"Kind"}},
		{"empty subject", func(a *args) { a.subject = "" }, []string{"Subject"}},
		{"long subject", func(a *args) { a.subject = strings.Repeat("s", MaxSubjectLen+1) }, []string{"Subject"}},
		{"subject not UTF-8", func(a *args) { a.subject = "DEV\xff" }, []string{"Subject"}},
		{"serial 0", func(a *args) { a.serial = 0 }, []string{"Serial"}},
		{"zero issued", func(a *args) { a.issued = time.Time{} }, []string{"Issued"}},
		{"issued after 9999", func(a *args) { a.issued = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, []string{"Issued"}},
		{"ttl 0", func(a *args) { a.ttl = 0 }, []string{"TTL"}},
		{"ttl negative", func(a *args) { a.ttl = -time.Second }, []string{"TTL"}},
		{"expires after 9999", func(a *args) {
			a.issued = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC)
			a.ttl = 2 * time.Hour
		}, []string{"Expires"}},
		{"all at once", func(a *args) { *a = args{} }, []string{"Kind", "Subject", "Serial", "Issued", "TTL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.edit(&a)
			env, err := s.Sign(a.kind, a.subject, []byte("p"), a.serial, a.issued, a.ttl)
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, f := range tt.fields {
				if !hasField(err, f) {
					t.Errorf("err = %v, lacks a problem with %s", err, f)
				}
			}
			if env.Signature != nil {
				t.Error("refused Sign returned a signature")
			}
		})
	}
	env, err := s.Sign(ok.kind, ok.subject, nil, ok.serial, ok.issued, ok.ttl)
	if err != nil {
		t.Fatalf("valid arguments: %v", err)
	}
	if !env.Expires.Equal(t0.Add(time.Hour)) || env.Serial != 1 || env.KeyID != s.ring.Active().ID {
		t.Fatalf("envelope %+v", env)
	}
}

func TestSignCopiesPayloadAndStripsMonotonic(t *testing.T) {
	ring := newRing(t, 1)
	payload := []byte("hello")
	now := time.Now()
	env, err := NewSigner(ring).Sign(KindPolicy, "DEV1", payload, 1, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	payload[0] = 'j'
	if env.Issued != now.Round(0) {
		t.Errorf("Issued %v keeps a monotonic reading", env.Issued)
	}
	c := &fixedClock{now: now}
	v, err := NewVerifier(ring.PublicKeys(), &VerifierOptions{Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(env, KindPolicy, "DEV1")
	if err != nil || string(got) != "hello" {
		t.Fatalf("Verify = %q, %v", got, err)
	}
}

// Signing while the keyring rotates: every envelope names the key that
// signed it, and verifies against the trust set that includes it.
func TestSignConcurrentWithRotate(t *testing.T) {
	ring := newRing(t, 1)
	s := NewSigner(ring)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		envs []Envelope
	)
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				env, err := s.Sign(KindPolicy, "DEV", []byte{byte(g), byte(i)}, uint64(1+i), t0, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				envs = append(envs, env)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if _, err := ring.Rotate(t0.Add(time.Duration(i) * time.Second)); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	v, _ := newVerifier(t, ring.PublicKeys())
	keys := map[string]bool{}
	for _, env := range envs {
		keys[env.KeyID] = true
		v.marks = map[string]mark{} // check signatures only
		if _, err := v.Verify(env, KindPolicy, "DEV"); err != nil {
			t.Fatalf("envelope signed during rotation: %v", err)
		}
	}
	t.Logf("%d envelopes signed by %d keys", len(envs), len(keys))
}

func TestSignZeroKeyring(t *testing.T) {
	_, err := NewSigner(&Keyring{}).Sign(KindPolicy, "D", nil, 1, t0, time.Hour)
	if !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Fatalf("err = %v, want ErrFailedPrecondition", err)
	}
}
