package boltstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/boltstore"
	"github.com/consign/consign/delivery/storetest"
)

// holdEnv makes the test binary a helper process that holds a store open
// (see holdFile).
const holdEnv = "BOLTSTORE_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(hold(path))
	}
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// hold opens the store at path, says "ready" on stdout and keeps it open
// until stdin closes.
func hold(path string) int {
	s, err := boltstore.Open(path, nil)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		return 1
	}
	return 0
}

// holdFile starts a second process holding the store at path open, and
// returns a function that makes it close the store and exit.
func holdFile(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper process said %q, %v; want ready", line, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper process: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// openAt opens the store in the file at path, closing it when t ends.
func openAt(t testing.TB, path string, opts *boltstore.Options) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite with NoSync: the suite's concurrency cases
// take thousands of commits, and fsync only matters when the machine
// crashes, which no test here simulates. The tests below use the default,
// durable options.
func TestConformance(t *testing.T) {
	storetest.RunPersistent(t, func(t *testing.T) (delivery.Store, storetest.Reopener) {
		path := filepath.Join(t.TempDir(), "site.db")
		opts := &boltstore.Options{NoSync: true}
		s := openAt(t, path, opts)
		return s, func(t *testing.T) delivery.Store { return openAt(t, path, opts) }
	})
}

func put(kind, key, data string, index map[string]string) delivery.Write {
	return delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision,
		Record: delivery.Record{Kind: kind, Key: key, Index: index, Data: []byte(data)}}
}

func del(kind, key string) delivery.Write {
	return delivery.Write{Op: delivery.Delete, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: kind, Key: key}}
}

func mustApply(t testing.TB, s delivery.Store, writes ...delivery.Write) int64 {
	t.Helper()
	rev, err := s.Apply(context.Background(), writes)
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	return rev
}

// TestReopenRevisions closes and reopens a durable store several times:
// revisions keep increasing by one across reopens, and the feed keeps every
// record and tombstone.
func TestReopenRevisions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "site.db")
	var last int64
	var feed []delivery.Change
	for round := range 5 {
		s, err := boltstore.Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: Open = %v", round, err)
		}
		got, err := s.Changes(ctx, 0, 0)
		if err != nil || len(got) != len(feed) {
			t.Fatalf("round %d: after reopening, Changes = %d changes, %v; want %d", round, len(got), err, len(feed))
		}
		for i := range got {
			if got[i].Record.Key != feed[i].Record.Key || got[i].Record.Revision != feed[i].Record.Revision || got[i].Deleted != feed[i].Deleted {
				t.Fatalf("round %d: change %d is %+v; want %+v", round, i, got[i], feed[i])
			}
		}
		for i := range 3 {
			rev := mustApply(t, s, put("package", fmt.Sprintf("r%d-%d", round, i), "x", nil))
			if rev != last+1 {
				t.Errorf("round %d: Apply returned revision %d; want %d, one more than the last", round, rev, last+1)
			}
			last = rev
		}
		if round > 0 {
			last = mustApply(t, s, del("package", fmt.Sprintf("r%d-0", round-1)))
		}
		rev, err := s.PutBatch(ctx, nil)
		if err != nil || rev != last+1 {
			t.Errorf("round %d: PutBatch(nil) = %d, %v; want %d", round, rev, err, last+1)
		}
		last = rev
		if feed, err = s.Changes(ctx, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close = %v", round, err)
		}
	}
	if len(feed) != 15 {
		t.Errorf("after 5 rounds the feed has %d changes; want 15 (11 records and 4 tombstones)", len(feed))
	}
}

// TestHandles opens one file twice in one process: both handles share the
// database, closing one leaves the other working, and the file is released
// when the last closes.
func TestHandles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "site.db")
	a := openAt(t, path, nil)
	// Another spelling of the same path finds the same database.
	b := openAt(t, filepath.Join(dir, ".", "site.db"), nil)
	rev := mustApply(t, a, put("package", "p", "from a", nil))
	if r, err := b.Get(ctx, "package", "p"); err != nil || r.Revision != rev {
		t.Fatalf("b.Get = %+v, %v; want the record a wrote", r, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "package", "p"); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Get on a closed handle = %v; want consign.ErrUnavailable", err)
	}
	if next := mustApply(t, b, put("package", "q", "from b", nil)); next != rev+1 {
		t.Errorf("b.Apply after a closed = %d; want %d", next, rev+1)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	// The file is free: another process can open it.
	holdFile(t, path)()
}

// TestLocked opens a file that another process holds: Open waits for
// Timeout and fails with consign.ErrUnavailable naming the file, or
// succeeds once the other process lets go.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.db")
	release := holdFile(t, path)

	for _, c := range []struct {
		timeout  time.Duration
		min, max time.Duration
	}{
		{300 * time.Millisecond, 200 * time.Millisecond, 3 * time.Second},
		{-1, 0, 200 * time.Millisecond},
	} {
		start := time.Now()
		s, err := boltstore.Open(path, &boltstore.Options{Timeout: c.timeout})
		took := time.Since(start)
		if err == nil {
			s.Close()
			t.Fatalf("Open(Timeout %v) of a file another process holds succeeded", c.timeout)
		}
		if !errors.Is(err, consign.ErrUnavailable) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(Timeout %v) = %v; want consign.ErrUnavailable naming %s", c.timeout, err, path)
		}
		if took < c.min || took > c.max {
			t.Errorf("Open(Timeout %v) gave up after %v; want between %v and %v", c.timeout, took, c.min, c.max)
		}
	}

	time.AfterFunc(200*time.Millisecond, release)
	start := time.Now()
	s := openAt(t, path, &boltstore.Options{Timeout: 10 * time.Second})
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("Open while another process held the file for 200ms more returned after %v; want it to wait", took)
	}
	mustApply(t, s, put("package", "p", "x", nil))
}

// rewrite opens the closed store file with bbolt itself and runs f in a
// write transaction, to damage it the way the tests need.
func rewrite(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
}

// TestFormat checks that Open refuses files it must not use: a newer
// format, a bbolt file of something else, a file that is not bbolt.
func TestFormat(t *testing.T) {
	dir := t.TempDir()
	wantRefused := func(path, mention string) {
		t.Helper()
		s, err := boltstore.Open(path, nil)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded; want it refused", path)
		}
		if !errors.Is(err, consign.ErrFailedPrecondition) || !strings.Contains(err.Error(), mention) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v; want consign.ErrFailedPrecondition naming the file and saying %q", path, err, mention)
		}
	}

	newer := filepath.Join(dir, "newer.db")
	s := openAt(t, newer, nil)
	mustApply(t, s, put("package", "p", "x", nil))
	s.Close()
	rewrite(t, newer, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("boltstore")).Put([]byte("format"), []byte{0, 0, 0, 0, 0, 0, 0, boltstore.FormatVersion + 1})
	})
	wantRefused(newer, fmt.Sprintf("format %d, newer than format %d", boltstore.FormatVersion+1, boltstore.FormatVersion))

	other := filepath.Join(dir, "other.db")
	rewrite(t, other, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("somebody else's"))
		return err
	})
	wantRefused(other, "not a boltstore")

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefused(garbage, "not a usable bbolt database")

	if _, err := boltstore.Open("", nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Open(\"\") = %v; want consign.ErrInvalid", err)
	}
	if _, err := boltstore.Open(filepath.Join(dir, "x.db"), &boltstore.Options{InitialMmapSize: -1}); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Open(InitialMmapSize -1) = %v; want consign.ErrInvalid", err)
	}
}

// TestCorrupt damages stored bytes and checks that every call meeting them
// reports consign.ErrFailedPrecondition and boltstore.ErrCorrupt, naming
// the record, instead of panicking or returning garbage.
func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		// which calls meet the damage
		get, list, listIndex, changes, write bool
	}{
		{"truncated record", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("records")).Bucket([]byte("device")).Put([]byte("d2"), []byte{0, 0, 0})
		}, true, true, true, true, true},
		{"bad index part", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records")).Bucket([]byte("device"))
			v := append([]byte(nil), b.Get([]byte("d2"))...)
			v[8] = 0x7f // 127 index fields
			return b.Put([]byte("d2"), v)
		}, true, true, true, true, true},
		{"change entry for an absent record", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("records")).Bucket([]byte("device")).Delete([]byte("d2"))
		}, false, false, true, true, false},
		{"change entry at the wrong revision", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records")).Bucket([]byte("device"))
			v := append([]byte(nil), b.Get([]byte("d2"))...)
			v[7]++
			return b.Put([]byte("d2"), v)
		}, false, false, false, true, false},
		{"bad change entry value", func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte("changes")).Cursor()
			k, _ := c.Last()
			return tx.Bucket([]byte("changes")).Put(append([]byte(nil), k...), []byte("?"))
		}, false, false, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.db")
			s := openAt(t, path, nil)
			mustApply(t, s, put("device", "d1", "one", map[string]string{"os": "xp"}))
			mustApply(t, s, put("device", "d2", "two", map[string]string{"os": "xp"}))
			s.Close()
			rewrite(t, path, c.damage)
			s = openAt(t, path, nil)

			check := func(call string, err error, meets bool) {
				t.Helper()
				switch {
				case meets && !(errors.Is(err, boltstore.ErrCorrupt) && errors.Is(err, consign.ErrFailedPrecondition) && strings.Contains(err.Error(), path)):
					t.Errorf("%s = %v; want boltstore.ErrCorrupt and consign.ErrFailedPrecondition naming %s", call, err, path)
				case !meets && err != nil:
					t.Errorf("%s = %v; want success (it does not read the damaged bytes)", call, err)
				}
			}
			_, err := s.Get(ctx, "device", "d2")
			if !c.get && errors.Is(err, consign.ErrNotFound) {
				err = nil
			}
			check("Get(d2)", err, c.get)
			if c.get && !strings.Contains(err.Error(), "device/d2") {
				t.Errorf("Get(d2) = %v; want it to name device/d2", err)
			}
			_, err = s.Get(ctx, "device", "d1")
			check("Get(d1)", err, false)
			_, _, err = s.List(ctx, "device", delivery.Query{})
			check("List", err, c.list)
			_, _, err = s.List(ctx, "device", delivery.Query{IndexName: "os", IndexValue: "xp"})
			check("List(os=xp)", err, c.listIndex)
			_, err = s.Changes(ctx, 0, 0)
			check("Changes", err, c.changes)
			_, err = s.Apply(ctx, []delivery.Write{put("device", "d2", "again", nil)})
			check("Apply(Put d2)", err, c.write)
		})
	}
}

// TestInvalidSizes checks the limits bbolt imposes on keys.
func TestInvalidSizes(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "site.db"), &boltstore.Options{NoSync: true})
	long := strings.Repeat("k", boltstore.MaxKeyBytes)
	for _, c := range []struct {
		field string
		w     delivery.Write
	}{
		{"writes[1].Record.Key", put("device", long, "x", nil)},
		{"writes[1].Record.Index[name]", put("device", "d", "x", map[string]string{"name": long})},
	} {
		_, err := s.Apply(ctx, []delivery.Write{put("device", "ok", "x", nil), c.w})
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("Apply with a too long %s = %v; want consign.ErrInvalid naming it", c.field, err)
		}
	}
	_, err := s.PutBatch(ctx, []delivery.Record{{Kind: "device", Key: long, Data: []byte("x")}})
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "records[0].Key" {
		t.Errorf("PutBatch with a too long key = %v; want consign.ErrInvalid naming records[0].Key", err)
	}
	// The longest keys allowed are stored.
	mustApply(t, s, put("d", long[1:], "x", nil), put("d", "k", "x", map[string]string{"n": long[2:]}))
	if cs, err := s.Changes(ctx, 0, 0); err != nil || len(cs) != 2 {
		t.Errorf("after the invalid writes, Changes = %d changes, %v; want only the valid write", len(cs), err)
	}
}

// TestConcurrentGroups sends many small writes at once, some bound to fail
// (a stale Expect) and some cancelled while they wait behind a large write:
// each succeeds whole under its own revision or fails leaving nothing, and
// one failing never fails another.
func TestConcurrentGroups(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "site.db"), nil)
	base := mustApply(t, s, put("counter", "c", "0", nil))
	const writers = 24
	type result struct {
		rev  int64
		err  error
		kind string // what the writer did
	}
	results := make([]result, writers)
	var wg sync.WaitGroup
	big := make([]delivery.Write, 50_000)
	for i := range big {
		big[i] = put("bulk", fmt.Sprintf("%06d", i), "x", map[string]string{"n": "1"})
	}
	wg.Go(func() {
		if _, err := s.Apply(ctx, big); err != nil {
			t.Errorf("large Apply = %v", err)
		}
	})
	for i := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("w%02d", i)
			w := []delivery.Write{put("small", key, key, map[string]string{"w": "x"}), put("small", key+"b", key, nil)}
			wctx := ctx
			switch i % 3 {
			case 0:
				results[i].kind = "plain"
			case 1:
				results[i].kind = "stale"
				w = append(w, delivery.Write{Op: delivery.Put, Expect: base + 1_000_000, Record: delivery.Record{Kind: "counter", Key: "c"}})
			case 2:
				results[i].kind = "cancelled"
				c, cancel := context.WithCancel(ctx)
				time.AfterFunc(time.Duration(i)*100*time.Microsecond, cancel)
				wctx = c
			}
			results[i].rev, results[i].err = s.Apply(wctx, w)
		})
	}
	wg.Wait()
	revs := map[int64]bool{}
	for i, r := range results {
		key := fmt.Sprintf("w%02d", i)
		got, gerr := s.Get(ctx, "small", key)
		switch {
		case r.err == nil:
			if r.kind == "stale" {
				t.Errorf("writer %d (stale Expect) succeeded", i)
			}
			if gerr != nil || got.Revision != r.rev || revs[r.rev] {
				t.Errorf("writer %d succeeded at %d; Get = %+v, %v; want its record at its own revision", i, r.rev, got, gerr)
			}
			revs[r.rev] = true
		case r.kind == "plain":
			t.Errorf("writer %d (plain) = %v; want success", i, r.err)
		case r.kind == "stale" && !errors.Is(r.err, consign.ErrConflict):
			t.Errorf("writer %d (stale) = %v; want consign.ErrConflict", i, r.err)
		case r.kind == "cancelled" && !errors.Is(r.err, context.Canceled):
			t.Errorf("writer %d (cancelled) = %v; want context.Canceled", i, r.err)
		default:
			if !errors.Is(gerr, consign.ErrNotFound) {
				t.Errorf("writer %d failed (%v) but Get(%s) = %+v, %v; want nothing written", i, r.err, key, got, gerr)
			}
		}
	}
	if recs, _, err := s.List(ctx, "bulk", delivery.Query{IndexName: "n", IndexValue: "1"}); err != nil || len(recs) != len(big) {
		t.Errorf("List(bulk) = %d records, %v; want %d", len(recs), err, len(big))
	}
}
