package collection_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/internal/fleet"
)

// benchDevices returns CONSIGN_BENCH_DEVICES, or def when it is not set, so
// that a quick run can shrink the fleet.
func benchDevices(b *testing.B, def int) int {
	s := os.Getenv("CONSIGN_BENCH_DEVICES")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("CONSIGN_BENCH_DEVICES=%q: want a positive number", s)
	}
	return n
}

// benchEngine builds an Engine with n devices and one collection per query,
// and returns it with its heap per device.
func benchEngine(b *testing.B, n int, queries []string) (*collection.Engine, float64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	e := collection.NewEngine(nil)
	// Collections first: each device is then evaluated against all of them
	// as it arrives, decoded once, instead of every device once per
	// collection.
	for i, q := range queries {
		c := collection.NewCollection(consign.NewObjectID("CEN", uint32(i+1)), fmt.Sprintf("Collection %d", i), fleet.Epoch)
		c.QueryRules = []collection.QueryRule{{RuleName: "rule", Query: q}}
		if _, err := e.PutCollection(c, fleet.Epoch); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if _, err := e.PutDevice(fleet.Device(rng, i), fleet.Epoch); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return e, float64(ms.HeapAlloc-base) / float64(n)
}

// BenchmarkFullEvaluation runs EvaluateAll: 100 query collections over
// CONSIGN_BENCH_DEVICES devices (default 1,000,000). Target: ≤ 50 ns per
// device per rule on one core.
func BenchmarkFullEvaluation(b *testing.B) {
	n := benchDevices(b, 1_000_000)
	queries := fleet.Queries(100)
	e, perDevice := benchEngine(b, n, queries)
	rules := len(queries) + 1 // and All Systems
	b.ResetTimer()
	b.ReportMetric(perDevice, "B/device")
	for range b.N {
		e.EvaluateAll(fleet.Epoch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/float64(rules), "ns/device/rule")
}

// BenchmarkIncremental measures PutDevice after one device's inventory or
// discovery data changed, with 1,000 query collections over
// CONSIGN_BENCH_DEVICES devices (default 100,000). Target: ≤ 200 µs per
// change.
func BenchmarkIncremental(b *testing.B) {
	n := benchDevices(b, 100_000)
	e, perDevice := benchEngine(b, n, fleet.Queries(1000))
	rng := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	b.ReportMetric(perDevice, "B/device")
	for i := range b.N {
		b.StopTimer()
		id := uint32(16777216 + rng.IntN(n))
		d, _ := e.Device(id)
		switch i % 3 {
		case 0: // software inventory: one program more or less
			arp := d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]
			if len(arp) > 10 {
				arp = arp[1:]
			} else {
				arp = append(arp, collection.Instance{"DisplayName": "7-Zip 9.20", "Publisher": "Igor Pavlov"})
			}
			d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = arp
		case 1: // hardware inventory: disk space
			d.Inventory["SMS_G_System_LOGICAL_DISK"][0]["FreeSpace"] = rng.Int64N(76293)
		default: // discovery: the device moved subnet and OU
			d.IPSubnets = []string{fmt.Sprintf("10.%d.%d.0", rng.IntN(10), rng.IntN(20))}
			d.SystemOUName = d.SystemOUName[:2]
		}
		b.StartTimer()
		if _, err := e.PutDevice(d, fleet.Epoch); err != nil {
			b.Fatal(err)
		}
	}
}
