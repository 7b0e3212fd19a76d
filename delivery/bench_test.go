package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
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
