package delivery_test

import (
	"strings"
	"testing"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
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
}
