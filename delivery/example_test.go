package delivery_test

import (
	"context"
	"fmt"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	pkg "github.com/consign/consign/package"
)

// The Distribute Software wizard as one call: a new package and program, a
// new WQL collection, and a mandatory advertisement; then a device asks for
// its policy and reports success.
func ExampleSite_DistributeSoftware() {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{SiteCode: "CEN", Clock: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	err = site.PutDevices(ctx,
		&collection.Device{ResourceID: 16777220, Name: "WKS0001", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", Client: true},
		&collection.Device{ResourceID: 16777221, Name: "WKS0002", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1", Client: true})
	if err != nil {
		panic(err)
	}

	install := pkg.NewProgram("", "Install", `\\FS01\apps\contoso\setup.exe /s`)
	install.Logon, install.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	ad := advertisement.New("", "Contoso App for Windows 7", "", "", "", now)
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	res, err := site.DistributeSoftware(ctx, delivery.DistributeRequest{
		NewPackage:  pkg.NewPackage("", "Contoso App"),
		NewPrograms: []*pkg.Program{install},
		ProgramName: "Install",
		NewCollection: &collection.Collection{Name: "Windows 7", QueryRules: []collection.QueryRule{{RuleName: "w7",
			Query: `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`}}},
		Advertisement: ad,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("advertisement", res.Advertisement.ID, "to collection", res.Collection.ID)

	pol, err := site.Policy(ctx, 16777220, nil)
	if err != nil {
		panic(err)
	}
	for _, o := range pol.Offers {
		fmt.Println(o.Advertisement.Name, "→", o.Decision.State)
	}
	_, err = site.Report(ctx, 16777220, []advertisement.Message{
		{ID: "1", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventStarted, Time: now},
		{ID: "2", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventSucceeded, Time: now.Add(time.Minute)},
	})
	if err != nil {
		panic(err)
	}
	sum, _ := site.AdvertisementSummary(res.Advertisement.ID)
	fmt.Printf("targeted %d, succeeded %d\n", sum.Targeted, sum.Counts.Succeeded)
	// Output:
	// advertisement CEN00003 to collection CEN00002
	// Contoso App for Windows 7 → MandatoryDue
	// targeted 1, succeeded 1
}
