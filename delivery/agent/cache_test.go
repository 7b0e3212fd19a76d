package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
)

// openTestCache opens a cache over st in a fresh directory.
func openTestCache(t testing.TB, st *State, dir string, o CacheOptions) *Cache {
	t.Helper()
	c, err := OpenCache(st, dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// entryNames lists the cache's entries as "<PackageID>.<Version>".
func entryNames(c *Cache) []string {
	var out []string
	for _, e := range c.Entries() {
		out = append(out, entryName(e.PackageID, e.Version))
	}
	return out
}

// diskNames lists the entry-like directories in the cache directory.
func diskNames(t testing.TB, c *Cache) []string {
	t.Helper()
	des, err := os.ReadDir(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if _, _, ok := parseEntryName(de.Name()); ok && de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

func TestCacheEviction(t *testing.T) {
	type setup struct {
		pkg     consign.ObjectID
		size    int64
		at      time.Duration // when it was reserved (and released)
		persist bool
		hold    bool // not released
	}
	lru := []setup{{"CEN0000A", 30, 1 * time.Hour, false, false}, {"CEN0000B", 30, 2 * time.Hour, false, false}, {"CEN0000C", 30, 3 * time.Hour, false, false}}
	tests := []struct {
		name      string
		retention time.Duration
		setup     []setup
		reserve   int64
		now       time.Duration
		evicted   []string // names evicted by the reservation
		full      bool     // cache full error
		tooSmall  bool     // cache too small error
	}{
		{name: "fits without eviction", retention: -1, setup: lru[:2], reserve: 40, now: 4 * time.Hour},
		{name: "exactly fills", retention: -1, setup: lru, reserve: 10, now: 4 * time.Hour},
		{name: "evicts the least recently used", retention: -1, setup: lru, reserve: 40, now: 4 * time.Hour, evicted: []string{"CEN0000A.1"}},
		{name: "evicts only as many as needed", retention: -1, setup: lru, reserve: 60, now: 4 * time.Hour, evicted: []string{"CEN0000A.1", "CEN0000B.1"}},
		{name: "persisted is never evicted", retention: -1, reserve: 40, now: 4 * time.Hour, evicted: []string{"CEN0000B.1"},
			setup: []setup{{"CEN0000A", 30, 1 * time.Hour, true, false}, lru[1], lru[2]}},
		{name: "in use is never evicted", retention: -1, reserve: 40, now: 4 * time.Hour, evicted: []string{"CEN0000B.1"},
			setup: []setup{{"CEN0000A", 30, 1 * time.Hour, false, true}, lru[1], lru[2]}},
		{name: "too small", retention: -1, setup: lru, reserve: 101, now: 4 * time.Hour, tooSmall: true},
		{name: "too small when empty", retention: -1, reserve: 101, now: 4 * time.Hour, tooSmall: true},
		{name: "full of persisted and in-use content", retention: -1, reserve: 10, now: 4 * time.Hour, full: true,
			setup: []setup{{"CEN0000A", 50, 1 * time.Hour, true, false}, {"CEN0000B", 50, 1 * time.Hour, false, true}}},
		{name: "full: evicting everything evictable is not enough", retention: -1, reserve: 70, now: 4 * time.Hour, full: true,
			setup: []setup{{"CEN0000A", 50, 1 * time.Hour, true, false}, {"CEN0000B", 40, 1 * time.Hour, false, false}}},
		{name: "content referenced within a day stays", retention: 24 * time.Hour, setup: lru, reserve: 40, now: 25*time.Hour + 30*time.Minute,
			evicted: []string{"CEN0000A.1"}},
		{name: "content referenced within a day makes the cache full", retention: 24 * time.Hour, setup: lru, reserve: 70, now: 25*time.Hour + 30*time.Minute,
			full: true},
		{name: "a day after the last reference is evictable", retention: 24 * time.Hour, setup: lru, reserve: 70, now: 26 * time.Hour,
			evicted: []string{"CEN0000A.1", "CEN0000B.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := openTestState(t)
			clk := NewSimClock(t0)
			c := openTestCache(t, st, t.TempDir(), CacheOptions{MaxBytes: 100, MinRetention: tt.retention, Clock: clk.Now})
			for _, s := range tt.setup {
				clk.t = t0.Add(s.at)
				_, release, err := c.Reserve(s.pkg, 1, s.size, s.persist)
				if err != nil {
					t.Fatal(err)
				}
				if !s.hold {
					release()
				}
			}
			before := entryNames(c)
			usedBefore := c.Used()
			clk.t = t0.Add(tt.now)
			dir, release, err := c.Reserve("CEN000FF", 1, tt.reserve, false)
			var se *CacheSpaceError
			switch {
			case tt.tooSmall || tt.full:
				if !errors.As(err, &se) || se.TooSmall != tt.tooSmall {
					t.Fatalf("Reserve = %v; want *CacheSpaceError with TooSmall %v", err, tt.tooSmall)
				}
				wantCode := consign.ErrUnavailable
				if tt.tooSmall {
					wantCode = consign.ErrFailedPrecondition
				}
				if !errors.Is(err, wantCode) || release != nil || dir != "" {
					t.Errorf("Reserve = %q, %v; want no dir and an error matching %v", dir, err, wantCode)
				}
				if se.Size != tt.reserve || se.MaxBytes != 100 || !strings.Contains(err.Error(), "100 bytes") {
					t.Errorf("error %+v (%v) does not name the sizes", se, err)
				}
				if got := entryNames(c); !slices.Equal(got, before) || c.Used() != usedBefore {
					t.Errorf("a failed Reserve changed the cache: %v (used %d); was %v (used %d)", got, c.Used(), before, usedBefore)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			defer release()
			if dir != filepath.Join(c.Dir(), "CEN000FF.1") {
				t.Errorf("dir = %q", dir)
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Errorf("entry directory: %v", err)
			}
			want := append(slices.DeleteFunc(slices.Clone(before), func(n string) bool { return slices.Contains(tt.evicted, n) }), "CEN000FF.1")
			if got := entryNames(c); !slices.Equal(got, want) {
				t.Errorf("entries after Reserve = %v; want %v", got, want)
			}
			if got := diskNames(t, c); !slices.Equal(got, want) {
				t.Errorf("directories after Reserve = %v; want %v", got, want)
			}
			if c.Used() > c.MaxBytes() {
				t.Errorf("Used %d > MaxBytes %d", c.Used(), c.MaxBytes())
			}
		})
	}
}

func TestCacheSpaceErrorEvent(t *testing.T) {
	if got := (&CacheSpaceError{TooSmall: true}).Event(); got != advertisement.EventCacheTooSmall || got.MessageID() != 10050 {
		t.Errorf("too small: %v (%d); want CacheTooSmall (10050)", got, got.MessageID())
	}
	if got := (&CacheSpaceError{}).Event(); got != advertisement.EventRetrying {
		t.Errorf("full: %v; want Retrying", got)
	}
}

func TestCacheReopen(t *testing.T) {
	st, _ := openTestState(t)
	clk := NewSimClock(t0)
	dir := t.TempDir()
	c := openTestCache(t, st, dir, CacheOptions{MaxBytes: 1000, Clock: clk.Now})
	d1, rel1, err := c.Reserve("CEN00001", 2, 100, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d1, "setup.msi"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	rel1()
	rel1()                                            // harmless
	d2, _, err := c.Reserve("CEN00002", 1, 50, false) // still held at close
	if err != nil {
		t.Fatal(err)
	}
	before := c.Entries()
	if before[0].InUse != 0 || before[1].InUse != 1 {
		t.Fatalf("in use = %d, %d; want 0, 1", before[0].InUse, before[1].InUse)
	}
	c.Close()
	st = reopen(t, st)
	// Remove one entry's directory behind the cache's back, and leave an
	// orphan and unrelated files.
	if err := os.RemoveAll(d2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"CEN0000F.4", "notes"} {
		if err := os.MkdirAll(filepath.Join(dir, p, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}

	c = openTestCache(t, st, dir, CacheOptions{MaxBytes: 1000, Clock: clk.Now})
	after := c.Entries()
	if len(after) != 1 {
		t.Fatalf("after reopen %d entries; want 1 (the vanished one dropped): %+v", len(after), after)
	}
	e := after[0]
	if e.PackageID != "CEN00001" || e.Version != 2 || e.Size != 100 || !e.Persist || e.InUse != 0 || !e.LastUsed.Equal(t0.Add(time.Minute)) || e.Dir != d1 {
		t.Errorf("entry after reopen = %+v; want %+v", e, before[0])
	}
	if c.Used() != 100 {
		t.Errorf("Used = %d; want 100", c.Used())
	}
	if _, err := os.Stat(filepath.Join(d1, "setup.msi")); err != nil {
		t.Errorf("content lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "CEN0000F.4")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan entry directory not swept: %v", err)
	}
	for _, p := range []string{"notes/x", "readme.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("unrelated %s removed: %v", p, err)
		}
	}
	if got, ok := c.Lookup("CEN00001", 2); !ok || got != d1 {
		t.Errorf("Lookup = %q, %v; want %q, true", got, ok, d1)
	}
	if _, ok := c.Lookup("CEN00002", 1); ok {
		t.Error("Lookup found the vanished entry")
	}
}

func TestCacheReserveExisting(t *testing.T) {
	st, _ := openTestState(t)
	clk := NewSimClock(t0)
	c := openTestCache(t, st, t.TempDir(), CacheOptions{MaxBytes: 100, MinRetention: -1, Clock: clk.Now})
	d1, rel1, err := c.Reserve("CEN00001", 1, 60, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d1, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d2, rel2, err := c.Reserve("cen00001", 1, 60, true) // same entry, lower case ID
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("second Reserve dir %q; want %q", d2, d1)
	}
	if _, err := os.Stat(filepath.Join(d1, "f")); err != nil {
		t.Fatalf("re-reserving lost content: %v", err)
	}
	es := c.Entries()
	if len(es) != 1 || es[0].InUse != 2 || !es[0].Persist || c.Used() != 60 {
		t.Fatalf("entries %+v, used %d; want one entry in use twice, persisted, 60 bytes", es, c.Used())
	}
	rel1()
	rel2()
	if es := c.Entries(); es[0].InUse != 0 {
		t.Fatalf("in use %d after both releases", es[0].InUse)
	}
	// Growing the entry is checked against the rest of the cache only.
	if _, rel, err := c.Reserve("CEN00001", 1, 100, true); err != nil {
		t.Fatalf("growing to the whole cache: %v", err)
	} else {
		rel()
	}
	if c.Used() != 100 {
		t.Errorf("Used = %d; want 100", c.Used())
	}
}

func TestCacheTouchMovesLRU(t *testing.T) {
	st, _ := openTestState(t)
	clk := NewSimClock(t0)
	c := openTestCache(t, st, t.TempDir(), CacheOptions{MaxBytes: 100, MinRetention: -1, Clock: clk.Now})
	for _, id := range []consign.ObjectID{"CEN0000A", "CEN0000B"} {
		clk.Advance(time.Hour)
		_, rel, err := c.Reserve(id, 1, 50, false)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	clk.Advance(time.Hour)
	if err := c.Touch("CEN0000A", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Reserve("CEN0000C", 1, 50, false); err != nil {
		t.Fatal(err)
	}
	if got := entryNames(c); !slices.Equal(got, []string{"CEN0000A.1", "CEN0000C.1"}) {
		t.Errorf("entries = %v; want A (touched) and C", got)
	}
	if err := c.Touch("CEN0000B", 1); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("Touch of an evicted entry = %v; want ErrNotFound", err)
	}
}

func TestCacheRemove(t *testing.T) {
	st, _ := openTestState(t)
	c := openTestCache(t, st, t.TempDir(), CacheOptions{MaxBytes: 100})
	dir, rel, err := c.Reserve("CEN00001", 1, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("CEN00001", 1); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Fatalf("Remove of an entry in use = %v; want ErrFailedPrecondition", err)
	}
	rel()
	if err := c.Remove("CEN00001", 1); err != nil {
		t.Fatalf("Remove of a persisted entry: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory still there: %v", err)
	}
	if c.Used() != 0 || len(c.Entries()) != 0 {
		t.Errorf("used %d, entries %v after Remove", c.Used(), c.Entries())
	}
	if err := c.Remove("CEN00001", 1); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("second Remove = %v; want ErrNotFound", err)
	}
	rel() // after Remove: harmless
}

func TestCacheInvalidInput(t *testing.T) {
	st, _ := openTestState(t)
	base := t.TempDir()
	c := openTestCache(t, st, filepath.Join(base, "cache"), CacheOptions{MaxBytes: 100})
	victim := filepath.Join(base, "precious")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      consign.ObjectID
		version uint32
		size    int64
		field   string
	}{
		{"../precious", 1, 1, "PackageID"},
		{"CEN/0001", 1, 1, "PackageID"},
		{"", 1, 1, "PackageID"},
		{"CEN00001", 0, 1, "Version"},
		{"CEN00001", 1, -1, "size"},
	}
	for _, tt := range tests {
		_, _, err := c.Reserve(tt.id, tt.version, tt.size, false)
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("Reserve(%q, %d, %d) = %v; want ErrInvalid naming %s", tt.id, tt.version, tt.size, err, tt.field)
		}
		if err := c.Remove(tt.id, tt.version); tt.field != "size" && !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("Remove(%q, %d) = %v; want ErrInvalid", tt.id, tt.version, err)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("a directory outside the cache was touched: %v", err)
	}
	if _, err := OpenCache(st, "", nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("OpenCache(\"\") = %v; want ErrInvalid", err)
	}
	if _, err := OpenCache(st, t.TempDir(), &CacheOptions{MaxBytes: -1}); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("OpenCache(MaxBytes -1) = %v; want ErrInvalid", err)
	}
}

func TestCacheOnePerState(t *testing.T) {
	st, _ := openTestState(t)
	c := openTestCache(t, st, t.TempDir(), CacheOptions{})
	if c.MaxBytes() != DefaultCacheBytes || DefaultCacheBytes != 5120*1024*1024 {
		t.Errorf("default size %d", c.MaxBytes())
	}
	if _, err := OpenCache(st, t.TempDir(), nil); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Fatalf("second OpenCache = %v; want ErrFailedPrecondition", err)
	}
	c.Close()
	if _, _, err := c.Reserve("CEN00001", 1, 1, false); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Reserve after Close = %v; want ErrUnavailable", err)
	}
	c2, err := OpenCache(st, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("OpenCache after Close: %v", err)
	}
	c2.Close()
}

func TestCacheConcurrent(t *testing.T) {
	st, _ := openTestState(t)
	c := openTestCache(t, st, t.TempDir(), CacheOptions{MaxBytes: 100, MinRetention: -1})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 30 {
				id := consign.NewObjectID("CEN", uint32(g*100+i%5))
				_, rel, err := c.Reserve(id, 1, int64(10+i%3*10), i%7 == 0)
				if err != nil {
					var se *CacheSpaceError
					if !errors.As(err, &se) {
						t.Error(err)
					}
					continue
				}
				if u := c.Used(); u > 100 {
					t.Errorf("Used %d > 100", u)
				}
				rel()
			}
		})
	}
	wg.Wait()
	var sum int64
	for _, e := range c.Entries() {
		sum += e.Size
		if e.InUse != 0 {
			t.Errorf("%s.%d still in use", e.PackageID, e.Version)
		}
	}
	if sum != c.Used() || sum > 100 {
		t.Errorf("sum of entries %d, Used %d, max 100", sum, c.Used())
	}
}

// TestCacheProperties drives the cache with random reservations, releases,
// touches, removals, clock moves and reopens, and checks after each step
// that Used stays within MaxBytes and matches the entries and directories,
// that persisted and pinned entries are never evicted, that evictions take
// the least recently used evictable entries and no more than needed, and
// that a refusal is right about the space.
func TestCacheProperties(t *testing.T) {
	const maxBytes = 100
	rapid.Check(t, func(rt *rapid.T) {
		st, _ := openTestState(t)
		dir := t.TempDir()
		clk := NewSimClock(t0)
		retention := rapid.SampledFrom([]time.Duration{-1, time.Hour}).Draw(rt, "retention")
		opts := CacheOptions{MaxBytes: maxBytes, MinRetention: retention, Clock: clk.Now}
		c := openTestCache(t, st, dir, opts)
		ids := []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003", "CEN00004", "CEN00005"}
		type hold struct {
			name    string
			release func()
		}
		var holds []hold
		removed := map[string]bool{} // names removed by Remove since last seen persisted
		var persistedSeen []string   // persisted entries at the last check

		evictable := func(e CacheEntry, now time.Time, except string) bool {
			return entryName(e.PackageID, e.Version) != except && !e.Persist && e.InUse == 0 &&
				(retention <= 0 || !now.Before(e.LastUsed.Add(retention)))
		}
		rt.Repeat(map[string]func(*rapid.T){
			"reserve": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				ver := uint32(rapid.IntRange(1, 2).Draw(rt, "version"))
				size := rapid.OneOf(rapid.Int64Range(1, 40), rapid.Int64Range(0, maxBytes+10)).Draw(rt, "size")
				persist := rapid.Bool().Draw(rt, "persist")
				name := entryName(id, ver)
				before := c.Entries()
				now := clk.Now()
				var used, cur, ev int64
				for _, e := range before {
					used += e.Size
					if entryName(e.PackageID, e.Version) == name {
						cur = e.Size
					}
					if evictable(e, now, name) {
						ev += e.Size
					}
				}
				_, rel, err := c.Reserve(id, ver, size, persist)
				var se *CacheSpaceError
				switch {
				case size > maxBytes:
					if !errors.As(err, &se) || !se.TooSmall {
						rt.Fatalf("Reserve of %d > %d = %v; want too small", size, maxBytes, err)
					}
					return
				case maxBytes-(used-cur)+ev < size:
					if !errors.As(err, &se) || se.TooSmall {
						rt.Fatalf("Reserve of %d with %d used, %d evictable = %v; want cache full", size, used-cur, ev, err)
					}
					if got := c.Entries(); len(got) != len(before) {
						rt.Fatalf("a refused Reserve evicted: %v -> %v", before, got)
					}
					return
				case err != nil:
					rt.Fatalf("Reserve(%s, %d, %v): %v", name, size, persist, err)
				}
				if rapid.Bool().Draw(rt, "hold") {
					holds = append(holds, hold{name, rel})
				} else {
					rel()
				}
				// Evictions: every evicted entry was evictable; none was
				// more recently used than an evictable survivor; and the
				// last one evicted was needed.
				after := map[string]bool{}
				for _, e := range c.Entries() {
					after[entryName(e.PackageID, e.Version)] = true
				}
				var evicted, kept []CacheEntry
				for _, e := range before {
					n := entryName(e.PackageID, e.Version)
					if after[n] {
						if evictable(e, now, name) {
							kept = append(kept, e)
						}
						continue
					}
					if !evictable(e, now, name) {
						rt.Fatalf("evicted %s, which is persisted, in use or recent: %+v", n, e)
					}
					evicted = append(evicted, e)
				}
				var freed int64
				for _, e := range evicted {
					freed += e.Size
					for _, k := range kept {
						if k.LastUsed.Before(e.LastUsed) {
							rt.Fatalf("evicted %s.%d (used %v) but kept older %s.%d (used %v)", e.PackageID, e.Version, e.LastUsed, k.PackageID, k.Version, k.LastUsed)
						}
					}
				}
				if len(evicted) > 0 {
					last := evicted[0]
					for _, e := range evicted {
						if e.LastUsed.After(last.LastUsed) || e.LastUsed.Equal(last.LastUsed) && entryName(e.PackageID, e.Version) > entryName(last.PackageID, last.Version) {
							last = e
						}
					}
					if maxBytes-(used-cur)+freed-last.Size >= size {
						rt.Fatalf("evicted %s.%d although the space was already free", last.PackageID, last.Version)
					}
				}
			},
			"release": func(rt *rapid.T) {
				if len(holds) == 0 {
					rt.Skip("nothing held")
				}
				i := rapid.IntRange(0, len(holds)-1).Draw(rt, "i")
				holds[i].release()
				holds = slices.Delete(holds, i, i+1)
			},
			"touch": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				err := c.Touch(id, 1)
				if err != nil && !errors.Is(err, consign.ErrNotFound) {
					rt.Fatal(err)
				}
			},
			"remove": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				name := entryName(id, 1)
				err := c.Remove(id, 1)
				held := slices.ContainsFunc(holds, func(h hold) bool { return h.name == name })
				switch {
				case held && !errors.Is(err, consign.ErrFailedPrecondition):
					rt.Fatalf("Remove of a held entry = %v", err)
				case err == nil:
					removed[name] = true
				case !held && !errors.Is(err, consign.ErrNotFound):
					rt.Fatal(err)
				}
			},
			"advance": func(rt *rapid.T) {
				clk.Advance(time.Duration(rapid.IntRange(1, 90).Draw(rt, "minutes")) * time.Minute)
			},
			"reopen": func(rt *rapid.T) {
				for _, h := range holds {
					h.release()
				}
				holds = nil
				c.Close()
				st = reopen(t, st)
				c = openTestCache(t, st, dir, opts)
			},
			"": func(rt *rapid.T) {
				var sum int64
				for _, e := range c.Entries() {
					sum += e.Size
				}
				if c.Used() > maxBytes || c.Used() != sum {
					rt.Fatalf("Used %d, sum of entries %d, max %d", c.Used(), sum, maxBytes)
				}
				if got, want := diskNames(t, c), entryNames(c); !slices.Equal(got, want) {
					rt.Fatalf("directories %v; entries %v", got, want)
				}
				present := map[string]CacheEntry{}
				for _, e := range c.Entries() {
					present[entryName(e.PackageID, e.Version)] = e
				}
				for _, h := range holds {
					if _, ok := present[h.name]; !ok {
						rt.Fatalf("held entry %s evicted", h.name)
					}
				}
				for _, e := range persistedSeen {
					if _, ok := present[e]; !ok && !removed[e] {
						rt.Fatalf("persisted entry %s evicted", e)
					}
				}
				persistedSeen = persistedSeen[:0]
				for n, e := range present {
					if e.Persist {
						persistedSeen = append(persistedSeen, n)
						delete(removed, n)
					}
				}
			},
		})
	})
}
