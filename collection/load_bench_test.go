package collection_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/internal/fleet"
)

// goParallel is the runner a caller gives Engine.SetParallel: one goroutine
// per part.
func goParallel(n int, work func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { work(i) })
	}
	wg.Wait()
}

// storedFleet returns n fleet devices in storage form, made on every core
// (fleet device i from its own random source, so the result does not
// depend on how the work is split).
func storedFleet(tb testing.TB, n int) [][]byte {
	s := collection.DefaultSchema()
	recs := make([][]byte, n)
	errs := make([]error, runtime.GOMAXPROCS(0))
	parts := len(errs)
	goParallel(parts, func(p int) {
		for i := p * n / parts; i < (p+1)*n/parts; i++ {
			d := fleet.Device(rand.New(rand.NewPCG(uint64(i), 7)), i)
			b, err := collection.EncodeDevice(d, s)
			if err != nil {
				errs[p] = err
				return
			}
			recs[i] = b
		}
	})
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return recs
}

// fleetCollections returns one collection per query.
func fleetCollections(queries []string) []*collection.Collection {
	cs := make([]*collection.Collection, len(queries))
	for i, q := range queries {
		cs[i] = collection.NewCollection(consign.NewObjectID("CEN", uint32(i+1)), fmt.Sprintf("Collection %d", i), fleet.Epoch)
		cs[i].QueryRules = []collection.QueryRule{{RuleName: "rule", Query: q}}
	}
	return cs
}

// BenchmarkLoad measures what a site reopening from its store does with
// CONSIGN_BENCH_DEVICES fleet devices (default 200,000) in storage form and
// 100 fleet query collections: PutEncodedDevices (with the Device fields a
// Site keeps), then LoadCollections, which evaluates every collection over
// every device. Target: ≤ 7 µs per device on this machine's 2 cores
// (µs/device), so that 1,000,000 devices are ready in ≤ 7 s. Beside the
// split between the two calls, it reports the CPU time the process used
// per device (cpu-µs/device, where the platform tells), which says more than
// the wall time when other work shares the machine.
func BenchmarkLoad(b *testing.B) {
	n := benchDevices(b, 200_000)
	recs := storedFleet(b, n)
	cols := fleetCollections(fleet.Queries(100))
	opts := siteOptions(n)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var devices, collections float64
			cpu0 := cpuTime()
			for b.Loop() {
				e := collection.NewEngine(nil)
				e.SetParallel(workers, goParallel)
				start := time.Now()
				res, err := e.PutEncodedDevices(recs, fleet.Epoch, opts)
				if err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				errs := e.LoadCollections(cols, fleet.Epoch)
				devices += float64(mid.Sub(start).Nanoseconds())
				collections += float64(time.Since(mid).Nanoseconds())
				b.Logf("%d devices: put %v, collections %v", n, mid.Sub(start), time.Since(mid))
				for i, err := range append(res.Errs, errs...) {
					if err != nil {
						b.Fatalf("%d: %v", i, err)
					}
				}
				if e.NumDevices() != n {
					b.Fatalf("%d devices loaded of %d", e.NumDevices(), n)
				}
			}
			runs := float64(b.N) * float64(n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/runs/1e3, "µs/device")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/runs/1e3, "cpu-µs/device")
			b.ReportMetric(devices/runs/1e3, "µs/device-put")
			b.ReportMetric(collections/runs/1e3, "µs/device-evaluate")
		})
	}
}

// BenchmarkPutEncodedDevices measures PutEncodedDevices alone (no
// collections but All Systems), with and without the fields a Site keeps.
func BenchmarkPutEncodedDevices(b *testing.B) {
	n := benchDevices(b, 100_000)
	recs := storedFleet(b, n)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		for _, fields := range []bool{false, true} {
			b.Run(fmt.Sprintf("workers=%d/fields=%v", workers, fields), func(b *testing.B) {
				o := &collection.LoadOptions{NoDelta: true}
				if fields {
					o = siteOptions(n)
				}
				cpu0 := cpuTime()
				for b.Loop() {
					e := collection.NewEngine(nil)
					e.SetParallel(workers, goParallel)
					if _, err := e.PutEncodedDevices(recs, fleet.Epoch, o); err != nil {
						b.Fatal(err)
					}
				}
				runs := float64(b.N) * float64(n)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/runs/1e3, "µs/device")
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/runs/1e3, "cpu-µs/device")
			})
		}
	}
}

// siteFacts is what a Site keeps of each device beside the Engine.
type siteFacts struct {
	os, version, platform, site string
	subnets                     int
}

// siteOptions returns the options a Site loads n devices with: no Delta,
// and the Device fields and inventory values it keeps of each device (here
// into a slice made beforehand, so that the benchmark measures the Engine,
// not what the Site keeps them in).
func siteOptions(n int) *collection.LoadOptions {
	facts := make([]siteFacts, n)
	return &collection.LoadOptions{
		NoDelta: true,
		Values:  []string{"SMS_G_System_OPERATING_SYSTEM.Version", "SMS_G_System_COMPUTER_SYSTEM.SystemType"},
		Fields: func(i int, d *collection.Device, v []wql.Value) {
			facts[i] = siteFacts{d.OperatingSystemNameandVersion, v[0].String(), v[1].String(), d.ADSiteName, len(d.IPSubnets)}
		},
	}
}
