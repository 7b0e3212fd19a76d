package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// testSite drives the store through delivery.Site, the way it is used: a
// whole distribution, a second Site opened over the same store seeing the
// same state, concurrent Sites losing no write, and a failed workflow
// leaving nothing behind.
func testSite(t *testing.T, open func(t *testing.T) delivery.Store) {
	t.Run("Reopen", func(t *testing.T) { testSiteReopen(t, open(t)) })
	t.Run("ConcurrentSites", func(t *testing.T) { testSitesConcurrent(t, open(t)) })
	t.Run("FailedWorkflowWritesNothing", func(t *testing.T) { testSiteAtomic(t, open(t)) })
}

var siteEpoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func openSite(t *testing.T, s delivery.Store) *delivery.Site {
	t.Helper()
	return openSiteWith(t, s, "")
}

// openSiteWith opens a Site over s that keeps its checkpoint at path ("":
// none).
func openSiteWith(t *testing.T, s delivery.Store, checkpoint string) *delivery.Site {
	t.Helper()
	site, err := delivery.Open(context.Background(), s, nil, &delivery.Options{SiteCode: "TST", Clock: func() time.Time { return siteEpoch }, Checkpoint: checkpoint})
	if err != nil {
		t.Fatalf("delivery.Open: %v", err)
	}
	return site
}

// distribution builds a small site: 20 devices, a WQL collection, a
// package with a program advertised mandatory to it, and some status.
func distribution(t *testing.T, site *delivery.Site) consign.ObjectID {
	t.Helper()
	ctx := context.Background()
	var ds []*collection.Device
	for i := uint32(1); i <= 20; i++ {
		os := "Microsoft Windows NT Workstation 6.1"
		if i%4 == 0 {
			os = "Microsoft Windows NT Workstation 5.1"
		}
		ds = append(ds, &collection.Device{ResourceID: i, Name: fmt.Sprintf("PC%02d", i), OperatingSystemNameandVersion: os, Client: true,
			SystemOUName: []string{"CONTOSO.COM/WORKSTATIONS"}})
	}
	if err := site.PutDevices(ctx, ds...); err != nil {
		t.Fatalf("PutDevices: %v", err)
	}
	prog := pkg.NewProgram("", "Install", `\\FS01\apps\setup.exe /s`)
	prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	ad := advertisement.New("", "App", "", "", "", siteEpoch.Add(-time.Hour))
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	res, err := site.DistributeSoftware(ctx, delivery.DistributeRequest{
		NewPackage: pkg.NewPackage("", "App"), NewPrograms: []*pkg.Program{prog}, ProgramName: "Install",
		NewCollection: &collection.Collection{Name: "Windows 7", QueryRules: []collection.QueryRule{{RuleName: "w7",
			Query: `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`}}},
		Advertisement: ad,
	})
	if err != nil {
		t.Fatalf("DistributeSoftware: %v", err)
	}
	for i := uint32(1); i <= 10; i++ {
		ev := advertisement.EventSucceeded
		if i%3 == 0 {
			ev = advertisement.EventFailed
		}
		msgs := []advertisement.Message{
			{ID: fmt.Sprint("s", i), AdvertisementID: res.Advertisement.ID, Event: advertisement.EventStarted, Time: siteEpoch},
			{ID: fmt.Sprint("e", i), AdvertisementID: res.Advertisement.ID, Event: ev, Time: siteEpoch.Add(time.Minute)},
		}
		if _, err := site.Report(ctx, i, msgs); err != nil {
			t.Fatalf("Report: %v", err)
		}
	}
	// Change objects after the objects that depend on them, so that the
	// change feed lists a collection after the collection limited to it and
	// an advertisement after its status.
	limited, err := site.CreateCollection(ctx, &collection.Collection{Name: "PC0x", QueryRules: []collection.QueryRule{{RuleName: "pc0",
		Query: `select * from SMS_R_System where Name like "PC0%"`, LimitToCollectionID: res.Collection.ID}}}, res.Collection.ID)
	if err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	if m, _ := site.Members(limited.ID); len(m) != 7 {
		t.Errorf("limited collection has %d members, want 7 (PC01–PC09 less PC04 and PC08)", len(m))
	}
	res.Collection.Comment = "updated"
	if err := site.UpdateCollection(ctx, res.Collection); err != nil {
		t.Fatalf("UpdateCollection: %v", err)
	}
	res.Advertisement.Comment = "updated"
	if err := site.UpdateAdvertisement(ctx, res.Advertisement); err != nil {
		t.Fatalf("UpdateAdvertisement: %v", err)
	}
	return res.Advertisement.ID
}

// catalog is an updates.Source of two updates with no files (so deploying
// them needs no content).
type catalog []updates.Update

func (c catalog) Fetch(context.Context, string) (updates.Batch, error) {
	return updates.Batch{Updates: c, Cursor: "v1"}, nil
}

// softwareUpdates synchronises two updates, takes in scans (binary scan
// records) from devices 1–12, and deploys both to the collection of the
// advertisement ad.
func softwareUpdates(t *testing.T, site *delivery.Site, ad consign.ObjectID) uint32 {
	t.Helper()
	ctx := context.Background()
	src := catalog{
		{UniqueID: "5f0c3a8e-1111-4a2b-9c3d-000000000001", Revision: 100, ArticleID: "950101", Title: "Security Update (KB950101)",
			Classification: updates.SecurityUpdates, Product: "Contoso OS 6.1", Released: siteEpoch, Revised: siteEpoch},
		{UniqueID: "5f0c3a8e-1111-4a2b-9c3d-000000000002", Revision: 100, ArticleID: "950102", Title: "Critical Update (KB950102)",
			Classification: updates.CriticalUpdates, Product: "Contoso OS 6.1", Released: siteEpoch, Revised: siteEpoch},
	}
	if _, err := site.SyncUpdates(ctx, src, updates.Filter{}); err != nil {
		t.Fatalf("SyncUpdates: %v", err)
	}
	var ids []updates.CIID
	for _, u := range site.Updates() {
		ids = append(ids, u.CIID)
	}
	var scans []delivery.DeviceScan
	for i := uint32(1); i <= 12; i++ {
		scans = append(scans, delivery.DeviceScan{ResourceID: i, ScanTime: siteEpoch, States: []updates.UpdateState{
			{Update: ids[0], State: updates.ComplianceState(1 + i%3)}, {Update: ids[1], State: updates.ComplianceState(i % 4)}}})
	}
	if _, err := site.ReportScans(ctx, scans); err != nil {
		t.Fatalf("ReportScans: %v", err)
	}
	a, err := site.Advertisement(ad)
	if err != nil {
		t.Fatal(err)
	}
	res, err := site.DeploySoftwareUpdates(ctx, delivery.DeployRequest{Name: "December", Updates: ids, CollectionID: a.CollectionID})
	if err != nil {
		t.Fatalf("DeploySoftwareUpdates: %v", err)
	}
	return res.Deployment.ID
}

// siteScenario builds the site siteSnapshot compares: a distribution and
// software updates. It returns the advertisement and the deployment.
func siteScenario(t *testing.T, site *delivery.Site) (consign.ObjectID, uint32) {
	t.Helper()
	ad := distribution(t, site)
	return ad, softwareUpdates(t, site, ad)
}

// siteSnapshot is what a Site shows of the scenario, for comparing two
// Sites over the same stored records.
func siteSnapshot(site *delivery.Site, ad consign.ObjectID, dep uint32) map[string]any {
	ctx := context.Background()
	snap := map[string]any{
		"packages":       site.Packages(),
		"collections":    site.Collections(),
		"advertisements": site.Advertisements(),
		"updates":        site.Updates(),
		"deployments":    site.Deployments(),
	}
	var members [][]uint32
	for _, c := range site.Collections() {
		m, _ := site.Members(c.ID)
		members = append(members, m)
	}
	snap["memberships"] = members
	snap["summary"], _ = site.AdvertisementSummary(ad)
	if p, err := site.Policy(ctx, 2, nil); err == nil {
		snap["policy"] = p.Offers
	}
	snap["deployment compliance"], _ = site.DeploymentCompliance(dep)
	var ups []updates.UpdateSummary
	for _, u := range site.Updates() {
		s, _ := site.UpdateCompliance(u.CIID)
		ups = append(ups, s)
	}
	snap["update compliance"] = ups
	var devs []any
	for i := uint32(1); i <= 20; i++ {
		sum, states, _ := site.DeviceCompliance(i)
		devs = append(devs, sum, states)
	}
	snap["device compliance"] = devs
	if p, err := site.UpdatePolicy(ctx, 2, nil); err == nil {
		snap["update policy"] = p.Plan
	}
	return snap
}

// compareSnapshots reports every part that differs.
func compareSnapshots(t *testing.T, what string, a, b map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("%s differ %s:\n%+v\n%+v", k, what, a[k], b[k])
		}
	}
}

func testSiteReopen(t *testing.T, s delivery.Store) {
	first := openSite(t, s)
	ad, dep := siteScenario(t, first)
	second := openSite(t, s)
	compareSnapshots(t, "between the Site that wrote them and one opened over the same store", siteSnapshot(first, ad, dep), siteSnapshot(second, ad, dep))
	// Devices 1–10 reported a finished run; 4 and 8 (XP) are not targeted
	// but their status still counts.
	if sum, _ := second.AdvertisementSummary(ad); sum.Targeted != 15 || sum.NotReported != 7 || sum.Counts.Succeeded != 7 || sum.Counts.Failed != 3 {
		t.Errorf("reopened summary %+v: want 15 targeted, 7 not reported, 7 succeeded, 3 failed", sum)
	}
}

func testSitesConcurrent(t *testing.T, s delivery.Store) { sitesConcurrent(t, s, s) }

// sitesConcurrent runs two Sites, over a and over b (one store or two
// handles on one database), creating packages at once: every creation
// competes for the site's ID counter, so the loser of each race gets a
// conflict and retries. None may be lost or get a duplicate ID.
func sitesConcurrent(t *testing.T, a, b delivery.Store) {
	ctx := context.Background()
	sites := []*delivery.Site{openSite(t, a), openSite(t, b)}
	var wg sync.WaitGroup
	ids := make(chan consign.ObjectID, 40)
	for _, site := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				p, err := site.CreatePackage(ctx, pkg.NewPackage("", "p"))
				if err != nil {
					t.Errorf("CreatePackage: %v", err)
					return
				}
				ids <- p.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[consign.ObjectID]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("two Sites over one store handed out ID %s twice", id)
		}
		seen[id] = true
	}
	if n := len(openSite(t, a).Packages()); n != 40 || len(seen) != 40 {
		t.Errorf("40 packages created by two Sites; a new Site sees %d (created %d)", n, len(seen))
	}
}

func testSiteAtomic(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	site := openSite(t, s)
	before, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := pkg.NewProgram("", "Install", "")
	_, err = site.DistributeSoftware(ctx, delivery.DistributeRequest{
		NewPackage: pkg.NewPackage("", "App"), NewPrograms: []*pkg.Program{bad}, ProgramName: "Install",
		NewCollection: &collection.Collection{Name: "c"},
	})
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("DistributeSoftware with an empty command line: err = %v, want ErrInvalid", err)
	}
	after, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("a failed DistributeSoftware left %d records in the store", len(after)-len(before))
	}
}
