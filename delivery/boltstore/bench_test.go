package boltstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/boltstore"
)

// The store-level benchmarks (figures in BENCHMARKS.md). They run on
// 1,000,000 records unless CONSIGN_BENCH_RECORDS says otherwise, e.g.
//
//	CONSIGN_BENCH_RECORDS=100000 go test -run '^$' -bench . ./delivery/boltstore/
//
// Every commit is fsynced (the default Options) except where a benchmark's
// name says nosync.

// benchRecords is the number of records the benchmarks use.
func benchRecords(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("CONSIGN_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10_000 {
			b.Fatalf("CONSIGN_BENCH_RECORDS=%q: want a number of at least 10000", v)
		}
	}
	return n
}

const benchBatch = 10_000

// statusKey is the key of the i-th of n device-state records. scattered
// keys follow a permutation of i, so that a batch of consecutive i touches
// keys all over the kind, as status from many devices does.
func statusKey(i, n int, scattered bool) string {
	if scattered {
		i = int((int64(i) * 7919) % int64(n))
	}
	return fmt.Sprintf("CEN20001/%08d", i)
}

// statusRecord is a device-state record in the shape the Site writes for
// status messages: ~200 bytes of data and an index field.
func statusRecord(key string, gen int) delivery.Record {
	data := make([]byte, 200)
	for j := range data {
		data[j] = byte(len(key)*31 + j*7 + gen)
	}
	return delivery.Record{Kind: "adstatus", Key: key, Index: map[string]string{"advertisement": "CEN20001"}, Data: data}
}

// load writes n records through PutBatch in batches of benchBatch and
// returns each record's revision.
func load(b *testing.B, s *boltstore.Store, n int, scattered bool) []int64 {
	ctx := context.Background()
	revs := make([]int64, n)
	recs := make([]delivery.Record, 0, benchBatch)
	for lo := 0; lo < n; lo += benchBatch {
		recs = recs[:0]
		for i := lo; i < min(lo+benchBatch, n); i++ {
			recs = append(recs, statusRecord(statusKey(i, n, scattered), 0))
		}
		rev, err := s.PutBatch(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		for i := lo; i < min(lo+benchBatch, n); i++ {
			revs[i] = rev
		}
	}
	return revs
}

func BenchmarkPutBatch(b *testing.B) {
	n := benchRecords(b)
	for _, c := range []struct {
		name      string
		scattered bool
		opts      *boltstore.Options
	}{
		{"keys=sequential", false, nil},
		{"keys=scattered", true, nil},
		{"keys=scattered/nosync", true, &boltstore.Options{NoSync: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			round := 0
			for b.Loop() {
				round++
				path := filepath.Join(dir, fmt.Sprintf("load%d.db", round))
				s, err := boltstore.Open(path, c.opts)
				if err != nil {
					b.Fatal(err)
				}
				load(b, s, n, c.scattered)
				s.Close()
				b.StopTimer()
				os.Remove(path)
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// fixture is a store file of benchRecords scattered records, made once
// and shared by the read and update benchmarks.
var fixture struct {
	once sync.Once
	dir  string
	path string
	n    int
	revs []int64
	err  error
}

// openFixture opens the shared fixture.
func openFixture(b *testing.B) (*boltstore.Store, []int64) {
	n := benchRecords(b)
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "boltstore-bench")
		if fixture.err != nil {
			return
		}
		fixture.path, fixture.n = filepath.Join(fixture.dir, "fixture.db"), n
		s, err := boltstore.Open(fixture.path, &boltstore.Options{NoSync: true})
		if err != nil {
			fixture.err = err
			return
		}
		fixture.revs = load(b, s, n, true)
		fixture.err = s.Close()
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	s, err := boltstore.Open(fixture.path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, fixture.revs
}

// BenchmarkApplyExpect updates 10,000 existing records (scattered over the
// kind) in one Apply, each write expecting the record's current revision.
func BenchmarkApplyExpect(b *testing.B) {
	ctx := context.Background()
	s, revs := openFixture(b)
	n := len(revs)
	writes := make([]delivery.Write, benchBatch)
	lo, gen := 0, 0
	for b.Loop() {
		b.StopTimer()
		gen++
		for j := range writes {
			i := (lo + j) % n
			writes[j] = delivery.Write{Op: delivery.Put, Expect: revs[i], Record: statusRecord(statusKey(i, n, true), gen)}
		}
		b.StartTimer()
		rev, err := s.Apply(ctx, writes)
		if err != nil {
			b.Fatal(err)
		}
		for j := range writes {
			revs[(lo+j)%n] = rev
		}
		lo = (lo + benchBatch) % n
	}
	b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkGet reads one record at random among benchRecords and reports
// the median and 99th percentile of the calls' durations.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s, revs := openFixture(b)
	n := len(revs)
	rng := rand.New(rand.NewPCG(1, 2))
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		key := statusKey(rng.IntN(n), n, false)
		start := time.Now()
		_, err := s.Get(ctx, "adstatus", key)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkChanges reads the whole feed, as a Site does when it opens.
func BenchmarkChanges(b *testing.B) {
	ctx := context.Background()
	s, revs := openFixture(b)
	n := len(revs)
	for b.Loop() {
		cs, err := s.Changes(ctx, 0, 0)
		if err != nil || len(cs) != n {
			b.Fatalf("Changes(0, 0) = %d changes, %v; want %d", len(cs), err, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkListPage reads one page of 100 from the middle of the fixture,
// by key and by index; its cost must not grow with the store.
func BenchmarkListPage(b *testing.B) {
	ctx := context.Background()
	s, revs := openFixture(b)
	after := statusKey(len(revs)/2, len(revs), false)
	for _, q := range []delivery.Query{
		{After: after, Limit: 100},
		{IndexName: "advertisement", IndexValue: "CEN20001", After: after, Limit: 100},
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
