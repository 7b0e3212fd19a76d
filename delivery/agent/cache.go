package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
)

// DefaultCacheBytes is the client cache size when CacheOptions.MaxBytes is
// zero: ConfigMgr's default of 5120 MB (§3.4), in MiB as ConfigMgr counts.
const DefaultCacheBytes int64 = 5120 << 20

// DefaultMinRetention is how long content stays in the cache after it was
// last referenced before it may be evicted, when CacheOptions.MinRetention
// is zero: "at least 1 day" (§3.4).
const DefaultMinRetention = 24 * time.Hour

// CacheOptions tunes a Cache. A nil *CacheOptions, like the zero value,
// gives ConfigMgr's defaults.
type CacheOptions struct {
	// MaxBytes is the cache size: the most bytes its entries may reserve
	// together. Zero means DefaultCacheBytes; it must not be negative.
	MaxBytes int64
	// MinRetention is how long after its last reference (Reserve, Touch,
	// or the release of a reservation) an entry is kept before it may be
	// evicted. Zero means DefaultMinRetention; a negative value means none,
	// so any unpinned entry may be evicted.
	MinRetention time.Duration
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
}

// Cache is the client cache (§3.4): one directory per package version, named
// "<PackageID>.<SourceVersion>" inside the cache directory, with an index of
// sizes, last-use times and persist flags kept in the State, so it survives
// restarts.
//
// Space is accounted by reservation: Reserve claims the content's size (from
// the manifest) before the download, and the cache keeps the sum of
// reservations, Used, within MaxBytes. To make room, Reserve evicts
// least-recently-used entries that are
//   - not marked persist ("Persist content in client cache" is never
//     evicted),
//   - not in use (reserved and not yet released), and
//   - not referenced within MinRetention.
//
// A package larger than the whole cache fails with a *CacheSpaceError whose
// TooSmall is set (status 10050, not retried); a cache too full of content
// that cannot be evicted yet fails with one whose TooSmall is clear, to be
// retried later (§3.4: every 4 hours, up to 18 times).
//
// The cache directory belongs to the cache: OpenCache removes directories in
// it that look like entries but are not in the index (left by a crash during
// an eviction), and drops index entries whose directory has vanished.
// Nothing outside the cache directory is ever deleted. In-use counts are kept
// in memory only: a restarted agent holds no reservations.
//
// Only one Cache may be open over a State at a time; a Cache is safe for
// concurrent use.
type Cache struct {
	st     *State
	dir    string
	max    int64
	minRet time.Duration
	now    func() time.Time

	mu      sync.Mutex
	closed  bool
	entries map[string]*cacheEntry // by entry name
	used    int64
}

type cacheEntry struct {
	pkgID    consign.ObjectID
	version  uint32
	size     int64
	lastUsed time.Time
	persist  bool
	inUse    int
}

// CacheEntry describes one package version in the cache.
type CacheEntry struct {
	PackageID consign.ObjectID
	Version   uint32
	Dir       string    // the entry's directory
	Size      int64     // bytes reserved
	LastUsed  time.Time // last reference
	Persist   bool      // never evicted
	InUse     int       // reservations not yet released
}

// CacheSpaceError is a reservation the cache cannot make room for.
//
// With TooSmall set, the content is larger than the whole cache (status
// 10050, "cache too small"): it matches consign.ErrFailedPrecondition and
// will not fit until the cache is enlarged. Otherwise the cache is full of
// content that may not be evicted yet (persisted, in use, or referenced
// within MinRetention): it matches consign.ErrUnavailable and may fit later.
type CacheSpaceError struct {
	PackageID consign.ObjectID
	Version   uint32
	Size      int64 // bytes the reservation needs
	MaxBytes  int64 // the cache size
	Free      int64 // bytes not reserved by other entries
	Evictable int64 // bytes of other entries that could be evicted now
	TooSmall  bool
	// Retention is the cache's MinRetention, to explain what is held.
	Retention time.Duration
}

// Error names the sizes.
func (e *CacheSpaceError) Error() string {
	if e.TooSmall {
		return fmt.Sprintf("cache too small: package %s version %d needs %d bytes, more than the whole cache of %d bytes",
			e.PackageID, e.Version, e.Size, e.MaxBytes)
	}
	held := "persisted or in use"
	if e.Retention > 0 {
		held = "persisted, in use, or referenced within the last " + e.Retention.String()
	}
	return fmt.Sprintf("cache full: package %s version %d needs %d bytes; %d of the cache's %d bytes are free and %d more can be evicted (the rest is %s)",
		e.PackageID, e.Version, e.Size, e.Free, e.MaxBytes, e.Evictable, held)
}

// Is matches consign.ErrFailedPrecondition when TooSmall, and
// consign.ErrUnavailable otherwise.
func (e *CacheSpaceError) Is(target error) bool {
	if e.TooSmall {
		return target == consign.ErrFailedPrecondition
	}
	return target == consign.ErrUnavailable
}

// Event returns the status event the agent reports for e:
// advertisement.EventCacheTooSmall (10050, Failed) when TooSmall, and
// advertisement.EventRetrying otherwise.
func (e *CacheSpaceError) Event() advertisement.Event {
	if e.TooSmall {
		return advertisement.EventCacheTooSmall
	}
	return advertisement.EventRetrying
}

// OpenCache opens the cache in directory dir (created if missing) with its
// index in st. It drops index entries that do not decode or whose
// directory has vanished, and removes entry-like directories the index
// does not know (best effort). A second OpenCache over the same State
// before Close fails with an error matching consign.ErrFailedPrecondition.
func OpenCache(st *State, dir string, opts *CacheOptions) (*Cache, error) {
	const op = "agent.OpenCache"
	var o CacheOptions
	if opts != nil {
		o = *opts
	}
	var ps consign.Problems
	ps.Check(dir != "", "dir", "must not be empty")
	if o.MaxBytes < 0 {
		ps.AddValue("CacheOptions.MaxBytes", o.MaxBytes, "0 (the default) or more")
	}
	if err := ps.Err(); err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: dir, Err: err}
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultCacheBytes
	}
	if o.MinRetention == 0 {
		o.MinRetention = DefaultMinRetention
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: dir, Err: err}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: dir, Err: err}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cacheOpen {
		return nil, consign.Errorf(consign.ErrFailedPrecondition, op, dir, "a cache is already open over state file %s", st.path)
	}
	c := &Cache{st: st, dir: abs, max: o.MaxBytes, minRet: o.MinRetention, now: o.Clock, entries: map[string]*cacheEntry{}}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.sweep()
	st.cacheOpen = true
	return c, nil
}

// storedCacheEntry is an index value.
type storedCacheEntry struct {
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"used"`
	Persist  bool      `json:"persist,omitempty"`
}

// load reads the index, dropping entries that do not decode or whose
// directory is gone.
func (c *Cache) load() error {
	const op = "agent.OpenCache"
	var drop [][]byte
	err := c.st.view(op, c.dir, func(tx *bolt.Tx) error {
		return tx.Bucket(cacheBucket).ForEach(func(k, v []byte) error {
			pid, ver, ok := parseEntryName(string(k))
			var s storedCacheEntry
			if !ok || json.Unmarshal(v, &s) != nil || s.Size < 0 {
				drop = append(drop, append([]byte{}, k...))
				return nil
			}
			if fi, err := os.Stat(filepath.Join(c.dir, string(k))); err != nil || !fi.IsDir() {
				drop = append(drop, append([]byte{}, k...))
				return nil
			}
			c.entries[string(k)] = &cacheEntry{pkgID: pid, version: ver, size: s.Size, lastUsed: s.LastUsed, persist: s.Persist}
			c.used += s.Size
			return nil
		})
	})
	if err != nil || len(drop) == 0 {
		return err
	}
	return c.st.update(op, c.dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// sweep removes entry-like directories the index does not know: content
// left behind by an eviction interrupted after its index commit. Failures
// are left for the next open.
func (c *Cache) sweep() {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		if _, _, ok := parseEntryName(name); !ok || c.entries[name] != nil {
			continue
		}
		if p, ok := c.inside(name); ok {
			_ = os.RemoveAll(p)
		}
	}
}

// entryName is the directory (and index key) of a package version:
// "<PackageID>.<SourceVersion>", as in ConfigMgr's cache folders.
func entryName(pkgID consign.ObjectID, version uint32) string {
	return string(pkgID) + "." + strconv.FormatUint(uint64(version), 10)
}

// parseEntryName is the inverse of entryName; it accepts only the canonical
// form (upper-case ID, version from 1 without leading zeros).
func parseEntryName(name string) (consign.ObjectID, uint32, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", 0, false
	}
	pid := consign.ObjectID(name[:i])
	if pid.Validate() != nil || strings.ToUpper(string(pid)) != string(pid) {
		return "", 0, false
	}
	v, err := strconv.ParseUint(name[i+1:], 10, 32)
	if err != nil || v == 0 || entryName(pid, uint32(v)) != name {
		return "", 0, false
	}
	return pid, uint32(v), true
}

// inside returns the path of entry name in the cache directory, and false
// if that path would not be directly inside it (never true for a name from
// entryName; checked anyway, since the cache deletes what it finds there).
func (c *Cache) inside(name string) (string, bool) {
	p := filepath.Join(c.dir, name)
	return p, filepath.Dir(p) == c.dir && filepath.Base(p) == name
}

// key checks and normalises a package version.
func cacheKey(op string, pkgID consign.ObjectID, version uint32) (consign.ObjectID, string, error) {
	var ps consign.Problems
	pid, err := consign.ParseObjectID(string(pkgID))
	if err != nil {
		ps.AddValue("PackageID", string(pkgID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	ps.Check(version >= 1, "Version", "1 or more (the first SourceVersion)")
	if err := ps.Err(); err != nil {
		return "", "", &consign.Error{Code: consign.ErrInvalid, Op: op, Key: fmt.Sprintf("%s.%d", pkgID, version), Err: err}
	}
	return pid, entryName(pid, version), nil
}

// Dir returns the cache directory, as an absolute path.
func (c *Cache) Dir() string { return c.dir }

// MaxBytes returns the cache size.
func (c *Cache) MaxBytes() int64 { return c.max }

// Reserve claims size bytes for version of package pkgID and returns the
// entry's directory (created if missing), pinned against eviction until
// release is called. release is safe to call more than once and from any
// goroutine; it records the time as the entry's last reference.
//
// Reserving a version already in the cache pins it again, returns the same
// directory (keeping what is in it), sets its size and persist flag to the
// new values and counts as a reference. When the cache lacks room, Reserve
// evicts unpinned, unpersisted entries not referenced within MinRetention,
// least recently used first, and only as many as needed; when even that is
// not enough it evicts nothing and fails with a *CacheSpaceError. A bad
// package ID, version or size gives an error matching consign.ErrInvalid.
func (c *Cache) Reserve(pkgID consign.ObjectID, version uint32, size int64, persist bool) (dir string, release func(), err error) {
	const op = "agent.Cache.Reserve"
	pid, name, err := cacheKey(op, pkgID, version)
	if err != nil {
		return "", nil, err
	}
	if size < 0 {
		return "", nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: name,
			Err: &consign.ValidationError{Field: "size", Value: size, Rule: "0 or more"}}
	}
	path, _ := c.inside(name)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", nil, consign.Errorf(consign.ErrUnavailable, op, name, "cache is closed")
	}
	if size > c.max {
		return "", nil, &CacheSpaceError{PackageID: pid, Version: version, Size: size, MaxBytes: c.max, TooSmall: true, Retention: c.retention()}
	}
	now := c.now()
	e := c.entries[name]
	var cur int64
	if e != nil {
		cur = e.size
	}
	victims, err := c.victims(name, pid, version, size, cur, now)
	if err != nil {
		return "", nil, err
	}

	rec, err := json.Marshal(storedCacheEntry{Size: size, LastUsed: now.UTC(), Persist: persist})
	if err != nil {
		return "", nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: name, Err: err}
	}
	err = c.st.update(op, name, func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		for _, v := range victims {
			if err := b.Delete([]byte(v)); err != nil {
				return err
			}
		}
		return b.Put([]byte(name), rec)
	})
	if err != nil {
		return "", nil, err
	}
	var errs []error
	for _, v := range victims {
		c.used -= c.entries[v].size
		delete(c.entries, v)
		if p, ok := c.inside(v); ok {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	isNew := e == nil
	if isNew {
		e = &cacheEntry{pkgID: pid, version: version}
		c.entries[name] = e
	}
	c.used += size - e.size
	e.size, e.persist, e.lastUsed = size, persist, now.UTC()
	if err := os.MkdirAll(path, 0o755); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// The evictions stand (their leftovers are swept at the next
		// open); the new reservation is undone.
		if isNew {
			c.used -= e.size
			delete(c.entries, name)
			_ = c.st.update(op, name, func(tx *bolt.Tx) error { return tx.Bucket(cacheBucket).Delete([]byte(name)) })
		}
		return "", nil, consign.Errorf(consign.ErrUnavailable, op, name, "making room in %s: %w", c.dir, errors.Join(errs...))
	}
	e.inUse++
	var once sync.Once
	return path, func() { once.Do(func() { c.release(name, e) }) }, nil
}

// retention returns MinRetention, or 0 when there is none.
func (c *Cache) retention() time.Duration { return max(c.minRet, 0) }

// victims picks the entries to evict so that an entry name of cur bytes
// can grow to size bytes, or returns a *CacheSpaceError. c.mu is held.
func (c *Cache) victims(name string, pid consign.ObjectID, version uint32, size, cur int64, now time.Time) ([]string, error) {
	free := c.max - (c.used - cur)
	if size <= free {
		return nil, nil
	}
	var cands []string
	var evictable int64
	for k, x := range c.entries {
		if k == name || x.persist || x.inUse > 0 || (c.minRet > 0 && now.Before(x.lastUsed.Add(c.minRet))) {
			continue
		}
		cands = append(cands, k)
		evictable += x.size
	}
	if free+evictable < size {
		return nil, &CacheSpaceError{PackageID: pid, Version: version, Size: size, MaxBytes: c.max,
			Free: max(free, 0), Evictable: evictable, Retention: c.retention()}
	}
	slices.SortFunc(cands, func(a, b string) int {
		if d := c.entries[a].lastUsed.Compare(c.entries[b].lastUsed); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, k := range cands {
		if size <= free {
			break
		}
		out = append(out, k)
		free += c.entries[k].size
	}
	return out, nil
}

// release ends one reservation of entry e named name.
func (c *Cache) release(name string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[name] != e || e.inUse == 0 {
		return
	}
	e.inUse--
	e.lastUsed = c.now().UTC()
	if !c.closed {
		// Best effort: if this write fails the index keeps the time of the
		// Reserve, which only lets the entry be evicted a little sooner.
		_ = c.putIndex("agent.Cache.release", name, e)
	}
}

// putIndex writes e's index record.
func (c *Cache) putIndex(op, name string, e *cacheEntry) error {
	rec, err := json.Marshal(storedCacheEntry{Size: e.size, LastUsed: e.lastUsed, Persist: e.persist})
	if err != nil {
		return &consign.Error{Code: consign.ErrInvalid, Op: op, Key: name, Err: err}
	}
	return c.st.update(op, name, func(tx *bolt.Tx) error { return tx.Bucket(cacheBucket).Put([]byte(name), rec) })
}

// Lookup returns the directory of version of package pkgID and true when
// the cache holds it and its directory exists. It does not count as a
// reference (see Touch) and does not pin the entry (see Reserve).
func (c *Cache) Lookup(pkgID consign.ObjectID, version uint32) (string, bool) {
	_, name, err := cacheKey("agent.Cache.Lookup", pkgID, version)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	e := c.entries[name]
	c.mu.Unlock()
	if e == nil {
		return "", false
	}
	path, _ := c.inside(name)
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		return "", false
	}
	return path, true
}

// Touch records a reference to version of package pkgID now, which keeps it
// from eviction for MinRetention and moves it to the back of the LRU order.
// A version not in the cache gives an error matching consign.ErrNotFound.
func (c *Cache) Touch(pkgID consign.ObjectID, version uint32) error {
	const op = "agent.Cache.Touch"
	c.mu.Lock()
	defer c.mu.Unlock()
	name, e, err := c.entryLocked(op, pkgID, version)
	if err != nil {
		return err
	}
	prev := e.lastUsed
	e.lastUsed = c.now().UTC()
	if err := c.putIndex(op, name, e); err != nil {
		e.lastUsed = prev
		return err
	}
	return nil
}

// Remove deletes version of package pkgID and its directory, persisted or
// not. A version not in the cache gives an error matching
// consign.ErrNotFound, and one in use (reserved, not released) an error
// matching consign.ErrFailedPrecondition.
func (c *Cache) Remove(pkgID consign.ObjectID, version uint32) error {
	const op = "agent.Cache.Remove"
	c.mu.Lock()
	defer c.mu.Unlock()
	name, e, err := c.entryLocked(op, pkgID, version)
	if err != nil {
		return err
	}
	if e.inUse > 0 {
		return consign.Errorf(consign.ErrFailedPrecondition, op, name, "in use by %d reservations", e.inUse)
	}
	if err := c.st.update(op, name, func(tx *bolt.Tx) error { return tx.Bucket(cacheBucket).Delete([]byte(name)) }); err != nil {
		return err
	}
	c.used -= e.size
	delete(c.entries, name)
	if p, ok := c.inside(name); ok {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return consign.Errorf(consign.ErrUnavailable, op, name, "removed from the index, but not from disk (swept at the next open): %w", err)
		}
	}
	return nil
}

// entryLocked finds the entry of version of package pkgID for op: an
// invalid ID, a closed cache and a version not in the cache are errors.
// c.mu must be held.
func (c *Cache) entryLocked(op string, pkgID consign.ObjectID, version uint32) (string, *cacheEntry, error) {
	_, name, err := cacheKey(op, pkgID, version)
	if err != nil {
		return "", nil, err
	}
	if c.closed {
		return name, nil, consign.Errorf(consign.ErrUnavailable, op, name, "cache is closed")
	}
	e := c.entries[name]
	if e == nil {
		return name, nil, consign.Errorf(consign.ErrNotFound, op, name, "not in the cache")
	}
	return name, e, nil
}

// Entries returns every entry, ordered by package ID and version.
func (c *Cache) Entries() []CacheEntry {
	c.mu.Lock()
	out := make([]CacheEntry, 0, len(c.entries))
	for name, e := range c.entries {
		p, _ := c.inside(name)
		out = append(out, CacheEntry{PackageID: e.pkgID, Version: e.version, Dir: p, Size: e.size,
			LastUsed: e.lastUsed, Persist: e.persist, InUse: e.inUse})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b CacheEntry) int {
		if d := strings.Compare(string(a.PackageID), string(b.PackageID)); d != 0 {
			return d
		}
		return int(int64(a.Version) - int64(b.Version))
	})
	return out
}

// Used returns the bytes reserved by all entries. It stays within MaxBytes,
// except after a reopen with a smaller MaxBytes, until enough is evicted.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Close ends the cache's use of its State, so another Cache may be opened
// over it. Reservations still held are dropped. Closing twice is harmless.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.st.mu.Lock()
	c.st.cacheOpen = false
	c.st.mu.Unlock()
	return nil
}
