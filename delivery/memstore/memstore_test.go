package memstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) delivery.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// handle is one "connection" to a shared memstore: closing it closes the
// handle, not the store, so storetest's persistence cases can reopen. A
// memstore keeps nothing across processes; this exercises the suite
// itself and memstore's behaviour under several handles.
type handle struct {
	*memstore.Store
	closed atomic.Bool
}

func (h *handle) Close() error { h.closed.Store(true); return nil }

func (h *handle) check() error {
	if h.closed.Load() {
		return consign.Errorf(consign.ErrUnavailable, "handle", "", "closed")
	}
	return nil
}

func (h *handle) Get(ctx context.Context, kind, key string) (delivery.Record, error) {
	if err := h.check(); err != nil {
		return delivery.Record{}, err
	}
	return h.Store.Get(ctx, kind, key)
}

func (h *handle) List(ctx context.Context, kind string, q delivery.Query) ([]delivery.Record, string, error) {
	if err := h.check(); err != nil {
		return nil, "", err
	}
	return h.Store.List(ctx, kind, q)
}

func (h *handle) Apply(ctx context.Context, w []delivery.Write) (int64, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	return h.Store.Apply(ctx, w)
}

func (h *handle) PutBatch(ctx context.Context, r []delivery.Record) (int64, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	return h.Store.PutBatch(ctx, r)
}

func (h *handle) Changes(ctx context.Context, after int64, limit int) ([]delivery.Change, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return h.Store.Changes(ctx, after, limit)
}

func TestPersistentSuiteOverHandles(t *testing.T) {
	storetest.RunPersistent(t, func(t *testing.T) (delivery.Store, storetest.Reopener) {
		s := memstore.New()
		return &handle{Store: s}, func(t *testing.T) delivery.Store { return &handle{Store: s} }
	})
}

// deviceStates returns n device-state records in the shape the Site writes
// them for status messages.
func deviceStates(n int) []delivery.Record {
	recs := make([]delivery.Record, n)
	for i := range recs {
		recs[i] = delivery.Record{Kind: "adstatus", Key: fmt.Sprintf("CEN20001/%08d", (i*7919)%n),
			Index: map[string]string{"advertisement": "CEN20001", "state": "Succeeded"}, Data: make([]byte, 200)}
	}
	return recs
}

func BenchmarkPutBatch(b *testing.B) {
	ctx := context.Background()
	recs := deviceStates(1000)
	s := memstore.New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.PutBatch(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// populated returns a store holding n device states.
func populated(b *testing.B, n int) (*memstore.Store, []delivery.Record) {
	recs := deviceStates(n)
	s := memstore.New()
	if _, err := s.PutBatch(context.Background(), recs); err != nil {
		b.Fatal(err)
	}
	return s, recs
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s, recs := populated(b, 100_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := recs[i%len(recs)]
		if _, err := s.Get(ctx, r.Kind, r.Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkListPage reads one page of 100 from the middle of 100,000
// records, by key and by index; its cost must not grow with the store.
func BenchmarkListPage(b *testing.B) {
	ctx := context.Background()
	s, _ := populated(b, 100_000)
	for _, q := range []delivery.Query{
		{After: "CEN20001/00050000", Limit: 100},
		{IndexName: "state", IndexValue: "Succeeded", After: "CEN20001/00050000", Limit: 100},
	} {
		b.Run("index="+q.IndexName, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if recs, _, err := s.List(ctx, "adstatus", q); err != nil || len(recs) != 100 {
					b.Fatal(len(recs), err)
				}
			}
		})
	}
}
