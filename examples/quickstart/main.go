// Quickstart builds a small ConfigMgr-style site in memory and runs one
// software distribution end to end:
//
//  1. 300 devices with varied inventory (OS, architecture, installed
//     programs, OU, time zone) are discovered;
//  2. two collections select devices with WQL query rules pasted from a
//     ConfigMgr console;
//  3. a package gets two programs, the second running the first beforehand;
//  4. the Distribute Software wizard sends the package to a distribution
//     point and advertises the program to a collection, mandatory as soon as
//     possible;
//  5. each device asks for its policy, "runs" what it is told with a
//     simulated outcome (most succeed, some need a restart, some fail,
//     some retry) and reports status;
//  6. the advertisement summary is printed as a table;
//  7. the site restarts: Close writes its checkpoint, and the site opened
//     again reads it back (instead of evaluating every collection anew)
//     and shows the same memberships and summary.
//
// Run it with: go run ./examples/quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/internal/storeopen"
	pkg "github.com/consign/consign/package"
)

func main() {
	storeSpec := flag.String("store", "memory", storeopen.Usage+" (a fresh one: the example builds its site from scratch)")
	flag.Parse()
	if err := run(context.Background(), *storeSpec); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, storeSpec string) error {
	store, err := storeopen.Open(ctx, storeSpec)
	if err != nil {
		return err
	}
	defer store.Close()
	// A fixed clock keeps the run reproducible; a real site uses time.Now.
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir, err := os.MkdirTemp("", "quickstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := &delivery.Options{SiteCode: "CEN", Clock: clock, Checkpoint: filepath.Join(dir, "site.checkpoint")}
	site, err := delivery.Open(ctx, store, delivery.NewChannelTransport(), opts)
	if err != nil {
		return err
	}
	defer site.Close()

	// 1. Devices.
	rng := rand.New(rand.NewPCG(2007, 1))
	devices := make([]*collection.Device, 0, 300)
	for i := range 300 {
		devices = append(devices, newDevice(rng, uint32(16777220+i), i))
	}
	if err := site.PutDevices(ctx, devices...); err != nil {
		return fmt.Errorf("discover devices: %w", err)
	}

	// 2. Collections with query rules as an admin would paste them.
	win7, err := site.CreateCollection(ctx, &collection.Collection{
		Name: "Windows 7 x64 workstations",
		QueryRules: []collection.QueryRule{{
			RuleName: "Win7 x64",
			Query: `select SMS_R_SYSTEM.ResourceID, SMS_R_SYSTEM.Name from SMS_R_System
				inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId
				where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"
				and SMS_G_System_COMPUTER_SYSTEM.SystemType = "x64-based PC" and SMS_R_System.Client = 1`,
		}},
	}, "")
	if err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	noReader, err := site.CreateCollection(ctx, &collection.Collection{
		Name: "Workstations without Adobe Reader",
		QueryRules: []collection.QueryRule{{
			RuleName: "no Reader",
			Query: `select * from SMS_R_System where SMS_R_System.ResourceId not in
				(select SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS
				 where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Adobe Reader%")
				and SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS"`,
			LimitToCollectionID: win7.ID,
		}},
	}, win7.ID)
	if err != nil {
		return fmt.Errorf("create collection: %w", err)
	}

	// 3. A distribution point, a package and two programs with a dependency.
	dp := &distpoint.DistributionPoint{NALPath: `["Display=\\DP01\"]MSWNET:["SMS_SITE=CEN"]\\DP01\`, Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}
	if err := site.AddDistributionPoint(ctx, dp); err != nil {
		return err
	}
	reader := pkg.NewPackage("", "Adobe Reader")
	reader.Version, reader.Manufacturer, reader.Language = "9.3", "Adobe", "English"
	reader.SourceFlag = pkg.StorageDirect
	reader.SourcePath = `\\FS01\Source\AdobeReader93`
	reader.Manifest = pkg.Manifest{Files: []pkg.File{
		{Path: "AdbeRdr930_en_US.msi", Size: 41_234_432, SHA256: [32]byte{0x5e, 0x11}},
		{Path: "setup.ini", Size: 312, SHA256: [32]byte{0x0a, 0x42}},
	}}
	vcrt := pkg.NewProgram("", "VC runtime", "vcredist_x86.exe /q")
	vcrt.Logon = pkg.EitherLogon
	vcrt.RunMode = pkg.RunWithAdminRights
	install := pkg.NewProgram("", "Install", `msiexec /i AdbeRdr930_en_US.msi /qn REBOOT=ReallySuppress`)
	install.Logon = pkg.EitherLogon
	install.RunMode = pkg.RunWithAdminRights
	install.MaxRunTime = 30
	// An empty PackageID is ConfigMgr's ";;VC runtime": the same package.
	install.Dependency = &pkg.ProgramRef{Program: "VC runtime"}

	// 4. Distribute Software: package, DP, programs, advertisement — one
	// atomic call; mandatory as soon as possible, rerun if failed.
	ad := advertisement.New("", "Adobe Reader 9.3 - mandatory", "", "", "", now.Add(-time.Hour))
	ad.ASAP = true
	ad.PresentTimeIsGMT = true
	res, err := site.DistributeSoftware(ctx, delivery.DistributeRequest{
		NewPackage:         reader,
		NewPrograms:        []*pkg.Program{vcrt, install},
		ProgramName:        "Install",
		DistributionPoints: []string{dp.NALPath},
		CollectionID:       noReader.ID,
		Advertisement:      ad,
	})
	if err != nil {
		return fmt.Errorf("distribute software: %w", err)
	}
	for _, c := range []*collection.Collection{win7, noReader} {
		members, _ := site.Members(c.ID)
		fmt.Printf("Collection %s %-36q %3d of %d devices\n", c.ID, c.Name, len(members), len(devices))
	}
	fmt.Printf("Package %s %q v%d on %d DP(s) (%s); advertisement %s, mandatory as soon as possible.\n\n",
		res.Package.ID, res.Package.Name, res.Package.SourceVersion, len(res.DistributionPoints),
		res.DistributionPoints[0].State, res.Advertisement.ID)

	// 5. Devices check in, act on their policy and report.
	for _, d := range devices {
		pol, err := site.Policy(ctx, d.ResourceID, &delivery.DeviceState{UserLoggedOn: rng.IntN(2) == 0})
		if err != nil {
			return err
		}
		for _, o := range pol.Offers {
			msgs := simulate(rng, d.ResourceID, o, now)
			if _, err := site.Report(ctx, d.ResourceID, msgs); err != nil {
				return fmt.Errorf("report from %s: %w", d.Name, err)
			}
		}
	}

	// 6. The summary.
	sum, err := site.AdvertisementSummary(res.Advertisement.ID)
	if err != nil {
		return err
	}
	printSummary(sum)

	// 7. A restart from the checkpoint Close writes.
	members := map[consign.ObjectID][]uint32{}
	for _, c := range site.Collections() {
		if members[c.ID], err = site.Members(c.ID); err != nil {
			return err
		}
	}
	if err := site.Close(); err != nil {
		return err
	}
	var logs strings.Builder
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	again, err := delivery.Open(ctx, store, delivery.NewChannelTransport(), opts)
	if err != nil {
		return err
	}
	defer again.Close()
	sum2, err := again.AdvertisementSummary(res.Advertisement.ID)
	if err != nil {
		return err
	}
	for id, before := range members {
		after, err := again.Members(id)
		if err != nil || !slices.Equal(before, after) {
			return fmt.Errorf("collection %s after the restart: %d members, before %d (%v)", id, len(after), len(before), err)
		}
	}
	if sum2 != sum || !strings.Contains(logs.String(), "from=checkpoint") {
		return fmt.Errorf("the restarted site differs: %+v\n%s", sum2, logs.String())
	}
	fmt.Printf("\nRestarted from its checkpoint: the same %d collections, members and summary.\n", len(again.Collections()))
	return nil
}

// simulate plays the device: it acts on a mandatory offer that is due and
// reports what a ConfigMgr client would.
func simulate(rng *rand.Rand, rid uint32, o delivery.Offer, now time.Time) []advertisement.Message {
	id := o.Advertisement.ID
	n := 0
	msg := func(e advertisement.Event, code int) advertisement.Message {
		n++
		return advertisement.Message{ID: fmt.Sprintf("%s-%d-%d", id, rid, n), AdvertisementID: id, ResourceID: rid,
			Event: e, Time: now.Add(time.Duration(n) * time.Minute), ExitCode: code}
	}
	switch o.Decision.State {
	case advertisement.Rejected:
		return []advertisement.Message{msg(advertisement.EventRejected, 0)}
	case advertisement.MandatoryDue:
	default:
		return []advertisement.Message{msg(advertisement.EventReceived, 0)}
	}
	out := []advertisement.Message{msg(advertisement.EventReceived, 0), msg(advertisement.EventDownloadStarted, 0),
		msg(advertisement.EventDownloadComplete, 0)}
	// "Run another program first": the VC runtime runs before Install, the
	// first time only; its result goes to its own execution history.
	for _, dep := range o.RunFirst {
		m := msg(advertisement.EventSucceeded, 0)
		m.RunFirst = &pkg.ProgramRef{PackageID: dep.PackageID, Program: dep.Name}
		out = append(out, m)
	}
	out = append(out, msg(advertisement.EventStarted, 0))
	codes := advertisement.DefaultExitCodes()
	var exit int
	switch r := rng.IntN(100); {
	case r < 78:
		exit = 0
	case r < 88:
		exit = 3010
	case r < 94:
		exit = 1618 // another installation is in progress: retry
	default:
		exit = 1603 // fatal error during installation
	}
	switch codes.Classify(exit) {
	case advertisement.ExitSuccess:
		out = append(out, msg(advertisement.EventSucceeded, exit))
	case advertisement.ExitSuccessRestart:
		out = append(out, msg(advertisement.EventRestartPending, exit))
	case advertisement.ExitRetry:
		out = append(out, msg(advertisement.EventRetrying, exit))
	default:
		out = append(out, msg(advertisement.EventFailed, exit))
	}
	return out
}

func printSummary(s delivery.Summary) {
	fmt.Printf("Advertisement %s %q (%s;;%s → %s)\n\n", s.AdvertisementID, s.Name, s.PackageID, s.ProgramName, s.CollectionID)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	c := s.Counts
	rows := []struct {
		name string
		n    int
	}{
		{"Targeted", s.Targeted}, {"Not reported", s.NotReported}, {"Accepted", c.Accepted}, {"Rejected", c.Rejected},
		{"Running", c.Running}, {"Waiting", c.Waiting}, {"Retrying", c.Retrying}, {"Reboot pending", c.RebootPending},
		{"Succeeded", c.Succeeded}, {"Failed", c.Failed},
	}
	fmt.Fprintln(w, "State\tDevices\t")
	fmt.Fprintln(w, "-----\t-------\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t\n", r.name, r.n)
	}
	w.Flush()
}

var (
	oses = []struct{ name, caption, version string }{
		{"Microsoft Windows NT Workstation 6.1", "Microsoft Windows 7 Enterprise", "6.1.7601"},
		{"Microsoft Windows NT Workstation 6.1", "Microsoft Windows 7 Professional", "6.1.7601"},
		{"Microsoft Windows NT Workstation 5.1", "Microsoft Windows XP Professional", "5.1.2600"},
		{"Microsoft Windows NT Server 6.1", "Microsoft Windows Server 2008 R2 Standard", "6.1.7601"},
	}
	apps = []string{"Microsoft Office Professional Plus 2007", "Adobe Reader 9.1", "Mozilla Firefox 3.6", "7-Zip 9.20",
		"Microsoft Silverlight", "Java(TM) 6 Update 20", "VLC media player 1.1.0", "Microsoft .NET Framework 3.5 SP1"}
	zones = []string{"Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"}
)

// newDevice invents one device's discovery data and inventory.
func newDevice(rng *rand.Rand, rid uint32, i int) *collection.Device {
	os := oses[rng.IntN(len(oses))]
	systemType := "x64-based PC"
	if rng.IntN(4) == 0 {
		systemType = "X86-based PC"
	}
	ou := "CONTOSO.COM/WORKSTATIONS"
	if rng.IntN(5) == 0 {
		ou = "CONTOSO.COM/KIOSKS"
	}
	d := &collection.Device{
		ResourceID: rid, Name: fmt.Sprintf("WKS%04d", i), NetbiosName: fmt.Sprintf("WKS%04d", i),
		OperatingSystemNameandVersion: os.name, Client: rng.IntN(20) != 0, Active: true,
		ResourceDomainORWorkgroup: "CONTOSO", SystemOUName: []string{"CONTOSO.COM", ou},
		IPAddresses: []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}, IPSubnets: []string{fmt.Sprintf("10.1.%d.0", i/250)},
		ADSiteName: "HQ", LastLogonUserName: fmt.Sprintf("user%03d", i), TimeZone: zones[rng.IntN(len(zones))],
		Inventory: map[string][]collection.Instance{
			"SMS_G_System_OPERATING_SYSTEM": {{"Caption": os.caption, "Version": os.version}},
			"SMS_G_System_COMPUTER_SYSTEM":  {{"Manufacturer": "Contoso Hardware", "Model": "CX-200", "SystemType": systemType}},
			"SMS_G_System_LOGICAL_DISK":     {{"DeviceID": "C:", "FreeSpace": int64(rng.IntN(200_000)), "Size": int64(250_000)}},
		},
	}
	for _, a := range apps {
		if rng.IntN(3) == 0 {
			d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = append(d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"],
				collection.Instance{"DisplayName": a, "Publisher": "Various", "Version": "1.0"})
		}
	}
	return d
}
