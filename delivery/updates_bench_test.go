package delivery_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/updates"
)

// benchScanDevices is the fleet size of BenchmarkReportScans: 100,000, or
// CONSIGN_BENCH_DEVICES.
func benchScanDevices(b *testing.B) int {
	if s := os.Getenv("CONSIGN_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("CONSIGN_BENCH_DEVICES=%q: want a device count", s)
		}
		return n
	}
	return 100_000
}

// staticSource is an updates.Source over a fixed list.
type staticSource []updates.Update

func (s staticSource) Fetch(context.Context, string) (updates.Batch, error) {
	return updates.Batch{Updates: s, Cursor: "1"}, nil
}

// BenchmarkReportScans takes in scan results through the Site — validation,
// the compact per-device records, one atomic memstore write, the compliance
// index and its summaries — for a fleet × 50 updates, with a deployment of
// the 50 updates to a collection of every device. Each iteration is one
// full round of scans, every device's states changing. Reported:
// states/s.
func BenchmarkReportScans(b *testing.B) {
	ctx := context.Background()
	n := benchScanDevices(b)
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{Clock: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	devs := make([]*collection.Device, n)
	for i := range devs {
		devs[i] = device(uint32(i+1), fmt.Sprintf("PC%07d", i), win7, "CONTOSO.COM/WORKSTATIONS")
	}
	if err := site.PutDevices(ctx, devs...); err != nil {
		b.Fatal(err)
	}
	all, err := site.CreateCollection(ctx, &collection.Collection{Name: "All workstations",
		QueryRules: []collection.QueryRule{{RuleName: "all", Query: `select * from SMS_R_System where Client = 1`}}}, "")
	if err != nil {
		b.Fatal(err)
	}
	var cat staticSource
	for i := range 50 {
		cat = append(cat, updates.Update{UniqueID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Revision: 1,
			Title: fmt.Sprint("Update ", i), Classification: updates.SecurityUpdates, Product: "Contoso OS 6.0"})
	}
	if _, err := site.SyncUpdates(ctx, cat, updates.Filter{}); err != nil {
		b.Fatal(err)
	}
	var ids []updates.CIID
	for _, u := range site.Updates() {
		ids = append(ids, u.CIID)
	}
	dep, err := site.DeploySoftwareUpdates(ctx, delivery.DeployRequest{Name: "bench", Updates: ids, CollectionID: all.ID})
	if err != nil {
		b.Fatal(err)
	}
	scans := make([]delivery.DeviceScan, n)
	round := 0
	fill := func() {
		for i := range scans {
			st := make([]updates.UpdateState, len(ids))
			for j, ci := range ids {
				st[j] = updates.UpdateState{Update: ci, State: updates.ComplianceState(2 + (i+j+round)%2)}
			}
			scans[i] = delivery.DeviceScan{ResourceID: uint32(i + 1), ScanTime: t0.Add(time.Duration(round) * time.Minute), States: st}
		}
		round++
	}
	states := 0
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		res, err := site.ReportScans(ctx, scans)
		if err != nil || res.Accepted != n {
			b.Fatalf("ReportScans: %+v, %v", res, err)
		}
		states += res.States
	}
	b.ReportMetric(float64(states)/b.Elapsed().Seconds(), "states/s")
	if sum, err := site.DeploymentCompliance(dep.Deployment.ID); err != nil || sum.Total != n {
		b.Fatalf("deployment summary %+v, %v", sum, err)
	}
}
