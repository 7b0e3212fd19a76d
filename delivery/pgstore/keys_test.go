package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// TestBinaryKeys: kinds, keys and index fields are arbitrary bytes (NUL,
// invalid UTF-8), stored exactly and ordered byte by byte, as in every
// other Store. The property: for any set of records, List (by key and by
// index, paged with any limit) returns exactly the model's records in
// bytes.Compare order, and Get returns each record as written.
func TestBinaryKeys(t *testing.T) {
	dsn := testDSN(t)
	s := openTest(t, dsn, freshSchema(t, dsn), nil)
	ctx := context.Background()
	text := rapid.StringN(1, 4, -1) // UTF-8, any runes
	rawBytes := rapid.Custom(func(t *rapid.T) string {
		return string(rapid.SliceOfN(rapid.Byte(), 1, 6).Draw(t, "bytes"))
	})
	check := 0
	rapid.Check(t, func(rt *rapid.T) {
		check++
		kind := fmt.Sprintf("kind\x00\xff%d", check) // a kind of its own per check
		keys := rapid.SliceOfNDistinct(rapid.OneOf(text, rawBytes), 1, 12, rapid.ID[string]).Draw(rt, "keys")
		values := []string{"", "\x00", "\xff\xfe", "é", "a\x00b"}
		recs := make([]delivery.Record, len(keys))
		for i, k := range keys {
			recs[i] = delivery.Record{Kind: kind, Key: k, Data: []byte(k + "\x00data"),
				Index: map[string]string{"v\x00": rapid.SampledFrom(values).Draw(rt, "value")}}
		}
		rev, err := s.PutBatch(ctx, recs)
		if err != nil {
			rt.Fatalf("PutBatch: %v", err)
		}
		want := slices.Sorted(slices.Values(keys))
		limit := rapid.IntRange(0, 5).Draw(rt, "limit")
		if got := listKeys(rt, s, kind, delivery.Query{Limit: limit}); !slices.Equal(got, want) {
			rt.Fatalf("List(Limit %d) = %q; want %q", limit, got, want)
		}
		v := rapid.SampledFrom(values).Draw(rt, "query value")
		var wantV []string
		for _, r := range recs {
			if r.Index["v\x00"] == v {
				wantV = append(wantV, r.Key)
			}
		}
		slices.Sort(wantV)
		if got := listKeys(rt, s, kind, delivery.Query{IndexName: "v\x00", IndexValue: v, Limit: limit}); !slices.Equal(got, wantV) {
			rt.Fatalf("List(v=%q, Limit %d) = %q; want %q", v, limit, got, wantV)
		}
		for _, r := range recs {
			got, err := s.Get(ctx, kind, r.Key)
			if err != nil || got.Revision != rev || string(got.Data) != string(r.Data) || !maps.Equal(got.Index, r.Index) {
				rt.Fatalf("Get(%q) = %+v, %v; want %+v at revision %d", r.Key, got, err, r, rev)
			}
		}
	})
}

// listKeys pages through List with q and returns the keys.
func listKeys(t *rapid.T, s *Store, kind string, q delivery.Query) []string {
	var out []string
	for {
		recs, next, err := s.List(context.Background(), kind, q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		for _, r := range recs {
			out = append(out, r.Key)
		}
		if next == "" {
			return out
		}
		q.After = next
	}
}

// TestKeyLimits: keys and index entries longer than a B-tree entry can
// hold are refused up front, naming the field, and nothing is written.
func TestKeyLimits(t *testing.T) {
	dsn := testDSN(t)
	s := openTest(t, dsn, freshSchema(t, dsn), nil)
	ctx := context.Background()
	long := strings.Repeat("k", maxKeyBytes)
	for _, c := range []struct {
		name  string
		write delivery.Write
		field string
	}{
		{"key", delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: "p", Key: long}}, "writes[1].Record.Key"},
		{"delete key", delivery.Write{Op: delivery.Delete, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: "p", Key: long}}, "writes[1].Record.Key"},
		{"index value", delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision,
			Record: delivery.Record{Kind: "p", Key: "k", Index: map[string]string{"f": long}}}, "writes[1].Record.Index[f]"},
	} {
		ok := delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: "p", Key: "ok"}}
		_, err := s.Apply(ctx, []delivery.Write{ok, c.write})
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("Apply with a long %s = %v; want consign.ErrInvalid naming %s", c.name, err, c.field)
		}
	}
	if _, err := s.Get(ctx, "p", "ok"); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("after refused Applies, Get = %v; want consign.ErrNotFound", err)
	}
	// Just under the limit is stored.
	r := delivery.Record{Kind: "p", Key: long[:maxKeyBytes-2], Index: map[string]string{"f": ""}, Data: []byte("x")}
	if _, err := s.PutBatch(ctx, []delivery.Record{r}); err != nil {
		t.Errorf("PutBatch of a key at the limit = %v; want success", err)
	}
}
