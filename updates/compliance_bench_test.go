package updates

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/consign/consign"
)

// The benchmark fleet: CONSIGN_BENCH_DEVICES devices (default 1,000,000),
// 50 updates, All Systems plus three smaller collections, and one
// deployment of the 50 updates to All Systems. Scan results arrive in
// batches of ciBenchChunk devices × 50 updates, in device order, as a
// management point forwards them.
const (
	ciBenchUpdates = 50
	ciBenchChunk   = 1000
	ciBenchFirstID = 16777216 // the first ResourceID ConfigMgr assigns
	ciBenchFirstCI = 16800000
	ciBenchDeploy  = 16777300
)

// ciBenchDevices returns CONSIGN_BENCH_DEVICES, or def when it is not set.
func ciBenchDevices(b *testing.B, def int) int {
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

// ciBenchState is the first scan result of device i for update u: mostly
// Installed, some NotRequired and Required, a few Unknown, varying with
// both.
func ciBenchState(i, u int) ComplianceState {
	switch h := uint32(i*2654435761+u*40503) >> 16 % 20; {
	case h < 11:
		return Installed
	case h < 15:
		return NotRequired
	case h < 19:
		return Required
	default:
		return Unknown
	}
}

// ciBenchBatches returns, for the chunk at offset k, the states of each
// pass: the first scan, then passes in which every Required state becomes
// Installed and every Installed one Required (pass p%2).
type ciBenchBatches struct {
	first, flipped [][]ScanState // by chunk number % len
}

func newCIBenchBatches() *ciBenchBatches {
	const variants = 7
	bb := &ciBenchBatches{}
	for v := range variants {
		first := make([]ScanState, 0, ciBenchChunk*ciBenchUpdates)
		flipped := make([]ScanState, 0, ciBenchChunk*ciBenchUpdates)
		for i := range ciBenchChunk {
			for u := range ciBenchUpdates {
				s := ciBenchState(v*ciBenchChunk+i, u)
				f := s
				switch s {
				case Required:
					f = Installed
				case Installed:
					f = Required
				}
				id := CIID(ciBenchFirstCI + u)
				first = append(first, ScanState{Update: id, State: s})
				flipped = append(flipped, ScanState{Update: id, State: f})
			}
		}
		bb.first = append(bb.first, first)
		bb.flipped = append(bb.flipped, flipped)
	}
	return bb
}

// ingest feeds every device's 50 states through Apply, one chunk at a
// time; pass 0 is the first scan, odd passes flip Required and Installed,
// even passes flip them back. Filling in the device IDs is part of the
// measured work, as building batches is for a real ingest.
func (bb *ciBenchBatches) ingest(b *testing.B, x *ComplianceIndex, n, pass int) {
	for c := 0; c*ciBenchChunk < n; c++ {
		batch := bb.first[c%len(bb.first)]
		if pass%2 == 1 {
			batch = bb.flipped[c%len(bb.flipped)]
		}
		devs := min(ciBenchChunk, n-c*ciBenchChunk)
		batch = batch[:devs*ciBenchUpdates]
		for i := range devs {
			id := uint32(ciBenchFirstID + c*ciBenchChunk + i)
			for j := i * ciBenchUpdates; j < (i+1)*ciBenchUpdates; j++ {
				batch[j].Device = id
			}
		}
		if err := x.Apply(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// ciBenchIndex registers the fleet, its collections and the deployment.
func ciBenchIndex(b *testing.B, n int) *ComplianceIndex {
	x := NewComplianceIndex()
	x.Grow(n, ciBenchUpdates)
	all := make([]uint32, n)
	var even, half, tenth []uint32
	for i := range n {
		id := uint32(ciBenchFirstID + i)
		if err := x.AddDevice(id); err != nil {
			b.Fatal(err)
		}
		all[i] = id
		if i%2 == 0 {
			even = append(even, id)
		}
		if i < n/2 {
			half = append(half, id)
		}
		if i%10 == 0 {
			tenth = append(tenth, id)
		}
	}
	deployed := make([]CIID, ciBenchUpdates)
	for u := range ciBenchUpdates {
		deployed[u] = CIID(ciBenchFirstCI + u)
		if err := x.AddUpdate(deployed[u]); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		id      consign.ObjectID
		members []uint32
	}{{"SMS00001", all}, {"CEN00001", even}, {"CEN00002", half}, {"CEN00003", tenth}} {
		if err := x.SetMembers(c.id, c.members); err != nil {
			b.Fatal(err)
		}
	}
	if err := x.SetDeployment(ciBenchDeploy, "SMS00001", deployed); err != nil {
		b.Fatal(err)
	}
	return x
}

func ciHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkComplianceIngest measures the first scan of the whole fleet
// through Apply: every device's 50 states from Unknown, with the update,
// device, collection and deployment summaries maintained. Target: ≥ 5,000,000
// states/s. B/device is the index's heap after the ingest.
func BenchmarkComplianceIngest(b *testing.B) {
	n := ciBenchDevices(b, 1_000_000)
	bb := newCIBenchBatches()
	var perDevice float64
	iters := 0
	for b.Loop() {
		b.StopTimer()
		base := ciHeap()
		x := ciBenchIndex(b, n)
		b.StartTimer()
		bb.ingest(b, x, n, 0)
		b.StopTimer()
		perDevice = float64(ciHeap()-base) / float64(n)
		if s, _ := x.Deployment(ciBenchDeploy); s.Total != n {
			b.Fatalf("deployment summary %+v, want %d members", s, n)
		}
		runtime.KeepAlive(x)
		b.StartTimer()
		iters++
	}
	b.ReportMetric(float64(iters*n*ciBenchUpdates)/b.Elapsed().Seconds(), "states/s")
	b.ReportMetric(perDevice, "B/device")
}

// BenchmarkComplianceReingest measures steady-state re-ingest: every pass
// re-reports all 50 states of every device, and every Required state
// becomes Installed and every Installed one Required (so the deployment's
// and the collections' summaries move on most devices). Target: ≥ 5,000,000
// states/s.
func BenchmarkComplianceReingest(b *testing.B) {
	n := ciBenchDevices(b, 1_000_000)
	bb := newCIBenchBatches()
	x := ciBenchIndex(b, n)
	bb.ingest(b, x, n, 0)
	pass := 0
	for b.Loop() {
		pass++
		bb.ingest(b, x, n, pass)
	}
	b.ReportMetric(float64(pass*n*ciBenchUpdates)/b.Elapsed().Seconds(), "states/s")
}

// BenchmarkComplianceSummaries measures reading the summaries of a fully
// scanned fleet. Target for Deployment: ≤ 1 µs whatever the fleet size.
func BenchmarkComplianceSummaries(b *testing.B) {
	n := ciBenchDevices(b, 1_000_000)
	x := ciBenchIndex(b, n)
	newCIBenchBatches().ingest(b, x, n, 0)
	b.Run("Deployment", func(b *testing.B) {
		for b.Loop() {
			if s, _ := x.Deployment(ciBenchDeploy); s.Total != n {
				b.Fatal(s)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		for b.Loop() {
			if s, _ := x.Update(ciBenchFirstCI + 7); s.Total != n {
				b.Fatal(s)
			}
		}
	})
	b.Run("Collection", func(b *testing.B) {
		for b.Loop() {
			if s, _ := x.Collection("CEN00002"); s.Total != n/2 {
				b.Fatal(s)
			}
		}
	})
	b.Run("RequiredUpdates", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.RequiredUpdates(ciBenchFirstID + 12345%uint32(n))
		}
	})
}
