package pgstore

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// TestNewSharedPool runs a Store over a pool it does not own, configured
// as an embedder behind a transaction pooler might (the simple protocol:
// text results, so List and Changes decode through pgx's Scan), with a
// search_path that does not name the store's schema. Close must leave the
// pool usable.
func TestNewSharedPool(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.ConnConfig.RuntimeParams["search_path"] = "pg_catalog"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := New(ctx, pool, &Options{Schema: freshSchema(t, dsn), CopyThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	recs := []delivery.Record{
		{Kind: "device", Key: "b\x00", Index: map[string]string{"site": "CEN"}, Data: []byte{0, 1, 0xff}},
		{Kind: "device", Key: "a", Index: map[string]string{"site": "CEN", "os": "6.1"}, Data: []byte("x")},
	}
	rev, err := s.PutBatch(ctx, recs) // staged with COPY
	if err != nil {
		t.Fatal(err)
	}
	r3, err := s.Apply(ctx, []delivery.Write{{Op: delivery.Delete, Expect: rev, Record: delivery.Record{Kind: "device", Key: "a"}},
		{Op: delivery.Put, Expect: 0, Record: delivery.Record{Kind: "device", Key: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.List(ctx, "device", delivery.Query{IndexName: "site", IndexValue: "CEN"})
	if err != nil || len(got) != 1 || got[0].Key != "b\x00" || string(got[0].Data) != "\x00\x01\xff" || !maps.Equal(got[0].Index, recs[0].Index) {
		t.Errorf("List(site=CEN) = %+v, %v; want only b\\x00 as written", got, err)
	}
	cs, err := s.Changes(ctx, rev, 0)
	if err != nil || len(cs) != 2 || !cs[0].Deleted || cs[0].Record.Key != "a" || cs[1].Record.Key != "c" || cs[1].Record.Revision != r3 {
		t.Errorf("Changes(%d, 0) = %+v, %v; want a's tombstone and c at revision %d", rev, cs, err, r3)
	}
	s.Close()
	if _, err := s.Get(ctx, "device", "c"); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Get after Close = %v; want consign.ErrUnavailable", err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("the caller's pool after Store.Close: %v; want it open", err)
	}
}
