package delivery_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/internal/fleet"
	pkg "github.com/consign/consign/package"
)

// BenchmarkPolicy measures Policy for a device in 50 collections on a site
// with 10,000 advertisements (issue target: ≤ 20 µs). The advertisements
// are spread over 5,000 collections, two each, so the device is offered 100
// of them; the rest exist only to make the site realistically large.
func BenchmarkPolicy(b *testing.B) {
	ctx := context.Background()
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{SiteCode: "CEN", Clock: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	var devs []*collection.Device
	for i := uint32(1); i <= 100; i++ {
		devs = append(devs, device(i, fmt.Sprintf("PC%03d", i), win7, "CONTOSO.COM/WORKSTATIONS"))
	}
	if err := site.PutDevices(ctx, devs...); err != nil {
		b.Fatal(err)
	}
	p, err := site.CreatePackage(ctx, pkg.NewPackage("", "bench"))
	if err != nil {
		b.Fatal(err)
	}
	if err := site.CreateProgram(ctx, withPkg(newProgram("Install"), p.ID)); err != nil {
		b.Fatal(err)
	}
	for c := range 5000 {
		// Device 1 is in the first 50 collections; the others hold one of the
		// other devices each.
		member := uint32(2 + c%99)
		if c < 50 {
			member = 1
		}
		col, err := site.CreateCollection(ctx, &collection.Collection{Name: fmt.Sprint("c", c),
			DirectRules: []collection.DirectRule{{RuleName: "d", ResourceID: member}}}, "")
		if err != nil {
			b.Fatal(err)
		}
		for range 2 {
			ad := advertisement.New("", "ad", p.ID, "Install", col.ID, t0)
			ad.PresentTimeIsGMT, ad.ASAP = true, c%2 == 0
			if _, err := site.CreateAdvertisement(ctx, ad); err != nil {
				b.Fatal(err)
			}
		}
	}
	pol, err := site.Policy(ctx, 1, nil)
	if err != nil || len(pol.Offers) != 100 {
		b.Fatalf("policy has %d offers (%v), want 100", len(pol.Offers), err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := site.Policy(ctx, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// populate fills a Site with n fleet devices (in batches) and the 100
// fleet collection queries.
func populate(b *testing.B, site *delivery.Site, n int) {
	b.Helper()
	ctx := context.Background()
	for i, q := range fleet.Queries(100) {
		if _, err := site.CreateCollection(ctx, &collection.Collection{Name: fmt.Sprint("Collection ", i),
			QueryRules: []collection.QueryRule{{RuleName: "rule", Query: q}}}, ""); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		devs := make([]*collection.Device, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			devs = append(devs, fleet.Device(rng, i))
		}
		if err := site.PutDevices(ctx, devs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSiteOpen measures delivery.Open over a memstore holding
// CONSIGN_BENCH_DEVICES fleet devices (default 100,000) and 100 query
// collections: the time until the Site is ready (memberships evaluated,
// indexes built). Reported: seconds and µs per device.
func BenchmarkSiteOpen(b *testing.B) {
	ctx := context.Background()
	n := benchScanDevices(b)
	store := memstore.New()
	site, err := delivery.Open(ctx, store, nil, &delivery.Options{Clock: func() time.Time { return fleet.Epoch }})
	if err != nil {
		b.Fatal(err)
	}
	populate(b, site, n)
	want := site.Collections()
	for b.Loop() {
		s, err := delivery.Open(ctx, store, nil, &delivery.Options{Clock: func() time.Time { return fleet.Epoch }})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Collections()) != len(want) {
			b.Fatalf("reopened with %d collections, want %d", len(s.Collections()), len(want))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/open")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/device")
}

// BenchmarkPutDevices puts fleet devices (discovery data and ~20
// inventory rows each) into a site of 100 query collections, 5,000 per
// call: validation, the storage form, one memstore write, and the
// incremental evaluation of every collection. Reported: devices/s.
func BenchmarkPutDevices(b *testing.B) {
	ctx := context.Background()
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{Clock: func() time.Time { return fleet.Epoch }})
	if err != nil {
		b.Fatal(err)
	}
	populate(b, site, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 5000
	n := 0
	for b.Loop() {
		b.StopTimer()
		devs := make([]*collection.Device, 0, batch)
		for range batch {
			devs = append(devs, fleet.Device(rng, n))
			n++
		}
		b.StartTimer()
		if err := site.PutDevices(ctx, devs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "devices/s")
}
