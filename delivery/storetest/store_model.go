package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// The model's small universe, so that random actions keep hitting the same
// records. Keys are in byte order here, which is not a locale's order.
var (
	modelKinds = []string{"device", "package"}
	modelKeys  = []string{"B", "a", "a/b", "k1", "k10", "k2", "é"}
	modelAfter = []string{"", "a0", "k", "k10", "z", "é"}
)

// ref is a record's kind and key.
type ref struct{ kind, key string }

// model is what a Store must hold after the writes the test made: the last
// state of every record ever written, tombstones included.
type model struct {
	s    delivery.Store
	recs map[ref]modelRec
	rev  int64 // the last revision a write returned
}

type modelRec struct {
	rec     delivery.Record
	deleted bool
}

// testModel runs random sequences of writes and reads against a fresh store
// per sequence and checks every answer against the model.
func testModel(t *testing.T, open func(t *testing.T) delivery.Store) {
	rapid.Check(t, func(rt *rapid.T) {
		s := open(t)
		defer s.Close()
		m := &model{s: s, recs: map[ref]modelRec{}}
		rt.Repeat(m.actions())
	})
}

func (m *model) actions() map[string]func(*rapid.T) {
	ctx := context.Background()
	return map[string]func(*rapid.T){
		"Put": func(t *rapid.T) {
			n := genRef.Draw(t, "ref")
			m.apply(t, []delivery.Write{expecting(genPut(t, n), delivery.AnyRevision)})
		},
		"Delete": func(t *rapid.T) {
			n := genRef.Draw(t, "ref")
			m.apply(t, []delivery.Write{del(n.kind, n.key)})
		},
		"ConditionalWrite": func(t *rapid.T) {
			m.apply(t, []delivery.Write{m.genWrite(t, genRef.Draw(t, "ref"))})
		},
		"MultiWrite": func(t *rapid.T) {
			refs := rapid.SliceOfNDistinct(genRef, 2, 4, rapid.ID[ref]).Draw(t, "refs")
			writes := make([]delivery.Write, len(refs))
			for i, n := range refs {
				writes[i] = m.genWrite(t, n)
			}
			m.apply(t, writes)
		},
		"PutBatch": func(t *rapid.T) {
			bw, ok := m.s.(delivery.BulkWriter)
			if !ok {
				t.Skip("not a BulkWriter")
			}
			refs := rapid.SliceOfNDistinct(genRef, 0, 4, rapid.ID[ref]).Draw(t, "refs")
			recs := make([]delivery.Record, len(refs))
			for i, n := range refs {
				recs[i] = genPut(t, n).Record
			}
			rev, err := bw.PutBatch(ctx, recs)
			if err != nil || rev <= m.rev {
				t.Fatalf("PutBatch = %d, %v; want success with a revision above %d", rev, err, m.rev)
			}
			m.rev = rev
			for _, r := range recs {
				r.Revision = rev
				m.recs[ref{r.Kind, r.Key}] = modelRec{rec: r}
			}
		},
		"Get": func(t *rapid.T) {
			m.checkGet(t, genRef.Draw(t, "ref"))
		},
		"List": func(t *rapid.T) {
			kind := rapid.SampledFrom(modelKinds).Draw(t, "kind")
			q := delivery.Query{After: rapid.SampledFrom(modelAfter).Draw(t, "after"), Limit: rapid.IntRange(0, 3).Draw(t, "limit")}
			if rapid.Bool().Draw(t, "filter") {
				q.IndexName = rapid.SampledFrom([]string{"color", "size"}).Draw(t, "field")
				q.IndexValue = rapid.SampledFrom([]string{"", "red", "blue", "s"}).Draw(t, "value")
			}
			got, next, err := m.s.List(ctx, kind, q)
			if err != nil {
				t.Fatalf("List(%q, %+v) = %v; want success", kind, q, err)
			}
			want, wantNext := m.list(kind, q)
			if !slices.EqualFunc(got, want, same) || next != wantNext {
				t.Fatalf("List(%q, %+v) = %s, next %q; want %s, next %q", kind, q, showAll(got), next, showAll(want), wantNext)
			}
		},
		"Changes": func(t *rapid.T) {
			after := rapid.Int64Range(0, m.rev).Draw(t, "after")
			limit := rapid.IntRange(0, 4).Draw(t, "limit")
			wantFeed(t, changes(t, m.s, after, limit), m.changes(after, limit), fmt.Sprintf("Changes(%d, %d)", after, limit))
		},
		"": func(t *rapid.T) {
			for _, kind := range modelKinds {
				want, _ := m.list(kind, delivery.Query{})
				if got := listAll(t, m.s, kind, delivery.Query{Limit: 2}); !slices.EqualFunc(got, want, same) {
					t.Fatalf("List(%q) = %s; want %s", kind, showAll(got), showAll(want))
				}
				for _, key := range modelKeys {
					m.checkGet(t, ref{kind, key})
				}
			}
		},
	}
}

var genRef = rapid.Custom(func(t *rapid.T) ref {
	return ref{rapid.SampledFrom(modelKinds).Draw(t, "kind"), rapid.SampledFrom(modelKeys).Draw(t, "key")}
})

// genPut returns a Put of n with random Index and Data, expecting 0.
func genPut(t *rapid.T, n ref) delivery.Write {
	index := map[string]string{}
	if rapid.Bool().Draw(t, "color?") {
		index["color"] = rapid.SampledFrom([]string{"", "red", "blue"}).Draw(t, "color")
	}
	if rapid.Bool().Draw(t, "size?") {
		index["size"] = "s"
	}
	data := rapid.SliceOfN(rapid.Byte(), 0, 6).Draw(t, "data")
	return delivery.Write{Op: delivery.Put, Record: delivery.Record{Kind: n.kind, Key: n.key, Index: index, Data: data}}
}

// genWrite returns a Put or Delete of n expecting a revision that may or
// may not hold.
func (m *model) genWrite(t *rapid.T, n ref) delivery.Write {
	w := del(n.kind, n.key)
	if rapid.IntRange(0, 2).Draw(t, "put?") > 0 {
		w = genPut(t, n)
	}
	cur := m.current(n)
	w.Expect = rapid.SampledFrom([]int64{delivery.AnyRevision, cur, cur, 0, cur + 1, max(cur-1, 0), m.rev}).Draw(t, "expect")
	return w
}

// current returns the revision of the live record, or 0.
func (m *model) current(n ref) int64 {
	if r, ok := m.recs[n]; ok && !r.deleted {
		return r.rec.Revision
	}
	return 0
}

// apply runs writes on the store and the model, and checks that the store
// succeeded exactly when every Expect held.
func (m *model) apply(t *rapid.T, writes []delivery.Write) {
	holds := true
	for _, w := range writes {
		holds = holds && (w.Expect == delivery.AnyRevision || w.Expect == m.current(ref{w.Record.Kind, w.Record.Key}))
	}
	rev, err := m.s.Apply(context.Background(), writes)
	if !holds {
		if !errors.Is(err, consign.ErrConflict) {
			t.Fatalf("Apply(%s) = %d, %v; want an error matching consign.ErrConflict", describe(writes), rev, err)
		}
		return
	}
	if err != nil || rev <= m.rev {
		t.Fatalf("Apply(%s) = %d, %v; want success with a revision above %d", describe(writes), rev, err, m.rev)
	}
	m.rev = rev
	for _, w := range writes {
		n := ref{w.Record.Kind, w.Record.Key}
		switch {
		case w.Op == delivery.Put:
			r := w.Record
			r.Revision = rev
			m.recs[n] = modelRec{rec: r}
		case m.current(n) != 0: // deleting an absent record leaves no tombstone
			m.recs[n] = modelRec{rec: delivery.Record{Kind: n.kind, Key: n.key, Revision: rev}, deleted: true}
		}
	}
}

func (m *model) checkGet(t *rapid.T, n ref) {
	got, err := m.s.Get(context.Background(), n.kind, n.key)
	r, ok := m.recs[n]
	switch {
	case !ok || r.deleted:
		if !errors.Is(err, consign.ErrNotFound) {
			t.Fatalf("Get(%q, %q) = %s, %v; want an error matching consign.ErrNotFound", n.kind, n.key, show(got), err)
		}
	case err != nil || !same(got, r.rec):
		t.Fatalf("Get(%q, %q) = %s, %v; want %s", n.kind, n.key, show(got), err, show(r.rec))
	}
}

// list is List on the model.
func (m *model) list(kind string, q delivery.Query) ([]delivery.Record, string) {
	var recs []delivery.Record
	for n, r := range m.recs {
		if v, has := r.rec.Index[q.IndexName]; n.kind == kind && !r.deleted && n.key > q.After && (q.IndexName == "" || has && v == q.IndexValue) {
			recs = append(recs, r.rec)
		}
	}
	slices.SortFunc(recs, func(a, b delivery.Record) int { return strings.Compare(a.Key, b.Key) })
	if q.Limit > 0 && len(recs) > q.Limit {
		return recs[:q.Limit], recs[q.Limit-1].Key
	}
	return recs, ""
}

// changes is Changes on the model, a page rounded up to a whole revision.
func (m *model) changes(after int64, limit int) []delivery.Change {
	var cs []delivery.Change
	for _, r := range m.recs {
		if r.rec.Revision > after {
			cs = append(cs, delivery.Change{Record: r.rec, Deleted: r.deleted})
		}
	}
	sortChanges(cs)
	if limit > 0 && len(cs) > limit {
		end := limit
		for end < len(cs) && cs[end].Record.Revision == cs[limit-1].Record.Revision {
			end++
		}
		cs = cs[:end]
	}
	return cs
}

func showAll(recs []delivery.Record) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = show(r)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
