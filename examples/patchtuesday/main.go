// Patchtuesday runs one month of software updates on a ConfigMgr-style site
// in memory:
//
//  1. 3,000 devices are discovered: workstations on Contoso OS 5.1 or 6.0,
//     some with Office 2007, and a few servers;
//  2. the site synchronises the sample update catalog (a JSON file, see
//     package jsoncatalog) and the devices send their scan results — some
//     never scan, and stay Unknown;
//  3. the compliance of the month's security updates is printed;
//  4. the Deploy Software Updates wizard deploys them to a pilot collection
//     with a nightly maintenance window and a deadline two days out,
//     downloading their files into a new deployment package on a DP;
//  5. the clock advances hour by hour through the deadline and the next
//     window; each pilot device asks for its update policy, installs what
//     it is told (some installs fail), and scans again;
//  6. compliance is printed again, with the deployment's summary.
//
// Run it from the repository root with: go run ./examples/patchtuesday
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/internal/storeopen"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

func main() {
	catalog := flag.String("catalog", "updates/jsoncatalog/testdata/catalog.json", "the update catalog to synchronise")
	content := flag.String("content", "updates/jsoncatalog/testdata/content", "the folder holding the updates' files (the download location)")
	devices := flag.Int("devices", 3000, "how many devices the site has")
	storeSpec := flag.String("store", "memory", storeopen.Usage+" (a fresh one: the example builds its site from scratch)")
	flag.Parse()
	if err := run(context.Background(), *storeSpec, *catalog, *content, *devices); err != nil {
		log.Fatal(err)
	}
}

// The sample catalog's last Patch Tuesday: the example's "this month".
var patchTuesday = time.Date(2009, 2, 10, 18, 0, 0, 0, time.UTC)

func run(ctx context.Context, storeSpec, catalogPath, contentDir string, n int) error {
	if _, err := os.Stat(catalogPath); err != nil {
		return fmt.Errorf("%w (run the example from the repository root, or pass -catalog and -content)", err)
	}
	work, err := os.MkdirTemp("", "patchtuesday-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dp, err := fslibrary.Open(filepath.Join(work, "DP01"))
	if err != nil {
		return err
	}
	pkgDir := filepath.Join(work, "packages", "february")

	// A fake clock, moved by the example; a real site uses time.Now.
	now := patchTuesday.Add(40 * time.Hour) // Thursday 10:00 UTC
	store, err := storeopen.Open(ctx, storeSpec)
	if err != nil {
		return err
	}
	defer store.Close()
	site, err := delivery.Open(ctx, store, nil, &delivery.Options{
		Clock:      func() time.Time { return now },
		Libraries:  func(string) (distpoint.Library, error) { return dp, nil },
		SourceDirs: func(*pkg.Package) (string, error) { return pkgDir, nil },
	})
	if err != nil {
		return err
	}
	defer site.Close()
	if err := site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: "DP01", Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
		return err
	}

	// 1. Devices.
	rng := rand.New(rand.NewPCG(2009, 2))
	fleet := make([]*collection.Device, n)
	for i := range fleet {
		fleet[i] = newDevice(rng, uint32(16777220+i), i)
	}
	if err := site.PutDevices(ctx, fleet...); err != nil {
		return fmt.Errorf("discover devices: %w", err)
	}

	// 2. Catalog and scans.
	src, err := jsoncatalog.Open(catalogPath)
	if err != nil {
		return err
	}
	sync, err := site.SyncUpdates(ctx, src, updates.Filter{Languages: []string{"en"}})
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	fmt.Printf("Synchronised %d updates (%d skipped, %d rejected) from %s\n", len(sync.New), len(sync.Skipped), len(sync.Rejected), catalogPath)
	catalog := site.Updates()
	if err := scanAll(ctx, site, rng, fleet, catalog, now.Add(-36*time.Hour)); err != nil {
		return err
	}

	// 3. This month's security updates.
	var month []updates.CIID
	for _, u := range catalog {
		if u.Classification == updates.SecurityUpdates && !u.Expired && !u.Superseded() && !u.Released.Before(patchTuesday.Add(-24*time.Hour)) {
			month = append(month, u.CIID)
		}
	}
	fmt.Printf("\nCompliance of the %d security updates of %s, before the deployment:\n", len(month), patchTuesday.Format("January 2006"))
	printCompliance(site, month)

	// 4. A pilot collection with a nightly window, and the deployment.
	pilot, err := site.CreateCollection(ctx, &collection.Collection{
		Name:       "Patch pilot",
		QueryRules: []collection.QueryRule{{RuleName: "every tenth", Query: `select * from SMS_R_System where Name like "PC%0"`}},
		ServiceWindows: []collection.ServiceWindow{{ID: "nightly", Name: "Nightly 01:00-04:00", Enabled: true, Type: collection.WindowGeneral,
			Schedule: schedule.Token{Type: schedule.Interval, Start: time.Date(2009, 1, 1, 1, 0, 0, 0, time.UTC), IsGMT: true, HourDuration: 3, DaySpan: 1}}},
	}, "")
	if err != nil {
		return err
	}
	members, _ := site.Members(pilot.ID)
	list, err := site.SaveUpdateList(ctx, &updates.UpdateList{Name: "Security updates " + patchTuesday.Format("2006-01"), Updates: month})
	if err != nil {
		return err
	}
	depPkg := pkg.NewPackage("", "Security updates "+patchTuesday.Format("2006-01"))
	depPkg.SourcePath = `\\SCCM01\Updates\` + patchTuesday.Format("2006-01")
	res, err := site.DeploySoftwareUpdates(ctx, delivery.DeployRequest{
		Name: "Security updates " + patchTuesday.Format("January 2006") + " - pilot", UpdateList: list.CIID,
		CollectionID: pilot.ID, Deadline: now.Add(48 * time.Hour),
		Settings: &updates.Settings{UseGMTTimes: true, NotifyUser: true},
		Download: &delivery.DownloadRequest{NewPackage: depPkg, DistributionPoints: []string{"DP01"}, Languages: []string{"en"},
			Source: source.UpdateFiles{FS: os.DirFS(contentDir)}},
	})
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	dep := res.Deployment
	if rep, err := site.DistributeContent(ctx); err != nil || rep.Err() != nil {
		return fmt.Errorf("distribute the deployment package: %v %v", err, rep.Err())
	}
	fmt.Printf("\nDeployed %d updates to %q (%d devices), deadline %s; %d files (%d bytes) in deployment package %s on DP01\n",
		len(dep.Updates), pilot.Name, len(members), dep.Deadline.Format("Mon 2 Jan 15:04 MST"), res.Download.Files, res.Download.Bytes, res.Download.Package.ID)

	// 5. Hour by hour through the deadline and the next window.
	installs, failures := 0, 0
	end := dep.Deadline.Add(24 * time.Hour)
	for ; !now.After(end); now = now.Add(time.Hour) {
		var scans []delivery.DeviceScan
		for _, rid := range members {
			p, err := site.UpdatePolicy(ctx, rid, &delivery.UpdateClientState{Downloaded: month})
			if err != nil {
				return err
			}
			// Install what the plan says; an update that needs a restart
			// stays Required until the device restarts, which it does now
			// when the plan says so (§3.7 step 6).
			restarted := p.Plan.Restart.Action == updates.RestartNow
			var states []updates.UpdateState
			for _, ci := range p.Plan.Install {
				u, _ := site.Update(ci)
				installs++
				needsRestart := u.Restart == updates.AlwaysRequiresRestart || u.Restart == updates.CanRequestRestart && rng.IntN(3) == 0
				st := updates.StateAfterInstall(u, needsRestart, restarted)
				if rng.IntN(50) == 0 { // an install fails now and then
					st, failures = updates.Required, failures+1
				}
				states = append(states, updates.UpdateState{Update: ci, State: st})
			}
			if len(states) > 0 {
				scans = append(scans, delivery.DeviceScan{ResourceID: rid, ScanTime: now, States: states})
			}
		}
		if len(scans) > 0 {
			if _, err := site.ReportScans(ctx, scans); err != nil {
				return err
			}
			sum, _ := site.DeploymentCompliance(dep.ID)
			fmt.Printf("  %s  %4d devices installed updates   deployment: %d compliant, %d non-compliant, %d unknown\n",
				now.Format("Mon 15:04"), len(scans), sum.Compliant, sum.NonCompliant, sum.Unknown)
		}
	}
	fmt.Printf("  (%d installs, %d of them failed and were tried again)\n", installs, failures)

	// 6. After.
	fmt.Printf("\nCompliance after the pilot's maintenance window:\n")
	printCompliance(site, month)
	sum, _ := site.DeploymentCompliance(dep.ID)
	fmt.Printf("\nDeployment %d %q: %d of %d pilot devices compliant (%d%%), %d non-compliant, %d unknown (never scanned)\n",
		dep.ID, dep.Name, sum.Compliant, sum.Total, sum.PercentCompliant(), sum.NonCompliant, sum.Unknown)
	return nil
}

// scanAll sends every device's first scan: for the updates of its
// products, Required or (often) already Installed; the rest Not Required.
// One device in twenty never scans.
func scanAll(ctx context.Context, site *delivery.Site, rng *rand.Rand, fleet []*collection.Device, catalog []*updates.Update, at time.Time) error {
	var scans []delivery.DeviceScan
	for _, d := range fleet {
		if rng.IntN(20) == 0 {
			continue
		}
		products := productsOf(d)
		sc := delivery.DeviceScan{ResourceID: d.ResourceID, ScanTime: at}
		for _, u := range catalog {
			st := updates.NotRequired
			if slices.Contains(products, u.Product) {
				st = updates.Required
				if !u.Released.After(patchTuesday.Add(-24*time.Hour)) || rng.IntN(10) == 0 {
					st = updates.Installed // last month's are mostly in
				}
			}
			sc.States = append(sc.States, updates.UpdateState{Update: u.CIID, State: st})
		}
		scans = append(scans, sc)
	}
	res, err := site.ReportScans(ctx, scans)
	if err != nil {
		return fmt.Errorf("scans: %w", err)
	}
	fmt.Printf("Took in %d scans (%d states); %d devices have not scanned yet\n", res.Accepted, res.States, len(fleet)-res.Accepted)
	return nil
}

// printCompliance prints a table of the updates' compliance.
func printCompliance(site *delivery.Site, ids []updates.CIID) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KB\tBulletin\tProduct\tRequired\tInstalled\tNot required\tUnknown\tCompliant\t")
	for _, ci := range ids {
		u, err := site.Update(ci)
		if err != nil {
			continue
		}
		s, _ := site.UpdateCompliance(ci)
		fmt.Fprintf(tw, "KB%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d%%\t\n", u.ArticleID, u.BulletinID, u.Product, s.Required, s.Installed, s.NotRequired, s.Unknown, s.PercentCompliant())
	}
	tw.Flush()
}

// productsOf lists the catalog products a device runs, from its inventory.
func productsOf(d *collection.Device) []string {
	var out []string
	switch {
	case strings.Contains(d.OperatingSystemNameandVersion, "Server"):
		out = append(out, "Contoso Server 2003")
	case strings.HasSuffix(d.OperatingSystemNameandVersion, "5.1"):
		out = append(out, "Contoso OS 5.1")
	default:
		out = append(out, "Contoso OS 6.0")
	}
	for _, row := range d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] {
		if name, _ := row["DisplayName"].(string); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// newDevice makes device i: mostly workstations (a third on OS 5.1), one
// in twenty-five a server; two in five have Office 2007.
func newDevice(rng *rand.Rand, rid uint32, i int) *collection.Device {
	os := "Microsoft Windows NT Workstation 6.0"
	switch {
	case rng.IntN(25) == 0:
		os = "Microsoft Windows NT Server 5.2"
	case rng.IntN(3) == 0:
		os = "Microsoft Windows NT Workstation 5.1"
	}
	d := &collection.Device{
		ResourceID: rid, Name: fmt.Sprintf("PC%05d", i), NetbiosName: fmt.Sprintf("PC%05d", i),
		OperatingSystemNameandVersion: os, Client: true, Active: true,
		ResourceDomainORWorkgroup: "CONTOSO", SystemOUName: []string{"CONTOSO.COM"},
		Inventory: map[string][]collection.Instance{"SMS_G_System_COMPUTER_SYSTEM": {{"SystemType": "X86-based PC"}}},
	}
	if rng.IntN(5) < 2 {
		d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = []collection.Instance{{"DisplayName": "Contoso Office 2007", "Version": "12.0.6425.1000"}}
	}
	return d
}
