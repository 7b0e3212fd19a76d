package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// cancelAt is a context whose Err reports cancellation from its n-th call
// on, so a test can cancel a write at an exact point: the writer asks once
// before a request's check, every 1,024 writes, and once before the commit.
type cancelAt struct {
	context.Context
	n     int32
	calls atomic.Int32
}

func (c *cancelAt) Err() error {
	if c.calls.Add(1) >= c.n {
		return context.Canceled
	}
	return nil
}

// req builds a request of n puts of kind, keys prefix0…, expecting expect.
func req(ctx context.Context, kind, prefix string, n int, expect int64) *request {
	r := newRequest(ctx, "test", n, 0)
	for i := range n {
		r.add(delivery.Record{Kind: kind, Key: fmt.Sprintf("%s%05d", prefix, i), Index: map[string]string{"p": prefix}, Data: []byte("x")}, false, expect)
	}
	return r
}

// TestGroupAbort commits groups in which one request is cancelled midway
// (after it began writing, or just before the commit): the transaction is
// run again without it, the others commit under consecutive revisions, and
// verdicts reached after the cancelled request's writes are reconsidered.
func TestGroupAbort(t *testing.T) {
	bg := context.Background()
	for _, c := range []struct {
		name     string
		cancelOn int32 // the Err call of the cancelled request that reports cancellation
		size     int
	}{
		{"while writing", 2, 3000}, // call 1 before its check, call 2 after 1,024 writes
		{"before commit", 2, 10},   // call 2 is the check before the commit
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "site.db"), &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			base, err := s.Apply(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := req(bg, "a", "first", 2, delivery.AnyRevision)
			cancelled := req(&cancelAt{Context: bg, n: c.cancelOn}, "a", "k", c.size, 0)
			// Conflicts with cancelled's first record in the first run;
			// succeeds once cancelled is out.
			clash := req(bg, "a", "k", 1, 0)
			stale := req(bg, "a", "first", 1, base+100)
			last := req(bg, "b", "last", 2, 0)
			group := []*request{first, cancelled, clash, stale, last}
			s.w.commit(group)

			if !errors.Is(cancelled.err, context.Canceled) {
				t.Errorf("cancelled request = %d, %v; want context.Canceled", cancelled.rev, cancelled.err)
			}
			if !errors.Is(stale.err, consign.ErrConflict) {
				t.Errorf("stale request = %d, %v; want consign.ErrConflict", stale.rev, stale.err)
			}
			for i, r := range []*request{first, clash, last} {
				if r.err != nil || r.rev != base+1+int64(i) {
					t.Errorf("request %d = %d, %v; want revision %d", i, r.rev, r.err, base+1+int64(i))
				}
			}
			cs, err := s.Changes(bg, base, 0)
			if err != nil || len(cs) != 5 {
				t.Fatalf("Changes after the group = %d changes, %v; want 5 (2 + 1 + 2 records)", len(cs), err)
			}
			recs, _, err := s.List(bg, "a", delivery.Query{IndexName: "p", IndexValue: "k"})
			if err != nil || len(recs) != 1 || recs[0].Revision != clash.rev {
				t.Errorf("List(p=k) = %+v, %v; want only the clashing request's record", recs, err)
			}
		})
	}
}

// TestEntriesCount checks the count of change entries kept for sizing
// Changes against the feed, through puts, deletes, re-creations, deletes
// of absent records and failed writes.
func TestEntriesCount(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "site.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(1, 6).Draw(t, "writes")
		var writes []delivery.Write
		seen := map[string]bool{}
		for range n {
			key := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f", "g", "h"}).Draw(t, "key")
			if seen[key] {
				continue
			}
			seen[key] = true
			op := rapid.SampledFrom([]delivery.Op{delivery.Put, delivery.Delete}).Draw(t, "op")
			expect := rapid.SampledFrom([]int64{delivery.AnyRevision, delivery.AnyRevision, 0}).Draw(t, "expect")
			writes = append(writes, delivery.Write{Op: op, Expect: expect, Record: delivery.Record{Kind: "k", Key: key, Data: []byte("x")}})
		}
		s.Apply(ctx, writes) // may conflict
		cs, err := s.Changes(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var hint int
		s.db.View(func(tx *bolt.Tx) error { hint = s.sizeHint(tx, 0, 0); return nil })
		if hint != len(cs) {
			t.Fatalf("the entries count is %d; the feed has %d changes", hint, len(cs))
		}
	})
}
