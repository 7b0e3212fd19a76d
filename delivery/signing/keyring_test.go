package signing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
)

func TestKeyID(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	if got, want := KeyID(pub), hex.EncodeToString(sum[:])[:16]; got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
}

func TestGenerateKeyringDeterministic(t *testing.T) {
	a, b, c := newRing(t, 1), newRing(t, 1), newRing(t, 2)
	if a.Active().ID != b.Active().ID {
		t.Fatal("same seed, different keys")
	}
	if a.Active().ID == c.Active().ID {
		t.Fatal("different seeds, same key")
	}
	k := a.Active()
	if !k.CanSign() || !k.Created.Equal(t0) || len(k.Public) != ed25519.PublicKeySize || k.ID != KeyID(k.Public) {
		t.Fatalf("active key %+v", k)
	}
	if _, err := GenerateKeyring(strings.NewReader("short"), t0); !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("short random source: %v, want ErrUnavailable", err)
	}
	if _, err := GenerateKeyring(nil, time.Time{}); !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("zero now: %v, want ErrInvalid", err)
	}
	if r, err := GenerateKeyring(nil, t0); err != nil || r.Active().ID == a.Active().ID {
		t.Fatalf("crypto/rand keyring: %v", err)
	}
}

func ids(ks []PublicKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

func TestRotateRetire(t *testing.T) {
	r := newRing(t, 1)
	k1 := r.Active()
	k2, err := r.Rotate(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k3, err := r.Rotate(t0.Add(2 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(r.PublicKeys()), []string{k3.ID, k2.ID, k1.ID}; !slices.Equal(got, want) {
		t.Fatalf("PublicKeys = %v, want %v", got, want)
	}
	if r.Active().ID != k3.ID || !r.Active().CanSign() || !k3.CanSign() || k3.private != nil || r.Active().private != nil {
		t.Fatal("Active is not the newest key, cannot sign, or Rotate leaked the private half")
	}
	for _, k := range r.Keys()[1:] {
		if k.CanSign() {
			t.Fatalf("verify-only key %s can sign", k.ID)
		}
	}
	if err := r.Retire(k3.ID); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Fatalf("Retire(active) = %v, want ErrFailedPrecondition", err)
	}
	if err := r.Retire("0123456789abcdef"); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Retire(unknown) = %v, want ErrNotFound", err)
	}
	if err := r.Retire(k2.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(r.PublicKeys()), []string{k3.ID, k1.ID}; !slices.Equal(got, want) {
		t.Fatalf("after Retire: %v, want %v", got, want)
	}

	na := t0.Add(48 * time.Hour)
	if err := r.SetNotAfter(k1.ID, na); err != nil {
		t.Fatal(err)
	}
	if err := r.SetNotAfter(k3.ID, na); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Fatalf("SetNotAfter(active) = %v", err)
	}
	if err := r.SetNotAfter(k2.ID, na); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("SetNotAfter(retired) = %v", err)
	}
	if pk := r.PublicKeys()[1]; !pk.NotAfter.Equal(na) {
		t.Fatalf("NotAfter = %v", pk.NotAfter)
	}
	// Returned keys are copies.
	r.PublicKeys()[0].Key[0] ^= 0xff
	r.Keys()[0].Public[0] ^= 0xff
	if err := r.PublicKeys()[0].Validate(); err != nil {
		t.Fatalf("caller's change reached the keyring: %v", err)
	}
}

func TestRotateRepeatedKey(t *testing.T) {
	// A random source that always returns the same bytes repeats the key.
	r, err := GenerateKeyring(zeros{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate(t0); !errors.Is(err, consign.ErrConflict) {
		t.Fatalf("Rotate with a constant source = %v, want ErrConflict", err)
	}
	if len(r.PublicKeys()) != 1 || !r.Active().CanSign() {
		t.Fatal("a failed Rotate changed the keyring")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSaveLoad(t *testing.T) {
	r := newRing(t, 1)
	old := r.Active()
	if _, err := r.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.SetNotAfter(old.ID, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "site.keyring")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(path); err != nil { // over an existing file
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Fatalf("mode %o, want 600", mode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the keyring (temp files left?)", len(entries))
	}
	l, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Keys(), r.Keys(); len(got) != len(want) {
		t.Fatalf("loaded %d keys, want %d", len(got), len(want))
	} else {
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || !g.Created.Equal(w.Created) || !g.NotAfter.Equal(w.NotAfter) || g.CanSign() != w.CanSign() {
				t.Errorf("key %d: loaded %+v, want %+v", i, g, w)
			}
		}
	}
	// The loaded keyring signs with the same key.
	v, _ := newVerifier(t, r.PublicKeys())
	env := mustSign(t, NewSigner(l), KindPolicy, "DEV1", nil, 1)
	if _, err := v.Verify(env, KindPolicy, "DEV1"); err != nil {
		t.Fatalf("envelope from the loaded keyring: %v", err)
	}
	if _, err := l.Rotate(t0.Add(2 * time.Hour)); err != nil {
		t.Fatalf("Rotate after load: %v", err)
	}

	if _, err := LoadKeyring(filepath.Join(dir, "missing")); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
	if err := r.Save(filepath.Join(dir, "no", "such", "dir")); !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("Save into a missing directory: %v, want ErrUnavailable", err)
	}
}

func TestSaveConcurrentWithRotate(t *testing.T) {
	r := newRing(t, 1)
	path := filepath.Join(t.TempDir(), "k")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				if i%2 == 0 {
					if _, err := r.Rotate(t0.Add(time.Duration(j) * time.Minute)); err != nil {
						t.Error(err)
					}
				} else if err := r.Save(path); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if _, err := LoadKeyring(path); err != nil {
		t.Fatal(err)
	}
}

// keyringJSON returns a valid file's JSON as a generic value to break.
func keyringJSON(t *testing.T) map[string]any {
	t.Helper()
	r := newRing(t, 1)
	if _, err := r.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadKeyringMalformed(t *testing.T) {
	key := func(m map[string]any, i int) map[string]any { return m["keys"].([]any)[i].(map[string]any) }
	tests := []struct {
		name      string
		raw       string // used instead of the edited JSON when set
		edit      func(m map[string]any)
		wantField string
	}{
		{name: "not JSON", raw: "{", wantField: "Keyring"},
		{name: "format missing", edit: func(m map[string]any) { delete(m, "format") }, wantField: "Keyring.Format"},
		{name: "format 2", edit: func(m map[string]any) { m["format"] = 2 }, wantField: "Keyring.Format"},
		{name: "no keys", edit: func(m map[string]any) { m["keys"] = []any{} }, wantField: "Keyring.Keys"},
		{name: "wrong ID", edit: func(m map[string]any) { key(m, 1)["id"] = "0000000000000000" }, wantField: "Keyring.Keys[1].ID"},
		{name: "short public", edit: func(m map[string]any) { key(m, 1)["public"] = "AAAA" }, wantField: "Keyring.Keys[1].Key"},
		{name: "active without seed", edit: func(m map[string]any) { delete(key(m, 0), "seed") }, wantField: "Keyring.Keys[0].Seed"},
		{name: "seed of another key", edit: func(m map[string]any) {
			key(m, 0)["seed"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}, wantField: "Keyring.Keys[0].Seed"},
		{name: "verify-only with seed", edit: func(m map[string]any) { key(m, 1)["seed"] = key(m, 0)["seed"] }, wantField: "Keyring.Keys[1].Seed"},
		{name: "active with notAfter", edit: func(m map[string]any) { key(m, 0)["notAfter"] = "2030-01-01T00:00:00Z" }, wantField: "Keyring.Keys[0].NotAfter"},
		{name: "duplicate", edit: func(m map[string]any) {
			m["keys"] = append(m["keys"].([]any), key(m, 1))
		}, wantField: "Keyring.Keys[2].ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := keyringJSON(t)
				tt.edit(m)
				var err error
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring(path)
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !hasField(err, tt.wantField) {
				t.Fatalf("err = %v, want a problem with field %s", err, tt.wantField)
			}
		})
	}
}

// hasField reports whether err holds a *consign.ValidationError for field.
func hasField(err error, field string) bool {
	var me interface{ WrappedErrors() []error }
	errs := []error{err}
	if errors.As(err, &me) {
		errs = me.WrappedErrors()
	}
	for _, e := range errs {
		var ve *consign.ValidationError
		if errors.As(e, &ve) && ve.Field == field {
			return true
		}
	}
	return false
}
