package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// tb is what the helpers need of *testing.T and of rapid's *rapid.T.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// put returns an unconditional Put of a record with data and index.
func put(kind, key, data string, index map[string]string) delivery.Write {
	return delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision,
		Record: delivery.Record{Kind: kind, Key: key, Index: index, Data: []byte(data)}}
}

// del returns an unconditional Delete.
func del(kind, key string) delivery.Write {
	return delivery.Write{Op: delivery.Delete, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: kind, Key: key}}
}

// expecting returns w with Expect set to rev.
func expecting(w delivery.Write, rev int64) delivery.Write {
	w.Expect = rev
	return w
}

// apply runs one Apply that must succeed and returns its revision.
func apply(t tb, s delivery.Store, writes ...delivery.Write) int64 {
	t.Helper()
	rev, err := s.Apply(context.Background(), writes)
	if err != nil {
		t.Fatalf("Apply(%s) = %v; want success", describe(writes), err)
	}
	if rev <= 0 {
		t.Fatalf("Apply(%s) returned revision %d; want > 0", describe(writes), rev)
	}
	return rev
}

// get returns a record that must exist.
func get(t tb, s delivery.Store, kind, key string) delivery.Record {
	t.Helper()
	r, err := s.Get(context.Background(), kind, key)
	if err != nil {
		t.Fatalf("Get(%q, %q) = %v; want the record", kind, key, err)
	}
	return r
}

// wantAbsent checks that Get reports the record as not found.
func wantAbsent(t tb, s delivery.Store, kind, key string) {
	t.Helper()
	r, err := s.Get(context.Background(), kind, key)
	if !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("Get(%q, %q) = %s, %v; want an error matching consign.ErrNotFound", kind, key, show(r), err)
	}
}

// wantCode checks that err matches code; call describes what returned it.
func wantCode(t tb, err, code error, call string) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Errorf("%s = %v; want an error matching %v", call, err, code)
	}
}

// wantRecord checks that got is want, with revision rev.
func wantRecord(t tb, got delivery.Record, want delivery.Write, rev int64) {
	t.Helper()
	if w := stored(want, rev); !same(got, w) {
		t.Errorf("got record %s; want %s", show(got), show(w))
	}
}

// stored returns w's record as stored at revision rev.
func stored(w delivery.Write, rev int64) delivery.Record {
	r := w.Record
	r.Revision = rev
	return r
}

// same reports whether two records are equal, nil and empty Index and Data
// being equal as the contract says.
func same(a, b delivery.Record) bool {
	return a.Kind == b.Kind && a.Key == b.Key && a.Revision == b.Revision &&
		maps.Equal(a.Index, b.Index) && bytes.Equal(a.Data, b.Data)
}

func show(r delivery.Record) string {
	return fmt.Sprintf("{%s/%s rev %d index %v data %q}", r.Kind, r.Key, r.Revision, r.Index, r.Data)
}

func describe(writes []delivery.Write) string {
	parts := make([]string, len(writes))
	for i, w := range writes {
		op := map[delivery.Op]string{delivery.Put: "Put", delivery.Delete: "Delete"}[w.Op]
		if op == "" {
			op = fmt.Sprintf("Op(%d)", w.Op)
		}
		parts[i] = fmt.Sprintf("%s %s/%s expect %d", op, w.Record.Kind, w.Record.Key, w.Expect)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// keys returns the records' keys in order.
func keys(recs []delivery.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// listAll walks every page of List with q (q.After is where it starts),
// checking the paging rules on the way, and returns all records.
func listAll(t tb, s delivery.Store, kind string, q delivery.Query) []delivery.Record {
	t.Helper()
	var all []delivery.Record
	for page := 0; ; page++ {
		recs, next, err := s.List(context.Background(), kind, q)
		if err != nil {
			t.Fatalf("List(%q, %+v) = %v; want success", kind, q, err)
		}
		if q.Limit > 0 && len(recs) > q.Limit {
			t.Fatalf("List(%q, %+v) returned %d records; want at most Limit", kind, q, len(recs))
		}
		for _, r := range recs {
			if r.Key <= q.After || (len(all) > 0 && r.Key <= all[len(all)-1].Key) {
				t.Fatalf("List(%q, %+v) returned key %q out of order after %q; want ascending keys above After",
					kind, q, r.Key, q.After)
			}
			all = append(all, r)
		}
		if next == "" {
			return all
		}
		if len(recs) == 0 || next != recs[len(recs)-1].Key {
			t.Fatalf("List(%q, %+v) returned next %q after keys %q; want the last key returned, or \"\" at the end",
				kind, q, next, keys(recs))
		}
		if page > 1_000_000 {
			t.Fatalf("List(%q) keeps returning pages; want an end", kind)
		}
		q.After = next
	}
}

// changes returns Changes(after, limit), which must succeed and be in
// increasing revision order.
func changes(t tb, s delivery.Store, after int64, limit int) []delivery.Change {
	t.Helper()
	cs, err := s.Changes(context.Background(), after, limit)
	if err != nil {
		t.Fatalf("Changes(%d, %d) = %v; want success", after, limit, err)
	}
	for i, c := range cs {
		if c.Record.Revision <= after || (i > 0 && c.Record.Revision < cs[i-1].Record.Revision) {
			t.Fatalf("Changes(%d, %d) entry %d has revision %d; want revisions above after, in increasing order",
				after, limit, i, c.Record.Revision)
		}
	}
	return cs
}

// allChanges pages through the whole feed with limit, checking that pages
// never end inside a revision and hold at least limit changes unless they
// are the last, and returns the feed.
func allChanges(t tb, s delivery.Store, limit int) []delivery.Change {
	t.Helper()
	var all []delivery.Change
	var after int64
	for {
		page := changes(t, s, after, limit)
		if len(page) == 0 {
			return all
		}
		if limit > 0 && len(page) > limit {
			if last := page[limit-1].Record.Revision; page[len(page)-1].Record.Revision != last {
				t.Fatalf("Changes(%d, %d) returned %d changes up to revision %d; want at most limit, plus the rest of revision %d",
					after, limit, len(page), page[len(page)-1].Record.Revision, last)
			}
		}
		all = append(all, page...)
		after = page[len(page)-1].Record.Revision
		if len(page) < limit {
			if rest := changes(t, s, after, limit); len(rest) > 0 {
				t.Fatalf("Changes(%d, %d) returned a short page of %d but more followed; want full pages until the end",
					after, limit, len(page))
			}
			return all
		}
	}
}

// sortChanges orders a feed canonically: by revision, then kind and key, as
// the contract leaves the order within one revision open.
func sortChanges(cs []delivery.Change) {
	slices.SortStableFunc(cs, func(a, b delivery.Change) int {
		return cmp.Or(cmp.Compare(a.Record.Revision, b.Record.Revision),
			strings.Compare(a.Record.Kind, b.Record.Kind), strings.Compare(a.Record.Key, b.Record.Key))
	})
}

// wantFeed checks that got (in any order within a revision) is want.
func wantFeed(t tb, got, want []delivery.Change, call string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sortChanges(got)
	sortChanges(want)
	if !slices.EqualFunc(got, want, func(a, b delivery.Change) bool {
		return a.Deleted == b.Deleted && same(a.Record, b.Record)
	}) {
		t.Errorf("%s returned\n%s\nwant\n%s", call, showFeed(got), showFeed(want))
	}
}

func showFeed(cs []delivery.Change) string {
	var b strings.Builder
	for _, c := range cs {
		if c.Deleted {
			fmt.Fprintf(&b, "\tdeleted %s/%s rev %d\n", c.Record.Kind, c.Record.Key, c.Record.Revision)
		} else {
			fmt.Fprintf(&b, "\t%s\n", show(c.Record))
		}
	}
	if b.Len() == 0 {
		return "\t(nothing)"
	}
	return b.String()
}
