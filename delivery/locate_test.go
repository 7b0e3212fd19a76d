package delivery_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
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

// locateEnv is a content env with a protected lab: boundary "Lab"
// (10.2.0.0/24, fast), a protected standard DP "PDP" and a protected branch
// DP "BR01" in it, and device 7 inside it. DP01–DP03 stay unprotected.
func locateEnv(t *testing.T) *contentEnv {
	t.Helper()
	ce := newContentEnv(t)
	lab := distpoint.Boundary{Name: "Lab", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.2.0.0/24"), Speed: distpoint.Fast}
	if err := ce.site.AddBoundary(ce.ctx, &lab); err != nil {
		t.Fatal(err)
	}
	for _, dp := range []distpoint.DistributionPoint{
		{NALPath: "PDP", Name: "PDP", SiteCode: "CEN", Kind: distpoint.Standard, Protected: true, Boundaries: []string{"Lab"}},
		{NALPath: "BR01", Name: "BR01", SiteCode: "CEN", Kind: distpoint.Branch, Protected: true, Boundaries: []string{"Lab"}},
	} {
		lib, err := fslibrary.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ce.libs[dp.NALPath] = lib
		if err := ce.site.AddDistributionPoint(ce.ctx, &dp); err != nil {
			t.Fatal(err)
		}
	}
	d := device(7, "LAB07", win7, "X")
	d.IPAddresses = []string{"10.2.0.70"}
	if err := ce.site.PutDevices(ce.ctx, d); err != nil {
		t.Fatal(err)
	}
	return ce
}

// createOn creates a package over the env's source with flags and copies
// it to the DPs.
func (ce *contentEnv) createOn(flags pkg.Flags, nals ...string) *pkg.Package {
	ce.t.Helper()
	p := pkg.NewPackage("", "Lab App")
	p.SourceFlag, p.SourcePath, p.Manifest, p.Flags = pkg.StorageDirect, `\\FS01\Source\LabApp`, ce.manifest(), flags
	p = must(ce.site.CreatePackage(ce.ctx, p))
	if err := ce.site.AddPackageToDistributionPoints(ce.ctx, p.ID, nals...); err != nil {
		ce.t.Fatal(err)
	}
	if r := must(ce.site.DistributeContent(ce.ctx)); r.Err() != nil {
		ce.t.Fatal(r.Err())
	}
	return p
}

func nalsOf(r distpoint.LocateResult) []string {
	var out []string
	for _, l := range r.Locations {
		out = append(out, l.DP.NALPath)
	}
	return out
}

// A protected DP offline for more than 8 hours stops being the only answer
// for clients in its boundaries (§3.3 step 4): the site notices by itself
// when DistributeContent cannot reach the DP, and an administrator (or a
// monitor) can say so too.
func TestLocateProtectedDPOffline(t *testing.T) {
	ce := locateEnv(t)
	p := ce.createOn(0, "DP01", "PDP")
	if got := nalsOf(must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))); !slices.Equal(got, []string{"PDP"}) {
		t.Fatalf("inside the lab: %v, want only the protected DP", got)
	}

	// PDP becomes unreachable: a refresh cannot open its library.
	pdp := ce.libs["PDP"]
	ce.libs["PDP"] = nil
	if err := ce.site.RefreshPackageOnDistributionPoints(ce.ctx, p.ID, "PDP"); err != nil {
		t.Fatal(err)
	}
	if r := must(ce.site.DistributeContent(ce.ctx)); r.Err() == nil {
		t.Fatal("a pass against an unreachable DP succeeded")
	}
	av := ce.site.DistributionPointAvailability()
	if len(av) != 1 || av[0].NALPath != "PDP" || av[0].Online || !av[0].Since.Equal(t0) {
		t.Fatalf("availability after the failed pass: %+v", av)
	}
	// PDP comes back: the retry reinstalls it and marks it online. Then it
	// is reported offline, and the 8-hour rule applies to its installed row.
	ce.libs["PDP"] = pdp
	ce.clock.Set(t0.Add(time.Hour))
	if r := must(ce.site.DistributeContent(ce.ctx)); r.Err() != nil {
		t.Fatal(r.Err())
	}
	if av := ce.site.DistributionPointAvailability(); len(av) != 1 || !av[0].Online {
		t.Fatalf("after a pass reached PDP again: %+v", av)
	}
	if err := ce.site.SetDistributionPointAvailability(ce.ctx, "PDP", false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  []string
	}{
		{7 * time.Hour, []string{"PDP"}},
		{8*time.Hour + time.Minute, []string{"DP01"}}, // fallback allowed by default
	} {
		ce.clock.Set(t0.Add(time.Hour + tc.after))
		if got := nalsOf(must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))); !slices.Equal(got, tc.want) {
			t.Errorf("PDP offline for %v: %v, want %v", tc.after, got, tc.want)
		}
	}
	// Recording offline again does not restart the clock.
	if err := ce.site.SetDistributionPointAvailability(ce.ctx, "PDP", false); err != nil {
		t.Fatal(err)
	}
	if got := nalsOf(must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))); !slices.Equal(got, []string{"DP01"}) {
		t.Errorf("after a repeated offline report: %v, want [DP01]", got)
	}
	if err := ce.site.SetDistributionPointAvailability(ce.ctx, "PDP", true); err != nil {
		t.Fatal(err)
	}
	if got := nalsOf(must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))); !slices.Equal(got, []string{"PDP"}) {
		t.Errorf("PDP back online: %v, want [PDP]", got)
	}
	if err := ce.site.SetDistributionPointAvailability(ce.ctx, "nowhere", false); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("an unknown DP: err = %v, want not found", err)
	}
}

// On-demand distribution to a protected branch DP (§1.4, §3.3 step 4): the
// first request from inside its boundaries adds the package to it; once
// provisioned it is the answer. The installed version's package share
// is in every location, for run-from-DP.
func TestLocateOnDemandBranchDPAndShare(t *testing.T) {
	ce := locateEnv(t)
	p := ce.createOn(pkg.FlagDistributeOnDemand, "DP01")

	r := must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))
	if !slices.Equal(r.OnDemand, []string{"BR01"}) || !slices.Equal(nalsOf(r), []string{"DP01"}) {
		t.Fatalf("first request: OnDemand %v, locations %v; want [BR01] and fallback to [DP01]", r.OnDemand, nalsOf(r))
	}
	if st := ce.states(p.ID)["BR01"]; st.State != distpoint.InstallPending {
		t.Fatalf("BR01 after the request: %+v, want Install Pending", st)
	}
	if r := must(ce.site.Locate(ce.ctx, 7, p.ID, 1, "")); len(r.OnDemand) != 0 {
		t.Errorf("second request asked again: %v", r.OnDemand)
	}
	if rep := must(ce.site.DistributeContent(ce.ctx)); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	r = must(ce.site.Locate(ce.ctx, 7, p.ID, 1, ""))
	if !slices.Equal(nalsOf(r), []string{"BR01"}) {
		t.Fatalf("after provisioning: %v, want [BR01]", nalsOf(r))
	}
	share := r.Locations[0].Share
	if share == "" {
		t.Fatal("no package share for a filesystem DP")
	}
	data, err := os.ReadFile(filepath.Join(share, "setup.exe"))
	if err != nil || string(data) != "MZ setup" {
		t.Errorf("setup.exe in the share %s: %q, %v", share, data, err)
	}

	// Without the flag nothing is requested.
	q := ce.createOn(0, "DP01")
	if r := must(ce.site.Locate(ce.ctx, 7, q.ID, 1, "")); len(r.OnDemand) != 0 {
		t.Errorf("a package without DISTRIBUTE_ON_DEMAND asked for %v", r.OnDemand)
	}
}
