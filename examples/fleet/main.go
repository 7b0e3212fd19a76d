// Fleet runs a site and a fleet of device agents that talk to it over real
// HTTP, the way ConfigMgr clients talk to a management point and
// distribution points:
//
//  1. a site (in memory, or -store bolt:PATH / postgres:DSN) with an HTTP
//     management point and two DP content servers, all on 127.0.0.1;
//  2. a package of a few files, copied to both DPs;
//  3. -devices agents in this process (a simulated executor — nothing is
//     installed — but real registration, signed policy, content download
//     and status upload over HTTP); nine in ten run Windows 7, the rest
//     Windows XP;
//  4. a query collection of the Windows 7 machines, and once every agent
//     has registered, a mandatory advertisement of the package's program
//     to it. The management point pushes the new policy to the agents'
//     long polls, so they act within seconds instead of at their next
//     hourly poll; each waits a random moment up to -push-jitter first
//     (5 ms per device by default), so that the fleet does not fetch
//     policy and content in one instant;
//  5. a live progress line from the advertisement's status summary, then
//     the final summary, the time from advertisement to 99 % Succeeded and
//     the process's memory. The run ends by itself.
//
// The agents share one HTTP/2 (h2c) client, so ten thousand long polls
// travel over a few connections instead of one socket each.
//
// Run it with: go run ./examples/fleet -devices 1000
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/agent"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/internal/storeopen"
	pkg "github.com/consign/consign/package"
)

func main() {
	devices := flag.Int("devices", 1000, "how many device agents to run")
	storeSpec := flag.String("store", "memory", storeopen.Usage+" (a fresh one: the example builds its site from scratch)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	jitter := flag.Duration("push-jitter", 0, "agents spread their reaction to a push over this long (default: 5 ms per device)")
	flag.Parse()
	if *devices < 1 {
		log.Fatal("-devices must be at least 1")
	}
	if *jitter == 0 {
		*jitter = time.Duration(*devices) * 5 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *storeSpec, *devices, *jitter); err != nil {
		log.Fatal(err)
	}
}

const (
	sourcePath = `\\FS01\Source\ContosoAgent`
	win7       = "Microsoft Windows NT Workstation 6.1"
	xp         = "Microsoft Windows NT Workstation 5.1"
)

// dp is one distribution point: its content library and HTTP server.
type dp struct {
	name, nal string
	lib       *fslibrary.Library
	ln        net.Listener
	url       string
}

func run(ctx context.Context, storeSpec string, devices int, jitter time.Duration) error {
	tmp, err := os.MkdirTemp("", "consign-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	store, err := storeopen.Open(ctx, storeSpec)
	if err != nil {
		return err
	}
	defer store.Close()

	// The package source folder.
	srcDir := filepath.Join(tmp, "source")
	if err := writeSource(srcDir); err != nil {
		return err
	}

	// Two DPs, each a content library served over HTTP.
	var dps []*dp
	for _, name := range []string{"DP01", "DP02"} {
		lib, err := fslibrary.Open(filepath.Join(tmp, name))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		dps = append(dps, &dp{name: name, nal: fmt.Sprintf(`["Display=\\%s\"]MSWNET:["SMS_SITE=CEN"]\\%s\`, name, name),
			lib: lib, ln: ln, url: "http://" + ln.Addr().String()})
	}

	// The site, with the management point's notifier as its Transport:
	// a change to a device's policy wakes that device's long poll.
	notifier := httpmp.NewNotifier()
	site, err := delivery.Open(ctx, store, notifier, &delivery.Options{
		SiteCode: "CEN",
		Libraries: func(nal string) (distpoint.Library, error) {
			for _, d := range dps {
				if d.nal == nal {
					return d.lib, nil
				}
			}
			return nil, fmt.Errorf("unknown distribution point %s", nal)
		},
		Sources: func(p *pkg.Package) (fs.FS, error) {
			if p.SourcePath != sourcePath {
				return nil, fmt.Errorf("no source folder for %s", p.SourcePath)
			}
			return os.DirFS(srcDir), nil
		},
	})
	if err != nil {
		return err
	}
	defer site.Close()

	// The management point: signed policy (a fresh keyring), device tokens
	// (a fresh HMAC key), open enrolment, DP content servers by NAL path.
	ring, err := signing.GenerateKeyring(rand.Reader, time.Now())
	if err != nil {
		return err
	}
	tokenKey := make([]byte, 32)
	if _, err := rand.Read(tokenKey); err != nil {
		return err
	}
	mp, err := httpmp.NewServer(site, httpmp.Options{
		Keyring: ring, TokenKeys: [][]byte{tokenKey}, Notifier: notifier,
		ContentSource: func(d distpoint.DistributionPoint) (httpdp.Source, bool) {
			for _, x := range dps {
				if x.nal == d.NALPath {
					return httpdp.Source{BaseURL: x.url}, true
				}
			}
			return httpdp.Source{}, false
		},
	})
	if err != nil {
		return err
	}
	defer mp.Close()
	mpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var servers []*http.Server
	serve := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: h2c(), HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
		servers = append(servers, srv)
		go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Shutdown
	}
	serve(mpLn, mp)
	for _, d := range dps {
		serve(d.ln, httpdp.NewServer(d.lib, &httpdp.Options{Authorize: mp.AuthorizeContent}))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			s.Shutdown(sctx) //nolint:errcheck // best effort at exit
		}
	}()
	mpURL := "http://" + mpLn.Addr().String()
	fmt.Printf("Management point %s; distribution points %s and %s\n", mpURL, dps[0].url, dps[1].url)

	// The package, on both DPs.
	p, prog, err := createPackage(ctx, site, srcDir, dps)
	if err != nil {
		return err
	}
	// The devices' network, 10.1.0.0/16, is a fast boundary: the DPs are
	// local to them (outside every boundary a client would not download).
	if err := site.AddBoundary(ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"),
		SiteCode: "CEN", Speed: distpoint.Fast}); err != nil {
		return err
	}
	col, err := site.CreateCollection(ctx, &collection.Collection{Name: "Windows 7 workstations",
		QueryRules: []collection.QueryRule{{RuleName: "Windows 7", Query: `select * from SMS_R_System
			where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`}}}, "")
	if err != nil {
		return err
	}

	// The agents.
	fmt.Printf("Starting %d agents…\n", devices)
	start := time.Now()
	fl := &fleet{}
	// The agents' client speaks only unencrypted HTTP/2 (with HTTP/1.1 also
	// allowed it would use HTTP/1.1, a connection per request in flight).
	var h2only http.Protocols
	h2only.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &h2only}}
	agentCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	var g errgroup.Group
	win7Count := 0
	for i := range devices {
		osName := win7
		if i%10 == 9 {
			osName = xp
		} else {
			win7Count++
		}
		a, closeAgent, err := newAgent(tmp, i, osName, mpURL, client, jitter, fl)
		if err != nil {
			return err
		}
		g.Go(func() error {
			defer closeAgent()
			return a.Run(agentCtx)
		})
	}
	if err := fl.waitFor(ctx, func() bool { return fl.withPolicy.Load() >= int64(devices) }); err != nil {
		return fmt.Errorf("agents did not all register and fetch policy: %w (%d of %d)", err, fl.withPolicy.Load(), devices)
	}
	members, err := site.Members(col.ID)
	if err != nil {
		return err
	}
	fmt.Printf("%d agents registered and hold signed policy after %v; %d are in %q\n",
		devices, time.Since(start).Round(time.Millisecond), len(members), col.Name)

	// The mandatory advertisement.
	ad := advertisement.New("", "Contoso Agent 2.0", p.ID, prog.Name, col.ID, time.Now().Add(-time.Minute))
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	advertised := time.Now()
	if ad, err = site.CreateAdvertisement(ctx, ad); err != nil {
		return err
	}
	fmt.Printf("Advertised %s %q mandatory as soon as possible to %s\n", ad.ID, ad.Name, col.ID)

	var reached99 time.Duration
	// On a terminal the progress line is redrawn in place; otherwise (a
	// log, CI) a line is printed only when it changes.
	tty := isTerminal(os.Stdout)
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("\ngave up: %w", ctx.Err())
		case <-tick.C:
		}
		sum, err := site.AdvertisementSummary(ad.ID)
		if err != nil {
			return err
		}
		c := sum.Counts
		final := c.Succeeded + c.Failed
		if reached99 == 0 && float64(c.Succeeded) >= math.Ceil(0.99*float64(sum.Targeted)) && sum.Targeted > 0 {
			reached99 = time.Since(advertised)
		}
		line := fmt.Sprintf("targeted %d  not reported %d  downloading %d  running %d  succeeded %d  failed %d  agent errors %d",
			sum.Targeted, sum.NotReported, c.Downloading, c.Running, c.Succeeded, c.Failed, fl.errors.Load())
		switch {
		case tty:
			fmt.Printf("\r%6.1fs  %s  ", time.Since(advertised).Seconds(), line)
		case line != last:
			fmt.Printf("%6.1fs  %s\n", time.Since(advertised).Seconds(), line)
		}
		last = line
		done = sum.Targeted == win7Count && final == sum.Targeted && fl.unsent() == 0
	}
	if tty {
		fmt.Println()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	running := ms.HeapInuse
	stopAgents()
	if err := g.Wait(); err != nil {
		return err
	}

	sum, err := site.AdvertisementSummary(ad.ID)
	if err != nil {
		return err
	}
	fmt.Printf("\nAdvertisement %s summary: targeted %d, succeeded %d, failed %d, not reported %d\n",
		ad.ID, sum.Targeted, sum.Counts.Succeeded, sum.Counts.Failed, sum.NotReported)
	fmt.Printf("Advertisement to 99%% Succeeded: %v (%d program runs, %d status messages)\n",
		reached99.Round(time.Millisecond), fl.runs.Load(), fl.sent.Load())
	fmt.Printf("Process memory with %d agents running: %.0f MiB heap in use\n", devices, float64(running)/(1<<20))
	// The agents have stopped: what the heap still holds after a
	// collection is the site's (its model of every device, policy caches)
	// and its servers'.
	client.CloseIdleConnections()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Printf("Site memory (live heap once the agents are gone): %.0f MiB for %d devices\n", float64(ms.HeapAlloc)/(1<<20), devices)
	if sum.Counts.Succeeded != win7Count {
		return fmt.Errorf("%d of %d targeted devices succeeded", sum.Counts.Succeeded, win7Count)
	}
	return nil
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// h2c serves and speaks HTTP/1.1 and unencrypted HTTP/2.
func h2c() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}

// fleet counts what the agents report through their OnEvent.
type fleet struct {
	withPolicy atomic.Int64 // agents that have taken a policy
	runs       atomic.Int64 // program runs finished
	errors     atomic.Int64 // failed exchanges with the site (retried)
	queued     atomic.Int64 // status messages queued
	sent       atomic.Int64 // status messages the site took
	mu         sync.Mutex
	seen       map[uint32]bool // agents counted in withPolicy
}

func (f *fleet) event(e agent.Event) {
	switch e.Kind {
	case agent.EventPolicy:
		f.mu.Lock()
		if f.seen == nil {
			f.seen = map[uint32]bool{}
		}
		if !f.seen[e.ResourceID] {
			f.seen[e.ResourceID] = true
			f.withPolicy.Add(1)
		}
		f.mu.Unlock()
	case agent.EventRunFinished:
		f.runs.Add(1)
	case agent.EventError, agent.EventPolicyRefused:
		f.errors.Add(1)
	case agent.EventStatus:
		f.queued.Add(1)
	case agent.EventStatusSent:
		f.sent.Add(int64(e.Count))
	}
}

// unsent is how many queued status messages have not reached the site.
func (f *fleet) unsent() int64 { return f.queued.Load() - f.sent.Load() }

// waitFor polls cond until it holds or ctx ends.
func (f *fleet) waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// newAgent makes device i's agent: its own state file and cache folder, a
// simulated executor whose installs take 0.5–2 s, the shared client, and
// the push jitter.
func newAgent(tmp string, i int, osName, mpURL string, client *http.Client, jitter time.Duration, fl *fleet) (*agent.Agent, func(), error) {
	dir := filepath.Join(tmp, "agents", fmt.Sprintf("%05d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	// NoSync: ten thousand simulated devices share one disk here; a real
	// agent keeps the default, so its outbox survives a power cut.
	st, err := agent.OpenState(filepath.Join(dir, "state.db"), &agent.StateOptions{NoSync: true})
	if err != nil {
		return nil, nil, err
	}
	cache, err := agent.OpenCache(st, filepath.Join(dir, "cache"), nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	rng := mrand.New(mrand.NewPCG(uint64(i), 42))
	exec := agent.NewSimExecutor(&agent.SimOptions{Seed: uint64(i),
		Default: agent.SimOutcome{Duration: 500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))}})
	name := fmt.Sprintf("WKS%05d", i)
	a, err := agent.New(agent.Config{
		MP: httpmp.NewClient(mpURL, client),
		Device: &collection.Device{Name: name, NetbiosName: name, SMSUniqueIdentifier: fmt.Sprintf("GUID:%08X-0000-4000-8000-%012X", i, i),
			OperatingSystemNameandVersion: osName, ResourceDomainORWorkgroup: "CONTOSO", Client: true, Active: true,
			IPAddresses: []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}, IPSubnets: []string{fmt.Sprintf("10.1.%d.0", i/250)}},
		State: st, Cache: cache, Executor: exec,
		// NoSync for the same reason as the state file's.
		Downloader: &httpdp.Downloader{Client: client, NoSync: true},
		Rand:       rng,
		PushJitter: jitter,
		OnEvent:    fl.event,
	})
	if err != nil {
		cache.Close()
		st.Close()
		return nil, nil, err
	}
	return a, func() { cache.Close(); st.Close() }, nil
}

// createPackage makes the package from the source folder, with its Install
// program, and copies it to both DPs.
func createPackage(ctx context.Context, site *delivery.Site, srcDir string, dps []*dp) (*pkg.Package, *pkg.Program, error) {
	m, err := source.ManifestFromFS(ctx, os.DirFS(srcDir))
	if err != nil {
		return nil, nil, err
	}
	p := pkg.NewPackage("", "Contoso Agent")
	p.Version, p.Manufacturer, p.Language = "2.0", "Contoso", "English"
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, sourcePath, m
	if p, err = site.CreatePackage(ctx, p); err != nil {
		return nil, nil, err
	}
	prog := pkg.NewProgram(p.ID, "Install", "setup.exe /quiet")
	prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	if err := site.CreateProgram(ctx, prog); err != nil {
		return nil, nil, err
	}
	var nals []string
	for _, d := range dps {
		if err := site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: d.nal, Name: d.name, SiteCode: "CEN",
			Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
			return nil, nil, err
		}
		nals = append(nals, d.nal)
	}
	if err := site.AddPackageToDistributionPoints(ctx, p.ID, nals...); err != nil {
		return nil, nil, err
	}
	rep, err := site.DistributeContent(ctx)
	if err != nil {
		return nil, nil, err
	}
	rows, err := site.PackageStatus(p.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rows {
		if r.State != distpoint.Installed {
			return nil, nil, fmt.Errorf("package not installed on %s: %v (%+v)", r.NALPath, r.State, rep)
		}
	}
	fmt.Printf("Package %s %q: %d files, %d bytes, on %d DPs\n", p.ID, p.Name, len(m.Files), m.Size(), len(dps))
	return p, prog, nil
}

// writeSource writes the package's files: an installer and two data files.
func writeSource(dir string) error {
	files := map[string]int{"setup.exe": 24 << 10, "data/agent.cab": 40 << 10, "data/readme.txt": 2 << 10}
	for name, size := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
