// Package storetest is the conformance suite for delivery.Store: the
// definition of a correct adapter. Every adapter in the tree, the in-memory
// one included, runs it from its own test file, and so can an adapter
// written elsewhere:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) delivery.Store {
//			s := mystore.Open(…)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// # What it checks
//
// Beyond the delivery.Store comments, the suite pins down these points so
// that a Site behaves the same on every adapter:
//
//   - Index and Data are copied in and out: neither the caller's slices and
//     maps nor the returned ones alias the stored record.
//   - List pages are exact: next is "" precisely when no matching record is
//     left. A record matches q.IndexName only if its Index has that field.
//   - Delete of an absent record holds for Expect AnyRevision and 0, changes
//     nothing and leaves no tombstone; any other Expect conflicts.
//   - Every successful Apply and PutBatch, even an empty one, returns a
//     revision greater than any returned before.
//   - A page of Changes never ends inside a revision: when limit falls inside
//     one, the rest of it is returned too, so after = the last Revision of a
//     page never skips a change.
//   - Invalid writes (empty Kind or Key, unknown Op, Expect below
//     AnyRevision, a Kind and Key twice in one call) and a negative List or
//     Changes limit return an error matching consign.ErrInvalid that wraps a
//     *consign.ValidationError, and write nothing.
//
// # Concurrency
//
// Run calls open and runs its cases one after another, never in parallel,
// so an adapter may share one database between the stores it opens as long
// as each open starts empty. Some cases close the store themselves; open's
// cleanup must tolerate a store that is already closed.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// Run runs the conformance suite against the stores that open returns.
// Each call of open must return a new, empty store; open registers any
// cleanup it needs with the t it is given.
func Run(t *testing.T, open func(t *testing.T) delivery.Store) {
	t.Run("Basic", func(t *testing.T) { testBasic(t, open) })
	t.Run("Conflict", func(t *testing.T) { testConflict(t, open) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, open) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, open) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
	t.Run("BulkWriter", func(t *testing.T) { testBulkWriter(t, open) })
	t.Run("Model", func(t *testing.T) { testModel(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Site", func(t *testing.T) { testSite(t, open) })
}

func testBasic(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()

	t.Run("GetAbsent", func(t *testing.T) {
		s := open(t)
		wantAbsent(t, s, "package", "CEN00001")
	})

	t.Run("PutGet", func(t *testing.T) {
		s := open(t)
		w := put("package", "CEN00001", "office", map[string]string{"name": "Office", "source": "3"})
		rev := apply(t, s, w)
		wantRecord(t, get(t, s, "package", "CEN00001"), w, rev)
		empty := put("package", "CEN00002", "", nil)
		rev = apply(t, s, empty)
		wantRecord(t, get(t, s, "package", "CEN00002"), empty, rev)
	})

	t.Run("CopiesInAndOut", func(t *testing.T) {
		s := open(t)
		data, index := []byte("abc"), map[string]string{"color": "red"}
		rev := apply(t, s, delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision,
			Record: delivery.Record{Kind: "device", Key: "d1", Index: index, Data: data}})
		data[0], index["color"], index["size"] = 'X', "blue", "s"
		want := put("device", "d1", "abc", map[string]string{"color": "red"})
		wantRecord(t, get(t, s, "device", "d1"), want, rev)
		if got := keys(listAll(t, s, "device", delivery.Query{IndexName: "color", IndexValue: "red"})); !slices.Equal(got, []string{"d1"}) {
			t.Errorf("after changing the caller's Index, List(color=red) = %q; want [d1]", got)
		}

		g := get(t, s, "device", "d1")
		g.Data[0], g.Index["color"] = 'Y', "green"
		recs, _, err := s.List(ctx, "device", delivery.Query{})
		if err != nil || len(recs) != 1 {
			t.Fatalf("List = %d records, %v; want 1", len(recs), err)
		}
		recs[0].Data[1], recs[0].Index["color"] = 'Y', "green"
		cs := changes(t, s, 0, 0)
		cs[0].Record.Data[2], cs[0].Record.Index["color"] = 'Y', "green"
		wantRecord(t, get(t, s, "device", "d1"), want, rev)
		wantFeed(t, changes(t, s, 0, 0), []delivery.Change{{Record: stored(want, rev)}}, "Changes(0, 0) after changing returned records")
	})

	t.Run("ListOrder", func(t *testing.T) {
		s := open(t)
		// Byte order, not a locale's: "B" < "a" and "é" (0xC3…) after "z".
		ks := []string{"k2", "é", "a/b", "B", "k10", "a", "k1", "z"}
		for _, k := range ks {
			apply(t, s, put("package", k, "data-"+k, nil))
		}
		want := slices.Sorted(slices.Values(ks))
		recs, next, err := s.List(ctx, "package", delivery.Query{})
		if err != nil {
			t.Fatalf("List = %v; want success", err)
		}
		if got := keys(recs); !slices.Equal(got, want) || next != "" {
			t.Errorf("List = %q, next %q; want %q, next \"\"", got, next, want)
		}
		for _, r := range recs {
			if string(r.Data) != "data-"+r.Key {
				t.Errorf("List returned %s; want data %q", show(r), "data-"+r.Key)
			}
		}
		recs, _, err = s.List(ctx, "package", delivery.Query{After: "a0"}) // not a key itself
		if got := keys(recs); err != nil || !slices.Equal(got, want[3:]) {
			t.Errorf("List(After a0) = %q, %v; want %q", got, err, want[3:])
		}
		recs, next, err = s.List(ctx, "package", delivery.Query{After: "é"})
		if err != nil || len(recs) != 0 || next != "" {
			t.Errorf("List(After the last key) = %q, next %q, %v; want nothing", keys(recs), next, err)
		}
	})

	t.Run("ListPaging", func(t *testing.T) {
		s := open(t)
		var want []string
		for i := range 25 {
			k := fmt.Sprintf("d%03d", i)
			want = append(want, k)
			apply(t, s, put("device", k, k, nil))
		}
		for _, limit := range []int{0, 1, 3, 7, 24, 25, 26} {
			if got := keys(listAll(t, s, "device", delivery.Query{Limit: limit})); !slices.Equal(got, want) {
				t.Errorf("paging with Limit %d gave %q; want %q", limit, got, want)
			}
		}
		recs, next, err := s.List(ctx, "device", delivery.Query{Limit: 25})
		if err != nil || len(recs) != 25 || next != "" {
			t.Errorf("List(Limit 25) of 25 = %d records, next %q, %v; want 25, next \"\"", len(recs), next, err)
		}
		recs, next, err = s.List(ctx, "device", delivery.Query{After: "d010", Limit: 5})
		if got := keys(recs); err != nil || !slices.Equal(got, want[11:16]) || next != "d015" {
			t.Errorf("List(After d010, Limit 5) = %q, next %q, %v; want %q, next d015", got, next, err, want[11:16])
		}
	})

	t.Run("ListIndex", func(t *testing.T) {
		s := open(t)
		apply(t, s,
			put("device", "d1", "1", map[string]string{"color": "red", "site": "CEN"}),
			put("device", "d2", "2", map[string]string{"color": "blue"}),
			put("device", "d3", "3", map[string]string{"color": "red"}),
			put("device", "d4", "4", map[string]string{"color": ""}),
			put("device", "d5", "5", nil),
			put("device", "d6", "6", map[string]string{"shade": "red"}),
		)
		check := func(name, value string, want ...string) {
			t.Helper()
			for _, limit := range []int{0, 1} {
				q := delivery.Query{IndexName: name, IndexValue: value, Limit: limit}
				if got := keys(listAll(t, s, "device", q)); !slices.Equal(got, want) {
					t.Errorf("List(%s=%q, Limit %d) = %q; want %q", name, value, limit, got, want)
				}
			}
		}
		check("color", "red", "d1", "d3")
		check("color", "blue", "d2")
		check("color", "", "d4") // d5 and d6 have no color at all
		check("color", "green")
		check("site", "CEN", "d1")
		check("nosuchfield", "")
		if got := keys(listAll(t, s, "device", delivery.Query{IndexName: "color", IndexValue: "red", After: "d1"})); !slices.Equal(got, []string{"d3"}) {
			t.Errorf("List(color=red, After d1) = %q; want [d3]", got)
		}

		apply(t, s, put("device", "d1", "1", map[string]string{"color": "blue"}), del("device", "d3"))
		check("color", "red")
		check("color", "blue", "d1", "d2")
		check("site", "CEN")
		apply(t, s, put("device", "d3", "3", map[string]string{"color": "red"}))
		check("color", "red", "d3")
	})

	t.Run("KindsIsolated", func(t *testing.T) {
		s := open(t)
		pkg, prog := put("package", "CEN00001", "pkg", map[string]string{"k": "v"}), put("program", "CEN00001", "prog", map[string]string{"k": "v"})
		r1 := apply(t, s, pkg)
		r2 := apply(t, s, prog)
		wantRecord(t, get(t, s, "package", "CEN00001"), pkg, r1)
		wantRecord(t, get(t, s, "program", "CEN00001"), prog, r2)
		if got := listAll(t, s, "package", delivery.Query{IndexName: "k", IndexValue: "v"}); len(got) != 1 || string(got[0].Data) != "pkg" {
			t.Errorf("List(package, k=v) = %d records; want only the package", len(got))
		}
		if got := listAll(t, s, "advertisement", delivery.Query{}); len(got) != 0 {
			t.Errorf("List of a kind never written = %q; want nothing", keys(got))
		}
		apply(t, s, del("program", "CEN00001"))
		wantAbsent(t, s, "program", "CEN00001")
		wantRecord(t, get(t, s, "package", "CEN00001"), pkg, r1)
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		r1 := apply(t, s, put("package", "p1", "v1", map[string]string{"a": "b"}), put("package", "p2", "v2", nil))
		apply(t, s, del("package", "p1"))
		wantAbsent(t, s, "package", "p1")
		if got := keys(listAll(t, s, "package", delivery.Query{})); !slices.Equal(got, []string{"p2"}) {
			t.Errorf("List after deleting p1 = %q; want [p2]", got)
		}
		if got := listAll(t, s, "package", delivery.Query{IndexName: "a", IndexValue: "b"}); len(got) != 0 {
			t.Errorf("List(a=b) after deleting p1 = %q; want nothing", keys(got))
		}
		before := changes(t, s, 0, 0)
		apply(t, s, del("package", "p1"))
		apply(t, s, del("package", "never"))
		apply(t, s, expecting(del("package", "never"), 0))
		wantFeed(t, changes(t, s, 0, 0), before, "Changes after deleting absent records")
		_, err := s.Apply(ctx, []delivery.Write{expecting(del("package", "never"), r1)})
		wantCode(t, err, consign.ErrConflict, "Apply(Delete of an absent record expecting a revision)")
		apply(t, s, expecting(del("package", "p2"), r1))
		wantAbsent(t, s, "package", "p2")

		w := put("package", "p1", "again", nil)
		r := apply(t, s, expecting(w, 0))
		wantRecord(t, get(t, s, "package", "p1"), w, r)
	})

	t.Run("Revisions", func(t *testing.T) {
		s := open(t)
		var last int64
		next := func(rev int64, what string) {
			t.Helper()
			if rev <= last {
				t.Errorf("%s returned revision %d; want more than the previous %d", what, rev, last)
			}
			last = rev
		}
		next(apply(t, s, put("a", "1", "x", nil)), "Apply")
		next(apply(t, s, put("a", "2", "x", nil)), "Apply")
		multi := []delivery.Write{put("a", "3", "x", nil), put("b", "1", "y", nil), put("a", "1", "z", nil), del("a", "2")}
		next(apply(t, s, multi...), "Apply of four writes")
		r3 := last
		for _, w := range multi[:3] {
			if got := get(t, s, w.Record.Kind, w.Record.Key); got.Revision != last {
				t.Errorf("%s/%s has revision %d; want %d, the revision of the Apply that wrote it", w.Record.Kind, w.Record.Key, got.Revision, last)
			}
		}
		rev, err := s.Apply(ctx, nil)
		if err != nil {
			t.Fatalf("Apply of no writes = %v; want success", err)
		}
		next(rev, "Apply of no writes")
		next(apply(t, s, put("c", "1", "x", nil)), "Apply after an empty one")
		if got := get(t, s, "b", "1"); got.Revision != r3 {
			t.Errorf("b/1 has revision %d after later writes to other records; want %d, unchanged", got.Revision, r3)
		}
	})
}

func testConflict(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()

	t.Run("Expect", func(t *testing.T) {
		s := open(t)
		v1 := put("advertisement", "CEN20001", "v1", nil)
		r1 := apply(t, s, expecting(v1, 0))
		_, err := s.Apply(ctx, []delivery.Write{expecting(put("advertisement", "CEN20001", "dup", nil), 0)})
		wantCode(t, err, consign.ErrConflict, "Apply(Put expecting 0 of an existing record)")
		wantRecord(t, get(t, s, "advertisement", "CEN20001"), v1, r1)

		v2 := put("advertisement", "CEN20001", "v2", nil)
		r2 := apply(t, s, expecting(v2, r1))
		_, err = s.Apply(ctx, []delivery.Write{expecting(put("advertisement", "CEN20001", "stale", nil), r1)})
		wantCode(t, err, consign.ErrConflict, "Apply(Put expecting a stale revision)")
		_, err = s.Apply(ctx, []delivery.Write{expecting(put("advertisement", "CEN20001", "future", nil), r2+1)})
		wantCode(t, err, consign.ErrConflict, "Apply(Put expecting a revision the record never had)")
		_, err = s.Apply(ctx, []delivery.Write{expecting(del("advertisement", "CEN20001"), r1)})
		wantCode(t, err, consign.ErrConflict, "Apply(Delete expecting a stale revision)")
		wantRecord(t, get(t, s, "advertisement", "CEN20001"), v2, r2)

		_, err = s.Apply(ctx, []delivery.Write{expecting(put("advertisement", "CEN20002", "new", nil), r1)})
		wantCode(t, err, consign.ErrConflict, "Apply(Put of an absent record expecting a revision)")
		wantAbsent(t, s, "advertisement", "CEN20002")

		v3 := put("advertisement", "CEN20001", "v3", nil)
		r3 := apply(t, s, expecting(v3, r2))
		wantRecord(t, get(t, s, "advertisement", "CEN20001"), v3, r3)
	})

	t.Run("Atomic", func(t *testing.T) {
		s := open(t)
		a, b := put("package", "a", "a1", map[string]string{"x": "1"}), put("package", "b", "b1", nil)
		rev := apply(t, s, a, b, put("program", "c", "c1", nil))
		before := changes(t, s, 0, 0)
		for i, last := range []delivery.Write{
			expecting(put("program", "c", "clash", nil), 0),
			expecting(put("program", "c", "clash", nil), rev-1),
			expecting(del("program", "c"), rev+1),
			expecting(put("program", "absent", "x", nil), rev),
		} {
			writes := []delivery.Write{
				put("package", "new", "n", map[string]string{"x": "1"}),
				put("package", "a", "a2", map[string]string{"x": "2"}),
				del("package", "b"),
				expecting(put("package", "b2", "x", nil), 0),
				last,
			}
			_, err := s.Apply(ctx, writes)
			wantCode(t, err, consign.ErrConflict, fmt.Sprintf("case %d: Apply(%s)", i, describe(writes)))
			wantAbsent(t, s, "package", "new")
			wantAbsent(t, s, "package", "b2")
			wantRecord(t, get(t, s, "package", "a"), a, rev)
			wantRecord(t, get(t, s, "package", "b"), b, rev)
			if got := keys(listAll(t, s, "package", delivery.Query{IndexName: "x", IndexValue: "1"})); !slices.Equal(got, []string{"a"}) {
				t.Errorf("case %d: List(x=1) after a failed Apply = %q; want [a]", i, got)
			}
			wantFeed(t, changes(t, s, 0, 0), before, fmt.Sprintf("case %d: Changes(0, 0) after a failed Apply", i))
		}
	})
}

func testChanges(t *testing.T, open func(t *testing.T) delivery.Store) {
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		if cs := changes(t, s, 0, 0); len(cs) != 0 {
			t.Errorf("Changes(0, 0) of an empty store returned\n%s\nwant nothing", showFeed(cs))
		}
	})

	t.Run("LatestState", func(t *testing.T) {
		s := open(t)
		a1 := put("package", "a", "a1", map[string]string{"n": "1"})
		b := put("package", "b", "b", nil)
		a2 := put("package", "a", "a2", map[string]string{"n": "2"})
		c, d := put("program", "c", "c", nil), put("package", "d", "d", map[string]string{"n": "1"})
		r1 := apply(t, s, a1)
		r2 := apply(t, s, b)
		wantFeed(t, changes(t, s, 0, 0), []delivery.Change{{Record: stored(a1, r1)}, {Record: stored(b, r2)}}, "Changes(0, 0)")
		r3 := apply(t, s, a2)
		r4 := apply(t, s, del("package", "b"))
		r5 := apply(t, s, c, d)
		apply(t, s, del("package", "e"))
		tomb := delivery.Change{Record: delivery.Record{Kind: "package", Key: "b", Revision: r4}, Deleted: true}
		want := []delivery.Change{{Record: stored(a2, r3)}, tomb, {Record: stored(c, r5)}, {Record: stored(d, r5)}}
		wantFeed(t, changes(t, s, 0, 0), want, "Changes(0, 0)")
		wantFeed(t, changes(t, s, r1, 0), want, fmt.Sprintf("Changes(%d, 0)", r1))
		wantFeed(t, changes(t, s, r3, 0), want[1:], fmt.Sprintf("Changes(%d, 0)", r3))
		wantFeed(t, changes(t, s, r4, 0), want[2:], fmt.Sprintf("Changes(%d, 0)", r4))
		wantFeed(t, changes(t, s, r5, 0), nil, fmt.Sprintf("Changes(%d, 0)", r5))
		wantFeed(t, changes(t, s, r4, 1), want[2:], fmt.Sprintf("Changes(%d, 1), whose limit falls inside a revision,", r4))

		b2 := put("package", "b", "b2", nil)
		r7 := apply(t, s, b2)
		want = []delivery.Change{{Record: stored(a2, r3)}, {Record: stored(c, r5)}, {Record: stored(d, r5)}, {Record: stored(b2, r7)}}
		wantFeed(t, changes(t, s, 0, 0), want, "Changes(0, 0) after recreating a deleted record")
	})

	t.Run("Paging", func(t *testing.T) {
		s := open(t)
		for i := range 20 {
			apply(t, s, put("device", strconv.Itoa(i), "x", nil))
			if i%5 == 4 {
				apply(t, s, put("device", strconv.Itoa(i-2), "again", nil), del("device", strconv.Itoa(i-4)),
					put("group", strconv.Itoa(i), "g1", nil), put("group", strconv.Itoa(i+1), "g2", nil))
			}
		}
		full := changes(t, s, 0, 0)
		if len(full) != 20+8 {
			t.Fatalf("Changes(0, 0) returned %d changes; want 28 (20 devices, 8 groups)", len(full))
		}
		for _, limit := range []int{1, 2, 3, 4, 7, 27, 28, 29} {
			wantFeed(t, allChanges(t, s, limit), full, fmt.Sprintf("paging Changes with limit %d", limit))
		}
	})
}

func testInvalid(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()
	s := open(t)
	apply(t, s, put("package", "p", "keep", nil))
	before := changes(t, s, 0, 0)
	ok := put("package", "q", "new", nil)
	for _, c := range []struct {
		name   string
		writes []delivery.Write
	}{
		{"empty kind", []delivery.Write{ok, put("", "k", "x", nil)}},
		{"empty key", []delivery.Write{ok, put("package", "", "x", nil)}},
		{"empty key of a delete", []delivery.Write{ok, del("package", "")}},
		{"zero Op", []delivery.Write{ok, {Record: delivery.Record{Kind: "package", Key: "r"}, Expect: delivery.AnyRevision}}},
		{"unknown Op", []delivery.Write{ok, {Op: delivery.Delete + 1, Record: delivery.Record{Kind: "package", Key: "r"}, Expect: delivery.AnyRevision}}},
		{"Expect below AnyRevision", []delivery.Write{ok, expecting(put("package", "r", "x", nil), -2)}},
		{"same key twice", []delivery.Write{ok, put("package", "r", "x", nil), del("package", "r")}},
		{"same key twice, with the valid write", []delivery.Write{ok, put("package", "q", "again", nil)}},
	} {
		_, err := s.Apply(ctx, c.writes)
		call := fmt.Sprintf("Apply with %s: %s", c.name, describe(c.writes))
		wantCode(t, err, consign.ErrInvalid, call)
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || ve.Field == "" || ve.Rule == "" {
			t.Errorf("%s = %v; want it to wrap a *consign.ValidationError naming the field and rule", call, err)
		}
		wantAbsent(t, s, "package", "q")
		wantFeed(t, changes(t, s, 0, 0), before, "Changes after "+call)
	}

	_, _, err := s.List(ctx, "package", delivery.Query{Limit: -1})
	wantCode(t, err, consign.ErrInvalid, "List(Limit -1)")
	_, err = s.Changes(ctx, 0, -1)
	wantCode(t, err, consign.ErrInvalid, "Changes(0, -1)")

	if bw, isBulk := s.(delivery.BulkWriter); isBulk {
		recs := []delivery.Record{{Kind: "package", Key: "q"}, {Kind: "package"}}
		_, err := bw.PutBatch(ctx, recs)
		wantCode(t, err, consign.ErrInvalid, "PutBatch with an empty key")
		recs = []delivery.Record{{Kind: "package", Key: "q"}, {Kind: "package", Key: "q"}}
		_, err = bw.PutBatch(ctx, recs)
		wantCode(t, err, consign.ErrInvalid, "PutBatch with the same key twice")
		wantAbsent(t, s, "package", "q")
		wantFeed(t, changes(t, s, 0, 0), before, "Changes after invalid PutBatch calls")
	}
}

func testCancel(t *testing.T, open func(t *testing.T) delivery.Store) {
	s := open(t)
	w := put("package", "p", "keep", nil)
	rev := apply(t, s, w)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := s.Get(ctx, "package", "p")
	wantCode(t, err, context.Canceled, "Get with a cancelled context")
	_, _, err = s.List(ctx, "package", delivery.Query{})
	wantCode(t, err, context.Canceled, "List with a cancelled context")
	_, err = s.Changes(ctx, 0, 0)
	wantCode(t, err, context.Canceled, "Changes with a cancelled context")
	_, err = s.Apply(ctx, []delivery.Write{put("package", "q", "x", nil), del("package", "p")})
	wantCode(t, err, context.Canceled, "Apply with a cancelled context")
	if bw, isBulk := s.(delivery.BulkWriter); isBulk {
		_, err = bw.PutBatch(ctx, []delivery.Record{{Kind: "package", Key: "r"}})
		wantCode(t, err, context.Canceled, "PutBatch with a cancelled context")
	}
	wantRecord(t, get(t, s, "package", "p"), w, rev)
	wantFeed(t, changes(t, s, 0, 0), []delivery.Change{{Record: stored(w, rev)}}, "Changes after writes with a cancelled context")
}

func testClose(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()
	s := open(t)
	apply(t, s, put("package", "p", "x", nil))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v; want success", err)
	}
	_, err := s.Get(ctx, "package", "p")
	wantCode(t, err, consign.ErrUnavailable, "Get after Close")
	_, _, err = s.List(ctx, "package", delivery.Query{})
	wantCode(t, err, consign.ErrUnavailable, "List after Close")
	_, err = s.Apply(ctx, []delivery.Write{put("package", "q", "x", nil)})
	wantCode(t, err, consign.ErrUnavailable, "Apply after Close")
	_, err = s.Changes(ctx, 0, 0)
	wantCode(t, err, consign.ErrUnavailable, "Changes after Close")
	if bw, isBulk := s.(delivery.BulkWriter); isBulk {
		_, err = bw.PutBatch(ctx, []delivery.Record{{Kind: "package", Key: "r"}})
		wantCode(t, err, consign.ErrUnavailable, "PutBatch after Close")
	}
}

func testBulkWriter(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()
	s := open(t)
	bw, ok := s.(delivery.BulkWriter)
	if !ok {
		t.Skipf("%T does not implement delivery.BulkWriter", s)
	}
	const n = 10_000
	before := apply(t, s, put("adstatus", "d00000", "overwritten", map[string]string{"ad": "none"}))
	recs := make([]delivery.Record, n)
	for i := range recs {
		recs[i] = delivery.Record{Kind: "adstatus", Key: fmt.Sprintf("d%05d", (i*7919)%n), // not in key order
			Index: map[string]string{"ad": "CEN2000" + strconv.Itoa(i%10)}, Data: []byte("state " + strconv.Itoa(i))}
	}
	rev, err := bw.PutBatch(ctx, recs)
	if err != nil {
		t.Fatalf("PutBatch of %d records = %v; want success", n, err)
	}
	if rev <= before {
		t.Errorf("PutBatch returned revision %d; want more than the previous %d", rev, before)
	}
	recs[0].Data[0] = 'X' // the store must not have kept the caller's slice
	if got := get(t, s, recs[0].Kind, recs[0].Key); string(got.Data) != "state 0" {
		t.Errorf("after changing the slice given to PutBatch, Get = %s; want data \"state 0\"", show(got))
	}
	recs[0].Data[0] = 's'
	for _, r := range recs {
		if got := get(t, s, r.Kind, r.Key); !same(got, delivery.Record{Kind: r.Kind, Key: r.Key, Revision: rev, Index: r.Index, Data: r.Data}) {
			t.Fatalf("after PutBatch, Get = %s; want %s at revision %d", show(got), show(r), rev)
		}
	}
	if got := listAll(t, s, "adstatus", delivery.Query{Limit: 1000}); len(got) != n {
		t.Errorf("List after PutBatch found %d records; want %d", len(got), n)
	}
	if got := listAll(t, s, "adstatus", delivery.Query{IndexName: "ad", IndexValue: "CEN20003", Limit: 300}); len(got) != n/10 {
		t.Errorf("List(ad=CEN20003) after PutBatch found %d records; want %d", len(got), n/10)
	}
	if got := listAll(t, s, "adstatus", delivery.Query{IndexName: "ad", IndexValue: "none"}); len(got) != 0 {
		t.Errorf("List(ad=none) after PutBatch overwrote its only record found %q; want nothing", keys(got))
	}
	cs := changes(t, s, before, 10)
	if len(cs) != n {
		t.Errorf("Changes(%d, 10) after PutBatch returned %d changes; want all %d of its revision", before, len(cs), n)
	}
	for _, c := range cs {
		if c.Record.Revision != rev || c.Deleted {
			t.Fatalf("Changes after PutBatch returned deleted=%v %s; want revision %d", c.Deleted, show(c.Record), rev)
		}
	}

	next, err := bw.PutBatch(ctx, recs[:2])
	if err != nil || next <= rev {
		t.Errorf("second PutBatch = %d, %v; want a revision above %d", next, err, rev)
	}
	w := put("adstatus", recs[2].Key, "updated", nil)
	apply(t, s, expecting(w, rev))
	empty, err := bw.PutBatch(ctx, nil)
	if err != nil || empty <= next {
		t.Errorf("PutBatch of no records = %d, %v; want a revision above %d", empty, err, next)
	}
}

func testConcurrency(t *testing.T, open func(t *testing.T) delivery.Store) {
	ctx := context.Background()

	t.Run("Counter", func(t *testing.T) {
		s := open(t)
		apply(t, s, put("counter", "c", "0", nil))
		const workers, increments = 8, 200
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range increments {
					for {
						r, err := s.Get(ctx, "counter", "c")
						if err != nil {
							t.Errorf("Get(counter) = %v; want the record", err)
							return
						}
						v, _ := strconv.Atoi(string(r.Data))
						w := expecting(put("counter", "c", strconv.Itoa(v+1), nil), r.Revision)
						_, err = s.Apply(ctx, []delivery.Write{w})
						if err == nil {
							break
						}
						if !errors.Is(err, consign.ErrConflict) {
							t.Errorf("Apply(increment) = %v; want success or consign.ErrConflict", err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if got := string(get(t, s, "counter", "c").Data); got != strconv.Itoa(workers*increments) {
			t.Errorf("after %d×%d increments the counter is %s; want %d", workers, increments, got, workers*increments)
		}
	})

	t.Run("WritersAndReaders", func(t *testing.T) {
		s := open(t)
		const writers, puts = 8, 100
		var writing, reading sync.WaitGroup
		done := make(chan struct{})
		for w := range writers {
			writing.Go(func() {
				for i := range puts {
					k := fmt.Sprintf("w%d-%03d", w, i)
					if _, err := s.Apply(ctx, []delivery.Write{put("device", k, k, map[string]string{"w": strconv.Itoa(w)})}); err != nil {
						t.Errorf("Apply(Put %s) = %v; want success", k, err)
					}
				}
			})
		}
		for range 2 {
			reading.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					recs, _, err := s.List(ctx, "device", delivery.Query{Limit: 50})
					if err != nil || !slices.IsSortedFunc(recs, func(a, b delivery.Record) int { return strings.Compare(a.Key, b.Key) }) {
						t.Errorf("concurrent List = %q, %v; want keys in order", keys(recs), err)
						return
					}
					cs, err := s.Changes(ctx, 0, 0)
					if err != nil || !slices.IsSortedFunc(cs, func(a, b delivery.Change) int { return cmp.Compare(a.Record.Revision, b.Record.Revision) }) {
						t.Errorf("concurrent Changes = %d changes, %v; want them in revision order", len(cs), err)
						return
					}
				}
			})
		}
		writing.Wait()
		close(done)
		reading.Wait()
		all := listAll(t, s, "device", delivery.Query{Limit: 97})
		if len(all) != writers*puts {
			t.Errorf("after concurrent writes List found %d records; want %d", len(all), writers*puts)
		}
		revs := map[int64]bool{}
		for _, c := range changes(t, s, 0, 0) {
			revs[c.Record.Revision] = true
		}
		if len(revs) != writers*puts {
			t.Errorf("%d concurrent Applies produced %d distinct revisions; want one each", writers*puts, len(revs))
		}
		for w := range writers {
			q := delivery.Query{IndexName: "w", IndexValue: strconv.Itoa(w)}
			if got := listAll(t, s, "device", q); len(got) != puts {
				t.Errorf("List(w=%d) found %d records; want %d", w, len(got), puts)
			}
		}
	})
}
