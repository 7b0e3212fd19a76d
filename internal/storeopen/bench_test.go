package storeopen_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/internal/fleet"
	"github.com/consign/consign/internal/storeopen"
	pkg "github.com/consign/consign/package"
)

// envInt reads a count from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

// stores lists the stores the benchmarks compare: memory, bolt in a temp
// dir, and PostgreSQL in a fresh schema when CONSIGN_TEST_POSTGRES is set.
func stores(b *testing.B) []struct{ name, spec string } {
	out := []struct{ name, spec string }{
		{"memory", "memory"},
		{"bolt", "bolt:" + filepath.Join(b.TempDir(), "site.db")},
	}
	if dsn := os.Getenv("CONSIGN_TEST_POSTGRES"); dsn != "" {
		out = append(out, struct{ name, spec string }{"postgres", "postgres:" + dsn + "#" + freshSchema(b, dsn)})
	}
	return out
}

func open(b *testing.B, spec string) delivery.Store {
	b.Helper()
	s, err := storeopen.Open(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

var epoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func site(b *testing.B, s delivery.Store) *delivery.Site { return siteWith(b, s, "") }

// siteWith opens a Site over s keeping its checkpoint at path ("" for
// none).
func siteWith(b *testing.B, s delivery.Store, checkpoint string) *delivery.Site {
	b.Helper()
	site, err := delivery.Open(context.Background(), s, nil, &delivery.Options{Clock: func() time.Time { return epoch }, Checkpoint: checkpoint})
	if err != nil {
		b.Fatal(err)
	}
	return site
}

// BenchmarkStatusIntake takes in CONSIGN_BENCH_MESSAGES status messages
// (default 1,000,000) through Site.ReportMany, 1,000 devices per call, for
// one advertisement targeting every device, on each store, in two shapes:
//
//   - fleet: a mandatory assignment reaching 100,000 devices, each
//     reporting 10 messages (Received, Started, Succeeded, …) in two
//     uploads of 5, so each device's status is written twice;
//   - hot: 10,000 devices reporting 100 messages each in uploads of 10, so
//     each status record is rewritten 10 times (the worst case for a store
//     that keeps old row versions, as PostgreSQL does).
//
// Reported: messages/s.
func BenchmarkStatusIntake(b *testing.B) {
	total := envInt(b, "CONSIGN_BENCH_MESSAGES", 1_000_000)
	shapes := []struct {
		name               string
		perDevice, perCall int // messages per device per upload, devices per call
		uploadsPerDevice   int
	}{
		{"fleet", 5, 1_000, 2},
		{"hot", 10, 1_000, 10},
	}
	for _, st := range stores(b) {
		for _, sh := range shapes {
			devices := max(sh.perCall, total/(sh.perDevice*sh.uploadsPerDevice))
			b.Run(st.name+"/"+sh.name, func(b *testing.B) {
				spec := st.spec
				if strings.HasPrefix(spec, "bolt:") {
					spec = "bolt:" + filepath.Join(b.TempDir(), "site.db")
				} else if strings.HasPrefix(spec, "postgres:") {
					dsn, _, _ := strings.Cut(strings.TrimPrefix(spec, "postgres:"), "#")
					spec = "postgres:" + dsn + "#" + freshSchema(b, dsn)
				}
				intake(b, spec, total, devices, sh.perDevice, sh.perCall)
			})
		}
	}
}

// intake runs one BenchmarkStatusIntake shape: devices devices, total
// messages, perDevice messages per device per upload, perCall devices per
// ReportMany.
func intake(b *testing.B, spec string, total, devices, perDevice, perCall int) {
	ctx := context.Background()
	store := open(b, spec)
	defer store.Close()
	s := site(b, store)
	for lo := 0; lo < devices; lo += 10_000 {
		var devs []*collection.Device
		for i := lo; i < min(lo+10_000, devices); i++ {
			devs = append(devs, &collection.Device{ResourceID: uint32(i + 1), Name: fmt.Sprintf("PC%06d", i), OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", Client: true})
		}
		if err := s.PutDevices(ctx, devs...); err != nil {
			b.Fatal(err)
		}
	}
	prog := pkg.NewProgram("", "Install", `\\FS01\apps\setup.exe /s`)
	prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	ad := advertisement.New("", "App", "", "", "", epoch)
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	res, err := s.DistributeSoftware(ctx, delivery.DistributeRequest{NewPackage: pkg.NewPackage("", "App"),
		NewPrograms: []*pkg.Program{prog}, ProgramName: "Install", CollectionID: collection.AllSystemsID, Advertisement: ad})
	if err != nil {
		b.Fatal(err)
	}
	events := []advertisement.Event{advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded}
	sent := 0
	for b.Loop() {
		for round := 0; sent < total; round++ {
			b.StopTimer()
			batch := make([]delivery.DeviceReport, perCall)
			for i := range batch {
				rid := uint32((round*perCall+i)%devices + 1)
				msgs := make([]advertisement.Message, perDevice)
				for j := range msgs {
					n := sent + i*perDevice + j
					msgs[j] = advertisement.Message{ID: strconv.Itoa(n), AdvertisementID: res.Advertisement.ID, ResourceID: rid,
						Event: events[j%len(events)], Time: epoch.Add(time.Duration(n) * time.Millisecond)}
				}
				batch[i] = delivery.DeviceReport{ResourceID: rid, Messages: msgs}
			}
			b.StartTimer()
			rs, err := s.ReportMany(ctx, batch)
			if r := delivery.Total(rs); err != nil || r.Accepted != perCall*perDevice {
				b.Fatalf("ReportMany: %+v, %v", r, err)
			}
			sent += perCall * perDevice
		}
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "messages/s")
}

// BenchmarkSiteReopen opens a Site over a store holding
// CONSIGN_BENCH_DEVICES fleet devices (default 1,000,000) and 100 query
// collections, and reports the time until it is ready: "full" loads the
// whole store, "checkpoint" reads the checkpoint the Site wrote when it
// closed (Options.Checkpoint) and the store's other records. The
// checkpoint's writing (at each Close) is reported as s/checkpoint.
func BenchmarkSiteReopen(b *testing.B) {
	n := envInt(b, "CONSIGN_BENCH_DEVICES", 1_000_000)
	for _, st := range stores(b) {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			store := open(b, st.spec)
			ckpt := filepath.Join(b.TempDir(), "site.ckpt")
			s := siteWith(b, store, ckpt)
			for i, q := range fleet.Queries(100) {
				if _, err := s.CreateCollection(ctx, &collection.Collection{Name: fmt.Sprint("Collection ", i),
					QueryRules: []collection.QueryRule{{RuleName: "rule", Query: q}}}, ""); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			const batch = 10_000
			for lo := 0; lo < n; lo += batch {
				devs := make([]*collection.Device, 0, batch)
				for i := lo; i < min(lo+batch, n); i++ {
					devs = append(devs, fleet.Device(rng, i))
				}
				if err := s.PutDevices(ctx, devs...); err != nil {
					b.Fatal(err)
				}
			}
			want := s.Collections()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if st.name != "memory" { // a persistent store is reopened from disk
				store.Close()
				store = open(b, st.spec)
			}
			defer store.Close()
			for _, from := range []string{"full", "checkpoint"} {
				b.Run(from, func(b *testing.B) {
					path := ""
					if from == "checkpoint" {
						path = ckpt
					}
					var writing time.Duration
					for b.Loop() {
						r := siteWith(b, store, path)
						if got := r.Collections(); len(got) != len(want) {
							b.Fatalf("reopened with %d collections, want %d", len(got), len(want))
						}
						b.StopTimer()
						start := time.Now()
						if err := r.Close(); err != nil {
							b.Fatal(err)
						}
						writing += time.Since(start)
						b.StartTimer()
					}
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/open")
					if path != "" {
						b.ReportMetric(writing.Seconds()/float64(b.N), "s/checkpoint")
					}
				})
			}
		})
	}
}

// BenchmarkPointRead reads one advertisement record among a site's records
// with Store.Get, and reports the median and 99th percentile.
func BenchmarkPointRead(b *testing.B) {
	for _, st := range stores(b) {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			store := open(b, st.spec)
			defer store.Close()
			var writes []delivery.Write
			for i := range 100_000 {
				writes = append(writes, delivery.Write{Op: delivery.Put, Expect: delivery.AnyRevision,
					Record: delivery.Record{Kind: "advertisement", Key: fmt.Sprintf("CEN%05X", i), Index: map[string]string{"collection": "SMS00001"}, Data: make([]byte, 400)}})
				if len(writes) == 10_000 {
					if _, err := store.Apply(ctx, writes); err != nil {
						b.Fatal(err)
					}
					writes = writes[:0]
				}
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("CEN%05X", (i*7919)%100_000)
				i++
				start := time.Now()
				if _, err := store.Get(ctx, "advertisement", key); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// freshSchema names a new PostgreSQL schema for one benchmark (pgstore
// creates it) and drops it afterwards.
func freshSchema(b *testing.B, dsn string) string {
	name := fmt.Sprintf("bench_%x", rand.Uint64())
	b.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Logf("dropping schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			b.Logf("dropping schema %s: %v", name, err)
		}
	})
	return name
}
