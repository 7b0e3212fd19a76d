package delivery_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/source"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

// Software updates from catalog to compliance: synchronise a catalog, take
// in a device's scan, deploy what it needs with a deadline (downloading the
// files into a new deployment package), and ask what the device does.
func ExampleSite_DeploySoftwareUpdates() {
	ctx := context.Background()
	now := time.Date(2009, 2, 12, 10, 0, 0, 0, time.UTC)
	pkgDir, _ := os.MkdirTemp("", "updates-")
	defer os.RemoveAll(pkgDir)
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{
		Clock:      func() time.Time { return now },
		SourceDirs: func(*pkg.Package) (string, error) { return pkgDir, nil },
	})
	if err != nil {
		panic(err)
	}
	err = site.PutDevices(ctx, &collection.Device{ResourceID: 16777220, Name: "WKS0001", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.0", Client: true})
	if err != nil {
		panic(err)
	}
	col, err := site.CreateCollection(ctx, &collection.Collection{Name: "Workstations", QueryRules: []collection.QueryRule{{RuleName: "all",
		Query: `select * from SMS_R_System where OperatingSystemNameandVersion like "%Workstation%"`}}}, "")
	if err != nil {
		panic(err)
	}

	src, err := jsoncatalog.Open("../updates/jsoncatalog/testdata/catalog.json")
	if err != nil {
		panic(err)
	}
	sync, err := site.SyncUpdates(ctx, src, updates.Filter{Products: []string{"Contoso OS 6.0"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("synchronised", len(sync.New), "updates for Contoso OS 6.0")

	kb, _ := site.UpdateByUniqueID("b27624d8-e185-5d0a-b700-3e2db8c29def")
	_, err = site.ReportScans(ctx, []delivery.DeviceScan{{ResourceID: 16777220, ScanTime: now,
		States: []updates.UpdateState{{Update: kb.CIID, State: updates.Required}}}})
	if err != nil {
		panic(err)
	}
	sum, _ := site.UpdateCompliance(kb.CIID)
	fmt.Printf("KB%s: %d required, %d%% compliant\n", kb.ArticleID, sum.Required, sum.PercentCompliant())

	newPkg := pkg.NewPackage("", "February updates")
	newPkg.SourcePath = `\\SCCM01\Updates\2009-02`
	res, err := site.DeploySoftwareUpdates(ctx, delivery.DeployRequest{
		Name: "February security", Updates: []updates.CIID{kb.CIID}, CollectionID: col.ID,
		Deadline: now.Add(48 * time.Hour), Settings: &updates.Settings{UseGMTTimes: true},
		Download: &delivery.DownloadRequest{NewPackage: newPkg,
			Source: source.UpdateFiles{FS: os.DirFS("../updates/jsoncatalog/testdata/content")}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("deployment", res.Deployment.ID, "mandatory:", res.Deployment.Mandatory(), "files downloaded:", res.Download.Files)

	pol, err := site.UpdatePolicy(ctx, 16777220, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("download now:", len(pol.Plan.Download), "install now:", len(pol.Plan.Install))
	dep, _ := site.DeploymentCompliance(res.Deployment.ID)
	fmt.Printf("deployment compliance: %d of %d compliant\n", dep.Compliant, dep.Total)
	// Output:
	// synchronised 6 updates for Contoso OS 6.0
	// KB950192: 1 required, 0% compliant
	// deployment 1 mandatory: true files downloaded: 1
	// download now: 1 install now: 0
	// deployment compliance: 0 of 1 compliant
}
