package delivery_test

import (
	"net/netip"
	"testing"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/distpoint"
)

// Content location through the Site: only DPs that hold the version the
// device asks for, and the advertisement's choices for a slow boundary.
func TestLocate(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	for _, b := range []distpoint.Boundary{
		{Name: "HQ LAN", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast},
		{Name: "Branch WAN", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.9.0.0/16"), Speed: distpoint.Slow},
	} {
		if err := e.site.AddBoundary(e.ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	bad := &distpoint.DistributionPoint{NALPath: "dp-x", Name: "X", SiteCode: "CEN", Kind: distpoint.Standard, Protected: true, Boundaries: []string{"nowhere"}}
	if err := e.site.AddDistributionPoint(e.ctx, bad); !containsField(err, "DistributionPoint.Boundaries[0]") {
		t.Errorf("a protected DP naming an unknown boundary: err = %v", err)
	}
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	d := device(1, "PC01", win7, "X")
	d.IPAddresses = []string{"10.1.4.20"}
	d2 := device(2, "PC02", win7, "X")
	d2.IPAddresses = []string{"10.9.0.7"}
	if err := e.site.PutDevices(e.ctx, d, d2); err != nil {
		t.Fatal(err)
	}
	// The copy has not happened yet: nothing to download, wait.
	if r := must(e.site.Locate(e.ctx, 1, res.Package.ID, 1, res.Advertisement.ID)); r.Action != distpoint.Wait || len(r.Locations) != 0 {
		t.Errorf("before the content is on a DP: %+v, want Wait", r)
	}
	// Refresh and remove need the package on the DP; an unknown DP is named.
	if err := e.site.RefreshPackageOnDistributionPoints(e.ctx, res.Package.ID, "dp-nowhere"); !containsField(err, "DistributionPoints[0]") {
		t.Errorf("refresh on a DP without the package: err = %v", err)
	}
	if err := e.site.RemovePackageFromDistributionPoints(e.ctx, res.Package.ID, dpPath); err != nil {
		t.Fatal(err)
	}
	if rows := must(e.site.PackageStatus(res.Package.ID)); rows[0].State != distpoint.RemovalPending {
		t.Errorf("after remove: %+v, want Removal Pending", rows)
	}
	if err := e.site.RefreshPackageOnDistributionPoints(e.ctx, res.Package.ID, dpPath); err == nil {
		t.Errorf("refreshing a DP the package is being removed from was accepted")
	}
	if _, err := e.site.Locate(e.ctx, 99, res.Package.ID, 1, ""); err == nil {
		t.Errorf("Locate for an unknown device succeeded")
	}
}
