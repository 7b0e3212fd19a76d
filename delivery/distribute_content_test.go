package delivery_test

import (
	"encoding/hex"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// With content libraries, the Distribute Software wizard really copies the
// package; a DP that fails does not fail the wizard and is named.
func TestDistributeSoftwareCopiesContent(t *testing.T) {
	ce := newContentEnv(t)
	p := pkg.NewPackage("", "Big App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\BigApp`, ce.manifest()
	prog := pkg.NewProgram("", "Install", "setup.exe /s")
	prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	res, err := ce.site.DistributeSoftware(ce.ctx, delivery.DistributeRequest{
		NewPackage: p, NewPrograms: []*pkg.Program{prog}, ProgramName: "Install",
		DPGroups:      []distpoint.Group{{Name: "All DPs", Members: []string{"DP01", "DP02", "DP03"}}},
		NewCollection: &collection.Collection{Name: "everyone"},
		Advertisement: advertisement.New("", "Big App", "", "", "", t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]distpoint.State{}
	for _, r := range res.DistributionPoints {
		got[r.NALPath] = r.State
	}
	if got["DP01"] != distpoint.Installed || got["DP02"] != distpoint.Installed || got["DP03"] != distpoint.InstallRetrying {
		t.Errorf("rows after the wizard: %v", got)
	}
	if err := res.Copy.Err(); err == nil || !strings.Contains(err.Error(), "DP03") {
		t.Errorf("copy report: %v, want DP03's failure", err)
	}
	if m, err := ce.libs["DP01"].Version(ce.ctx, res.Package.ID, 1); err != nil || m.Hash() != res.Package.Manifest.Hash() {
		t.Errorf("DP01 holds %v, %v", m.Hash(), err)
	}

	// A device on the fast HQ boundary is sent to the two DPs that hold
	// version 1, to download; not to DP03, which does not have it yet.
	if err := ce.site.AddBoundary(ce.ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast}); err != nil {
		t.Fatal(err)
	}
	d := device(1, "PC01", win7, "X")
	d.IPAddresses = []string{"10.1.2.3"}
	if err := ce.site.PutDevices(ce.ctx, d); err != nil {
		t.Fatal(err)
	}
	loc := must(ce.site.Locate(ce.ctx, 1, res.Package.ID, 1, res.Advertisement.ID))
	var dps []string
	for _, l := range loc.Locations {
		dps = append(dps, l.DP.NALPath)
		if !l.Local {
			t.Errorf("%s is remote for a client on a fast boundary", l.DP.NALPath)
		}
	}
	if loc.Action != distpoint.Download || strings.Join(dps, ",") != "DP01,DP02" {
		t.Errorf("Locate = %v %v, want Download from DP01,DP02", loc.Action, dps)
	}
	if loc := must(ce.site.Locate(ce.ctx, 1, res.Package.ID, 2, res.Advertisement.ID)); loc.Action != distpoint.Wait {
		t.Errorf("a version no DP has: %v, want Wait", loc.Action)
	}
}

// Content validation on a schedule: daily, it finds a damaged DP.
func TestScheduledValidation(t *testing.T) {
	ce := newContentEnv(t)
	daily := schedule.Token{Type: schedule.Interval, Start: t0, IsGMT: true, DaySpan: 1}
	site, err := delivery.Open(ce.ctx, ce.store, nil, &delivery.Options{Clock: ce.clock.Now, ContentValidation: &daily,
		Libraries: func(nal string) (distpoint.Library, error) { return ce.libs[nal], nil },
		Sources:   func(*pkg.Package) (fs.FS, error) { return cloneFS(ce.src), nil }})
	if err != nil {
		t.Fatal(err)
	}
	p := pkg.NewPackage("", "App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\App`, ce.manifest()
	p = must(site.CreatePackage(ce.ctx, p))
	if err := site.AddPackageToDistributionPoints(ce.ctx, p.ID, "DP01"); err != nil {
		t.Fatal(err)
	}
	must(site.DistributeContent(ce.ctx))
	if r := must(site.RunScheduledValidation(ce.ctx)); len(r.Results) != 1 || r.Err() != nil {
		t.Fatalf("first run: %+v", r)
	}
	if r := must(site.RunScheduledValidation(ce.ctx)); len(r.Results) != 0 {
		t.Errorf("ran again before the schedule fired: %+v", r)
	}
	// The last run is in the Store: a restarted Site waits for the
	// schedule too.
	restarted, err := delivery.Open(ce.ctx, ce.store, nil, &delivery.Options{Clock: ce.clock.Now, ContentValidation: &daily,
		Libraries: func(nal string) (distpoint.Library, error) { return ce.libs[nal], nil }})
	if err != nil {
		t.Fatal(err)
	}
	if r := must(restarted.RunScheduledValidation(ce.ctx)); len(r.Results) != 0 {
		t.Errorf("a restarted Site ran before the schedule fired: %+v", r)
	}
	ce.damage("DP01", p.Manifest.Sorted().Files[0].SHA256)
	ce.clock.Set(t0.Add(25 * time.Hour))
	if r := must(site.RunScheduledValidation(ce.ctx)); r.Err() == nil {
		t.Errorf("the daily validation missed the damaged file")
	}
}

// Refresh repairs damaged content even when no validation ran first; a
// version missing from a DP fails validation; an update leaves only the new
// version on the DP.
func TestRefreshValidationAndOldVersions(t *testing.T) {
	ce := newContentEnv(t)
	p := pkg.NewPackage("", "App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\App`, ce.manifest()
	p = must(ce.site.CreatePackage(ce.ctx, p))
	if err := ce.site.AddPackageToDistributionPoints(ce.ctx, p.ID, "DP01", "DP02"); err != nil {
		t.Fatal(err)
	}
	must(ce.site.DistributeContent(ce.ctx))

	// Same-size damage on DP01, then a refresh with no validation first.
	f := p.Manifest.Sorted().Files[0]
	h := hex.EncodeToString(f.SHA256[:])
	blob := filepath.Join(ce.dirs["DP01"], "blobs", h[:2], h)
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, make([]byte, f.Size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ce.site.RefreshPackageOnDistributionPoints(ce.ctx, p.ID, "DP01"); err != nil {
		t.Fatal(err)
	}
	must(ce.site.DistributeContent(ce.ctx))
	if bad, err := ce.libs["DP01"].Verify(ce.ctx, p.ID, 1); err != nil || len(bad) != 0 {
		t.Errorf("after refresh: %v, %v; want intact content", bad, err)
	}

	// An update: the DPs keep only version 2.
	ce.mu.Lock()
	ce.src["setup.exe"] = &fstest.MapFile{Data: []byte("MZ v2")}
	ce.mu.Unlock()
	p = must(ce.site.UpdatePackageSource(ce.ctx, p.ID, ce.manifest()))
	must(ce.site.DistributeContent(ce.ctx))
	if vs, _ := ce.libs["DP01"].Versions(ce.ctx, p.ID); len(vs) != 1 || vs[0] != 2 {
		t.Errorf("DP01 versions after the update = %v, want [2]", vs)
	}

	// The version's manifest vanishes from DP02: validation fails the row.
	if err := os.Remove(filepath.Join(ce.dirs["DP02"], "versions", string(p.ID), "2.json")); err != nil {
		t.Fatal(err)
	}
	if rep := must(ce.site.ValidateContent(ce.ctx, p.ID, "DP02")); rep.Err() == nil || !strings.Contains(rep.Err().Error(), "not published") {
		t.Errorf("validation of a DP missing the version: %v", rep.Err())
	}
	if st := ce.states(p.ID); st["DP02"].State != distpoint.InstallFailed {
		t.Errorf("DP02 = %v, want Install Failed", st["DP02"].State)
	}
}

// A damaged blob shared by two packages on a DP fails both when either is
// validated: the blob is dropped for both (single instance).
func TestValidationFollowsSharedBlobs(t *testing.T) {
	ce := newContentEnv(t)
	m := ce.manifest()
	var ids []string
	for _, name := range []string{"A", "B"} {
		p := pkg.NewPackage("", name)
		p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\Shared`, m
		p = must(ce.site.CreatePackage(ce.ctx, p))
		if err := ce.site.AddPackageToDistributionPoints(ce.ctx, p.ID, "DP01"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(p.ID))
	}
	must(ce.site.DistributeContent(ce.ctx))
	ce.damage("DP01", m.Sorted().Files[3].SHA256)
	rep := must(ce.site.ValidateContent(ce.ctx, consign.ObjectID(ids[0])))
	if len(rep.Results) != 2 {
		t.Fatalf("validation results: %+v, want both packages", rep.Results)
	}
	for _, id := range ids {
		if st := ce.states(consign.ObjectID(id)); st["DP01"].State != distpoint.InstallFailed {
			t.Errorf("package %s on DP01: %v, want Install Failed", id, st["DP01"].State)
		}
	}
}
