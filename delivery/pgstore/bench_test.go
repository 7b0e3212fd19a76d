package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/consign/consign/delivery"
)

// The store-level benchmarks need PostgreSQL (CONSIGN_TEST_POSTGRES) and
// hold 1,000,000 records unless CONSIGN_BENCH_RECORDS says otherwise:
//
//	CONSIGN_BENCH_RECORDS=100000 go test ./delivery/pgstore -run '^$' -bench . -benchtime 1x
//
// They run with the server's commit settings: with synchronous_commit on,
// every Apply and PutBatch waits for its WAL flush, as a durable store must.

// benchRecords is how many records the benchmarks hold.
func benchRecords(b *testing.B) int {
	if v := os.Getenv("CONSIGN_BENCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CONSIGN_BENCH_RECORDS=%q: want a positive number", v)
		}
		return n
	}
	return 1_000_000
}

// openBench opens a Store on a fresh schema.
func openBench(b *testing.B, opts *Options) *Store {
	b.Helper()
	dsn := testDSN(b)
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Schema = freshSchema(b, dsn)
	s, err := Open(context.Background(), dsn, &o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// statusRecord is a device-status record as the Site writes them: a key per
// advertisement and device, 200 bytes of data, one index field.
func statusRecord(rng *rand.Rand, gen, i int) delivery.Record {
	data := make([]byte, 200)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	return delivery.Record{Kind: "adstatus", Key: fmt.Sprintf("CEN%05d/%010d", gen, i),
		Index: map[string]string{"state": []string{"Succeeded", "Failed", "Running"}[i%3]}, Data: data}
}

// batches returns n status records of generation gen in slices of 10,000.
func batches(gen, n int) [][]delivery.Record {
	rng := rand.New(rand.NewPCG(uint64(gen), 1))
	var out [][]delivery.Record
	for lo := 0; lo < n; lo += 10_000 {
		recs := make([]delivery.Record, 0, 10_000)
		for i := lo; i < min(lo+10_000, n); i++ {
			recs = append(recs, statusRecord(rng, gen, i))
		}
		out = append(out, recs)
	}
	return out
}

// BenchmarkPutBatch loads benchRecords records in PutBatch calls of 10,000
// (each iteration a new generation of keys, so the table grows), staged by
// COPY or sent as arrays.
func BenchmarkPutBatch(b *testing.B) {
	for _, mode := range []struct {
		name string
		copy int
	}{{"copy", 1}, {"arrays", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			n := benchRecords(b)
			s := openBench(b, &Options{CopyThreshold: mode.copy})
			gen := 0
			for b.Loop() {
				b.StopTimer()
				bs := batches(gen, n)
				gen++
				b.StartTimer()
				for _, recs := range bs {
					if _, err := s.PutBatch(context.Background(), recs); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkPopulated measures a store holding benchRecords status records:
// point reads, a page of List, the full change feed a Site reads when it
// opens, and conditional updates in bulk and alone.
func BenchmarkPopulated(b *testing.B) {
	ctx := context.Background()
	n := benchRecords(b)
	s := openBench(b, nil)
	var recs []delivery.Record
	for _, batch := range batches(0, n) {
		rev, err := s.PutBatch(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for i := range batch {
			batch[i].Revision = rev
		}
		recs = append(recs, batch...)
	}
	// The steady state: autovacuum analyzes a table once a tenth of it
	// has changed, which a bulk load does at once.
	if _, err := s.pool.Exec(ctx, "ANALYZE "+quote(s.schema)+".records, "+quote(s.schema)+".record_index"); err != nil {
		b.Fatal(err)
	}

	b.Run("Get", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		var took []time.Duration
		for b.Loop() {
			r := recs[rng.IntN(len(recs))]
			start := time.Now()
			if _, err := s.Get(ctx, r.Kind, r.Key); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
	})

	b.Run("ListPage", func(b *testing.B) {
		for _, q := range []delivery.Query{
			{After: recs[len(recs)/2].Key, Limit: 100},
			{IndexName: "state", IndexValue: "Failed", After: recs[len(recs)/2].Key, Limit: 100},
		} {
			b.Run("index="+q.IndexName, func(b *testing.B) {
				for b.Loop() {
					if got, _, err := s.List(ctx, "adstatus", q); err != nil || len(got) == 0 {
						b.Fatal(len(got), err)
					}
				}
			})
		}
	})

	b.Run("Changes", func(b *testing.B) {
		for b.Loop() {
			cs, err := s.Changes(ctx, 0, 0)
			if err != nil || len(cs) != len(recs) {
				b.Fatal(len(cs), err)
			}
		}
		b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
	})

	// Both modes update the same 10,000 records, each write expecting the
	// revision it last read.
	for _, mode := range []struct {
		name string
		copy int
	}{{"copy", 1}, {"arrays", -1}} {
		b.Run("ApplyExpect/"+mode.name, func(b *testing.B) {
			s.copyFrom = max(mode.copy, 0)
			defer func() { s.copyFrom = DefaultCopyThreshold }()
			batch := recs[:min(10_000, len(recs))]
			for b.Loop() {
				writes := make([]delivery.Write, len(batch))
				for i, r := range batch {
					r.Data = slices.Clone(r.Data)
					r.Data[0]++
					writes[i] = delivery.Write{Op: delivery.Put, Record: r, Expect: r.Revision}
				}
				rev, err := s.Apply(ctx, writes)
				if err != nil {
					b.Fatal(err)
				}
				for i := range batch {
					batch[i].Revision = rev
				}
			}
			b.ReportMetric(float64(len(batch)*b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}

	// The Site's ordinary workflow write: a couple of records, each
	// expecting its revision. Bound by the WAL flush of its COMMIT.
	b.Run("ApplySmall", func(b *testing.B) {
		r := recs[len(recs)-1]
		i := 0
		for b.Loop() {
			i++
			rev, err := s.Apply(ctx, []delivery.Write{{Op: delivery.Put, Record: r, Expect: r.Revision},
				{Op: delivery.Put, Record: delivery.Record{Kind: "history", Key: strconv.Itoa(i), Data: r.Data}, Expect: delivery.AnyRevision}})
			if err != nil {
				b.Fatal(err)
			}
			r.Revision = rev
		}
	})
}

// BenchmarkStaging compares the two ways puts reach the server, by batch
// size, to choose DefaultCopyThreshold: array parameters (two round trips
// in all) against COPY into the staging table first (a few more round
// trips, but the revision lock is taken only once the data is there).
func BenchmarkStaging(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		for _, mode := range []struct {
			name string
			copy int
		}{{"copy", 1}, {"arrays", -1}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode.name), func(b *testing.B) {
				s := openBench(b, &Options{CopyThreshold: mode.copy})
				gen := 0
				for b.Loop() {
					b.StopTimer()
					recs := batches(gen, n)[0]
					gen++
					b.StartTimer()
					if _, err := s.PutBatch(context.Background(), recs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/record")
			})
		}
	}
}
