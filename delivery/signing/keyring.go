package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/consign/consign"
)

// KeyID returns the ID of a public key: the first 16 hex digits (8 bytes)
// of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// PublicKey is one key of a trust set: what a site hands its agents so they
// can verify its envelopes. It is JSON-encodable with the field names
// given.
type PublicKey struct {
	// ID ("id") is KeyID(Key).
	ID string `json:"id"`
	// Key ("key", base64) is the ed25519 public key.
	Key ed25519.PublicKey `json:"key"`
	// NotAfter ("notAfter", omitted when zero) is the last instant a
	// verifier accepts envelopes signed with this key; zero means until the
	// key leaves the trust set.
	NotAfter time.Time `json:"notAfter,omitzero"`
}

// Validate checks that Key is an ed25519 public key and ID is its KeyID.
func (k PublicKey) Validate() error {
	var p consign.Problems
	k.check(&p, "PublicKey")
	return p.Err()
}

func (k PublicKey) check(p *consign.Problems, prefix string) {
	if len(k.Key) != ed25519.PublicKeySize {
		p.AddValue(prefix+".Key", len(k.Key), fmt.Sprintf("%d bytes", ed25519.PublicKeySize))
		return
	}
	if id := KeyID(k.Key); k.ID != id {
		p.AddValue(prefix+".ID", k.ID, "the key's ID, "+id)
	}
}

// Key is one key of a Keyring. The active key can sign; the others are
// verify-only: the keyring no longer holds their private halves.
type Key struct {
	// ID is KeyID(Public).
	ID string
	// Public is the ed25519 public key.
	Public ed25519.PublicKey
	// Created is when the key was generated.
	Created time.Time
	// NotAfter is the last instant verifiers should accept the key; zero
	// means until it is retired. Only verify-only keys have one.
	NotAfter time.Time

	private ed25519.PrivateKey // nil for verify-only keys and for copies handed out
	canSign bool               // in copies handed out: the keyring holds private
}

// CanSign reports whether the keyring holds k's private half, which is true
// only of the active key.
func (k Key) CanSign() bool { return k.canSign || k.private != nil }

// PublicKey returns k as a trust-set entry.
func (k Key) PublicKey() PublicKey {
	return PublicKey{ID: k.ID, Key: bytes.Clone(k.Public), NotAfter: k.NotAfter}
}

// public returns a copy of k without its private half.
func (k Key) public() Key {
	k.Public = bytes.Clone(k.Public)
	k.canSign = k.private != nil
	k.private = nil
	return k
}

// generateKey makes a key from SeedSize bytes of random.
func generateKey(random io.Reader, now time.Time) (Key, error) {
	if random == nil {
		random = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(random, seed); err != nil {
		return Key{}, consign.Errorf(consign.ErrUnavailable, "GenerateKey", "", "reading randomness: %w", err)
	}
	return keyFromSeed(seed, now), nil
}

func keyFromSeed(seed []byte, created time.Time) Key {
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return Key{ID: KeyID(pub), Public: pub, Created: created, private: priv}
}

// Keyring is a site's signing keys: one active key that signs and the
// previous keys, kept verify-only until they are retired. The zero value
// is not usable; make one with GenerateKeyring or LoadKeyring.
type Keyring struct {
	mu     sync.RWMutex
	random io.Reader // for Rotate; nil means crypto/rand
	active Key
	old    []Key // verify-only, newest first
}

// GenerateKeyring returns a keyring with one new active key created at now.
// random supplies the keys' seeds, for this key and the ones Rotate makes;
// nil means crypto/rand, which is what production code should use.
func GenerateKeyring(random io.Reader, now time.Time) (*Keyring, error) {
	if now.IsZero() {
		return nil, &consign.ValidationError{Field: "now", Rule: "required"}
	}
	k, err := generateKey(random, now.Round(0))
	if err != nil {
		return nil, err
	}
	return &Keyring{random: random, active: k}, nil
}

// Rotate makes a new active key created at now and returns it (without its
// private half). The previous active key becomes verify-only: its private
// half is erased and it stays in PublicKeys until Retire removes it.
func (r *Keyring) Rotate(now time.Time) (Key, error) {
	if now.IsZero() {
		return Key{}, &consign.ValidationError{Field: "now", Rule: "required"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := generateKey(r.random, now.Round(0))
	if err != nil {
		return Key{}, err
	}
	if k.ID == r.active.ID || slices.ContainsFunc(r.old, func(o Key) bool { return o.ID == k.ID }) {
		// Only a broken random source repeats a key.
		return Key{}, consign.Errorf(consign.ErrConflict, "Rotate", k.ID, "the new key repeats an existing one; the random source is not random")
	}
	prev := r.active
	clear(prev.private) // Signer holds the read lock while it signs.
	prev.private = nil
	r.old = slices.Insert(r.old, 0, prev)
	r.active = k
	return k.public(), nil
}

// Retire removes a verify-only key: verifiers given the new PublicKeys
// stop accepting envelopes it signed. Retiring the active key is refused
// (ErrFailedPrecondition: rotate first); an unknown ID is ErrNotFound.
func (r *Keyring) Retire(keyID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keyID == r.active.ID {
		return consign.Errorf(consign.ErrFailedPrecondition, "Retire", keyID, "the active key cannot be retired; rotate first")
	}
	i := slices.IndexFunc(r.old, func(k Key) bool { return k.ID == keyID })
	if i < 0 {
		return consign.Errorf(consign.ErrNotFound, "Retire", keyID, "no such key in the keyring")
	}
	r.old = slices.Delete(r.old, i, i+1)
	return nil
}

// SetNotAfter schedules the retirement of a verify-only key: PublicKeys
// carries notAfter, and verifiers refuse the key after it. A zero notAfter
// removes the limit. The active key cannot have one
// (ErrFailedPrecondition); an unknown ID is ErrNotFound.
func (r *Keyring) SetNotAfter(keyID string, notAfter time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keyID == r.active.ID {
		return consign.Errorf(consign.ErrFailedPrecondition, "SetNotAfter", keyID, "the active key cannot expire; rotate first")
	}
	i := slices.IndexFunc(r.old, func(k Key) bool { return k.ID == keyID })
	if i < 0 {
		return consign.Errorf(consign.ErrNotFound, "SetNotAfter", keyID, "no such key in the keyring")
	}
	r.old[i].NotAfter = notAfter.Round(0)
	return nil
}

// Active returns the key that signs, without its private half.
func (r *Keyring) Active() Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active.public()
}

// Keys returns every key, the active one first and then the verify-only
// ones newest first, without private halves.
func (r *Keyring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ks := make([]Key, 0, 1+len(r.old))
	ks = append(ks, r.active.public())
	for _, k := range r.old {
		ks = append(ks, k.public())
	}
	return ks
}

// PublicKeys returns the trust set agents should be given: every key in
// the keyring, in the order of Keys.
func (r *Keyring) PublicKeys() []PublicKey {
	ks := r.Keys()
	ps := make([]PublicKey, len(ks))
	for i, k := range ks {
		ps[i] = k.PublicKey()
	}
	return ps
}

// sign signs the bytes fill returns for the active key's ID, and returns
// that ID and the signature. It holds the read lock so Rotate cannot erase
// the key midway.
func (r *Keyring) sign(fill func(keyID string) []byte) (keyID string, sig []byte, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.active.private) != ed25519.PrivateKeySize {
		return "", nil, consign.Errorf(consign.ErrFailedPrecondition, "Sign", "", "the keyring has no signing key; make one with GenerateKeyring or LoadKeyring")
	}
	return r.active.ID, ed25519.Sign(r.active.private, fill(r.active.ID)), nil
}

// keyringFormat is the version of the keyring file format Save writes and
// LoadKeyring reads.
const keyringFormat = 1

// keyringFile is the JSON form of a keyring file.
type keyringFile struct {
	Format int       `json:"format"`
	Keys   []fileKey `json:"keys"` // the active key first
}

type fileKey struct {
	ID       string    `json:"id"`
	Public   []byte    `json:"public"`
	Seed     []byte    `json:"seed,omitempty"` // the private half's seed; the active key only
	Created  time.Time `json:"created"`
	NotAfter time.Time `json:"notAfter,omitzero"`
}

// Save writes the keyring to path atomically: to a temporary file in the
// same directory with mode 0600, synced, then renamed over path, and the
// directory synced, so after a crash path holds either the old keyring or
// the new one. The file is JSON with a format version; it holds the active
// key's private seed, so keep it as secret as the key. Failures are
// ErrUnavailable; Save is idempotent, so it may be retried.
func (r *Keyring) Save(path string) error {
	r.mu.RLock()
	f := keyringFile{Format: keyringFormat}
	f.Keys = append(f.Keys, fileKey{
		ID: r.active.ID, Public: bytes.Clone(r.active.Public), Seed: r.active.private.Seed(),
		Created: r.active.Created,
	})
	for _, k := range r.old {
		f.Keys = append(f.Keys, fileKey{ID: k.ID, Public: bytes.Clone(k.Public), Created: k.Created, NotAfter: k.NotAfter})
	}
	r.mu.RUnlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return consign.Errorf(consign.ErrInvalid, "Keyring.Save", path, "encoding: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return consign.Errorf(consign.ErrUnavailable, "Keyring.Save", path, "%w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; rename is durable enough
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadKeyring reads a keyring written by Save. Rotate on the result uses
// crypto/rand. A missing file is ErrNotFound, an unreadable one
// ErrPermissionDenied or ErrUnavailable, and a malformed one ErrInvalid
// with a *consign.ValidationError naming the field (e.g. "Keyring.Format",
// "Keyring.Keys[1].ID") and the rule.
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, consign.Errorf(consign.ErrNotFound, "LoadKeyring", path, "%w", err)
	case errors.Is(err, fs.ErrPermission):
		return nil, consign.Errorf(consign.ErrPermissionDenied, "LoadKeyring", path, "%w", err)
	case err != nil:
		return nil, consign.Errorf(consign.ErrUnavailable, "LoadKeyring", path, "%w", err)
	}
	return parseKeyring(data)
}

func parseKeyring(data []byte) (*Keyring, error) {
	var f keyringFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, &consign.ValidationError{Field: "Keyring", Rule: "a JSON keyring file (" + err.Error() + ")"}
	}
	if f.Format != keyringFormat {
		return nil, &consign.ValidationError{Field: "Keyring.Format", Value: f.Format,
			Rule: fmt.Sprintf("%d, the only format this version reads", keyringFormat)}
	}
	var p consign.Problems
	if len(f.Keys) == 0 {
		p.Add("Keyring.Keys", "at least one key (the active one)")
	}
	r := &Keyring{}
	seen := make(map[string]int, len(f.Keys))
	for i, fk := range f.Keys {
		field := fmt.Sprintf("Keyring.Keys[%d]", i)
		before := p.Len()
		pk := PublicKey{ID: fk.ID, Key: fk.Public}
		pk.check(&p, field)
		if j, dup := seen[fk.ID]; dup {
			p.AddValue(field+".ID", fk.ID, fmt.Sprintf("unique (same as Keys[%d])", j))
		}
		seen[fk.ID] = i
		k := Key{ID: fk.ID, Public: ed25519.PublicKey(fk.Public), Created: fk.Created, NotAfter: fk.NotAfter}
		if i == 0 {
			switch {
			case len(fk.Seed) != ed25519.SeedSize:
				p.AddValue(field+".Seed", len(fk.Seed), fmt.Sprintf("%d bytes: the active key's private seed", ed25519.SeedSize))
			case p.Len() == before:
				sk := keyFromSeed(fk.Seed, fk.Created)
				if !bytes.Equal(sk.Public, fk.Public) {
					p.Add(field+".Seed", "the seed of Public")
				}
				k.private = sk.private
			}
			if !fk.NotAfter.IsZero() {
				p.Add(field+".NotAfter", "absent on the active key")
			}
			r.active = k
			continue
		}
		if len(fk.Seed) != 0 {
			p.Add(field+".Seed", "absent on a verify-only key")
		}
		r.old = append(r.old, k)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return r, nil
}
