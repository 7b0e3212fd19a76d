package agent_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing/fstest"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/agent"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// A device agent and a site in one process: the site puts a package on a
// distribution point (an HTTP content server on 127.0.0.1) and advertises
// its program to a collection, mandatory as soon as possible; the agent
// registers, verifies its signed policy, downloads and verifies the
// content, runs the program (simulated) and reports, and the site's
// summary shows the success.
//
// The management point here is newSiteMP, this package's test
// implementation of ManagementPoint over a delivery.Site; a real agent uses
// httpmp.NewClient with the URL of an httpmp.Server.
func Example() {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "agent-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	// The site, with one DP that serves its content over HTTP.
	lib, err := fslibrary.Open(filepath.Join(work, "dp"))
	if err != nil {
		log.Fatal(err)
	}
	src := fstest.MapFS{"setup.exe": {Data: []byte("MZ setup")}, "setup.ini": {Data: []byte("[setup]\nsilent=1\n")}}
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{
		Libraries: func(string) (distpoint.Library, error) { return lib, nil },
		Sources:   func(*pkg.Package) (fs.FS, error) { return src, nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: "DP01", Name: "DP01", SiteCode: "CEN",
		Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
		log.Fatal(err)
	}
	if err := site.AddBoundary(ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet,
		Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast}); err != nil {
		log.Fatal(err)
	}
	dp := httptest.NewServer(httpdp.NewServer(lib, nil))
	defer dp.Close()
	mp, err := newSiteMP(site, time.Now, map[string]httpdp.Source{"DP01": {BaseURL: dp.URL}})
	if err != nil {
		log.Fatal(err)
	}

	// The device: its agent's state file and cache, a simulated executor.
	st, err := agent.OpenState(filepath.Join(work, "agent.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cache, err := agent.OpenCache(st, filepath.Join(work, "cache"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	finished := make(chan agent.Event, 1)
	a, err := agent.New(agent.Config{
		MP: mp,
		Device: &collection.Device{Name: "PC01", SMSUniqueIdentifier: "GUID:PC01", Client: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", IPAddresses: []string{"10.1.2.3"}},
		State: st, Cache: cache, Executor: agent.NewSimExecutor(nil),
		OnEvent: func(e agent.Event) {
			if e.Kind == agent.EventRunFinished {
				finished <- e
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	for a.ResourceID() == 0 { // registered
		time.Sleep(time.Millisecond)
	}

	// The administrator distributes the software to every PC.
	m, err := source.ManifestFromFS(ctx, src)
	if err != nil {
		log.Fatal(err)
	}
	p := pkg.NewPackage("", "Contoso App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\Contoso`, m
	install := pkg.NewProgram("", "Install", "setup.exe /s")
	install.Logon, install.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	ad := advertisement.New("", "Contoso App", "", "", "", time.Now().UTC().Truncate(time.Minute))
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	res, err := site.DistributeSoftware(ctx, delivery.DistributeRequest{
		NewPackage: p, NewPrograms: []*pkg.Program{install}, ProgramName: "Install",
		DistributionPoints: []string{"DP01"},
		NewCollection: &collection.Collection{Name: "All PCs", QueryRules: []collection.QueryRule{{RuleName: "pcs",
			Query: `select * from SMS_R_System where SMS_R_System.Name like "PC%"`}}},
		Advertisement: ad,
	})
	if err != nil {
		log.Fatal(err)
	}
	mp.notify() // the push: the agent's long poll returns at once

	ev := <-finished
	fmt.Println(ev.Program.Program, "finished:", ev.Status)
	for {
		sum, err := site.AdvertisementSummary(res.Advertisement.ID)
		if err != nil {
			log.Fatal(err)
		}
		if sum.Counts.Succeeded == 1 {
			fmt.Printf("site summary: targeted %d, succeeded %d\n", sum.Targeted, sum.Counts.Succeeded)
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// Install finished: Succeeded
	// site summary: targeted 1, succeeded 1
}
