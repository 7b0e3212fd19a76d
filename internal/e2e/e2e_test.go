// Package e2e_test runs a site, its HTTP management point, two DP content
// servers and device agents together over loopback HTTP: the whole device
// channel of issue 6, with faults.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/agent"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

const (
	sourcePath = `\\FS01\Source\App`
	win7       = "Microsoft Windows NT Workstation 6.1"
	xp         = "Microsoft Windows NT Workstation 5.1"
	bigFile    = "data/payload.bin"
	bigSize    = 4 << 20
)

// world is a site with its servers on 127.0.0.1.
type world struct {
	t      *testing.T
	ctx    context.Context
	site   *delivery.Site
	mp     *httpmp.Server
	mpAddr string
	mpSrv  *http.Server
	dps    []*contentServer
	pkg    *pkg.Package
	prog   *pkg.Program
	col    *collection.Collection
	client *http.Client
}

// contentServer is one DP: a library served over HTTP. While cut is set,
// the first response for the big file stops half way, the connection is
// dropped and the server shuts down: the DP dies mid-transfer.
type contentServer struct {
	nal, url string
	lib      *fslibrary.Library
	srv      *http.Server
	cut      atomic.Bool
	ranged   atomic.Int64 // requests with a Range header
	cuts     atomic.Int64 // transfers cut
}

func (c *contentServer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			c.ranged.Add(1)
		}
		if !strings.HasSuffix(r.URL.Path, bigFile) || !c.cut.CompareAndSwap(true, false) {
			h.ServeHTTP(w, r)
			return
		}
		c.cuts.Add(1)
		rec := &halfWriter{ResponseWriter: w, left: bigSize / 2}
		h.ServeHTTP(rec, r)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		go c.srv.Close()
	})
}

// halfWriter passes on the status and the first left bytes, then flushes
// and swallows the rest.
type halfWriter struct {
	http.ResponseWriter
	left int
}

func (h *halfWriter) Write(b []byte) (int, error) {
	n := min(len(b), h.left)
	if n > 0 {
		if _, err := h.ResponseWriter.Write(b[:n]); err != nil {
			return 0, err
		}
		h.left -= n
		if f, ok := h.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
	return len(b), nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, client: &http.Client{Timeout: time.Minute}}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "source")
	big := make([]byte, bigSize)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"setup.exe": bytes.Repeat([]byte("MZ"), 4096), bigFile: big} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var lns []net.Listener
	for _, name := range []string{"DP01", "DP02"} {
		lib, err := fslibrary.Open(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		ln := listen(t, "127.0.0.1:0")
		lns = append(lns, ln)
		w.dps = append(w.dps, &contentServer{nal: fmt.Sprintf(`["Display=\\%s\"]MSWNET:["SMS_SITE=CEN"]\\%s\`, name, name),
			url: "http://" + ln.Addr().String(), lib: lib})
	}
	notifier := httpmp.NewNotifier()
	site, err := delivery.Open(ctx, memstore.New(), notifier, &delivery.Options{
		SiteCode: "CEN",
		Libraries: func(nal string) (distpoint.Library, error) {
			for _, d := range w.dps {
				if d.nal == nal {
					return d.lib, nil
				}
			}
			return nil, fmt.Errorf("unknown DP %s", nal)
		},
		Sources: func(p *pkg.Package) (fs.FS, error) { return os.DirFS(src), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	w.site = site
	ring, err := signing.GenerateKeyring(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.mp, err = httpmp.NewServer(site, httpmp.Options{Keyring: ring, TokenKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}, Notifier: notifier,
		WaitTimeout: 2 * time.Second,
		ContentSource: func(dp distpoint.DistributionPoint) (httpdp.Source, bool) {
			for _, d := range w.dps {
				if d.nal == dp.NALPath {
					return httpdp.Source{BaseURL: d.url}, true
				}
			}
			return httpdp.Source{}, false
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.mp.Close() })
	for i, d := range w.dps {
		d.srv = &http.Server{Handler: d.wrap(httpdp.NewServer(d.lib, &httpdp.Options{Authorize: w.mp.AuthorizeContent}))}
		go d.srv.Serve(lns[i]) //nolint:errcheck // ends at Close
		t.Cleanup(func() { d.srv.Close() })
	}
	mpLn := listen(t, "127.0.0.1:0")
	w.mpAddr = mpLn.Addr().String()
	w.startMP(mpLn)
	t.Cleanup(func() { w.mpSrv.Close() })

	// The package on both DPs, and a WQL collection of Windows 7 machines.
	m, err := source.ManifestFromFS(ctx, os.DirFS(src))
	if err != nil {
		t.Fatal(err)
	}
	p := pkg.NewPackage("", "App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, sourcePath, m
	if w.pkg, err = site.CreatePackage(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.prog = pkg.NewProgram(w.pkg.ID, "Install", "setup.exe /quiet")
	w.prog.Logon, w.prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	if err := site.CreateProgram(ctx, w.prog); err != nil {
		t.Fatal(err)
	}
	var nals []string
	for i, d := range w.dps {
		if err := site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: d.nal, Name: fmt.Sprintf("DP%02d", i+1),
			SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
			t.Fatal(err)
		}
		nals = append(nals, d.nal)
	}
	if err := site.AddPackageToDistributionPoints(ctx, w.pkg.ID, nals...); err != nil {
		t.Fatal(err)
	}
	if _, err := site.DistributeContent(ctx); err != nil {
		t.Fatal(err)
	}
	// The devices' network, a fast boundary: the DPs are local to them.
	if err := site.AddBoundary(ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"),
		SiteCode: "CEN", Speed: distpoint.Fast}); err != nil {
		t.Fatal(err)
	}
	w.col, err = site.CreateCollection(ctx, &collection.Collection{Name: "Windows 7",
		QueryRules: []collection.QueryRule{{RuleName: "w7", Query: `select * from SMS_R_System
			where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startMP serves the management point on ln.
func (w *world) startMP(ln net.Listener) {
	w.mpSrv = &http.Server{Handler: w.mp}
	go w.mpSrv.Serve(ln) //nolint:errcheck // ends at Close
}

// stopMP takes the management point off the network: connections are
// refused until restartMP.
func (w *world) stopMP() {
	w.mpSrv.Close()
}

func (w *world) restartMP() {
	var ln net.Listener
	var err error
	for range 50 { // the port was just released
		if ln, err = net.Listen("tcp", w.mpAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.startMP(ln)
}

// device is one running agent and what it did.
type device struct {
	agent   *agent.Agent
	started atomic.Int64
	runs    atomic.Int64
	mu      sync.Mutex
	last    advertisement.Event
}

// startAgents starts one agent per OS name, each with its own state file
// and cache; they stop when the test ends.
func (w *world) startAgents(run time.Duration, osNames ...string) []*device {
	w.t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	var g errgroup.Group
	w.t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			w.t.Errorf("agent: %v", err)
		}
	})
	var out []*device
	for i, osName := range osNames {
		dir := w.t.TempDir()
		st, err := agent.OpenState(filepath.Join(dir, "state.db"), &agent.StateOptions{NoSync: true})
		if err != nil {
			w.t.Fatal(err)
		}
		cache, err := agent.OpenCache(st, filepath.Join(dir, "cache"), nil)
		if err != nil {
			w.t.Fatal(err)
		}
		d := &device{}
		name := fmt.Sprintf("WKS%03d", i)
		a, err := agent.New(agent.Config{
			MP: httpmp.NewClient("http://"+w.mpAddr, w.client),
			Device: &collection.Device{Name: name, NetbiosName: name, SMSUniqueIdentifier: "GUID:" + name,
				OperatingSystemNameandVersion: osName, Client: true, Active: true,
				IPAddresses: []string{fmt.Sprintf("10.1.0.%d", i+1)}, IPSubnets: []string{"10.1.0.0"}},
			State: st, Cache: cache, Executor: agent.NewSimExecutor(&agent.SimOptions{Default: agent.SimOutcome{Duration: run}}),
			Downloader: &httpdp.Downloader{Client: w.client, RetryDelay: 10 * time.Millisecond},
			Backoff:    20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			OnEvent: func(e agent.Event) {
				if e.Kind == agent.EventRunStarted {
					d.started.Add(1)
				}
				if e.Kind == agent.EventRunFinished {
					d.runs.Add(1)
					d.mu.Lock()
					d.last = e.Status
					d.mu.Unlock()
				}
			},
		})
		if err != nil {
			w.t.Fatal(err)
		}
		d.agent = a
		g.Go(func() error {
			defer st.Close()
			defer cache.Close()
			return a.Run(ctx)
		})
		out = append(out, d)
	}
	return out
}

// advertise makes the program mandatory as soon as possible for the
// collection.
func (w *world) advertise() *advertisement.Advertisement {
	w.t.Helper()
	ad := advertisement.New("", "App", w.pkg.ID, w.prog.Name, w.col.ID, time.Now().Add(-time.Minute))
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	ad, err := w.site.CreateAdvertisement(w.ctx, ad)
	if err != nil {
		w.t.Fatal(err)
	}
	return ad
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func summary(t *testing.T, w *world, id consign.ObjectID) delivery.Summary {
	t.Helper()
	s, err := w.site.AdvertisementSummary(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The whole path: agents register, join the WQL collection by their
// inventory, get signed policy pushed, download content — DP01 dies half
// way through the big file, and the download resumes from DP02 — run the
// program and report; the advertisement's summary shows every targeted
// device Succeeded, and the XP machine is not targeted.
func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.dps[0].cut.Store(true)
	w.dps[1].cut.Store(false)
	devs := w.startAgents(0, win7, win7, xp)
	waitFor(t, 20*time.Second, "registration", func() bool {
		members, _ := w.site.Members(w.col.ID)
		return len(members) == 2
	})
	ad := w.advertise()
	waitFor(t, 60*time.Second, "every targeted device Succeeded", func() bool {
		s := summary(t, w, ad.ID)
		return s.Targeted == 2 && s.Counts.Succeeded == 2
	})
	if got := devs[2].runs.Load(); got != 0 {
		t.Errorf("the XP machine, outside the collection, ran the program %d times", got)
	}
	for i, d := range devs[:2] {
		d.mu.Lock()
		last := d.last
		d.mu.Unlock()
		if d.runs.Load() != 1 || last != advertisement.EventSucceeded {
			t.Errorf("device %d ran the program %d times, last %v; want once, Succeeded", i, d.runs.Load(), last)
		}
	}
	if w.dps[0].cuts.Load() != 1 {
		t.Fatalf("DP01 cut %d transfers, want 1", w.dps[0].cuts.Load())
	}
	if w.dps[1].ranged.Load() == 0 {
		t.Error("no download resumed from DP02 with a Range request after DP01 died")
	}
}

// With the management point unreachable while agents finish their runs,
// no status is lost: once it is back, the outboxes drain and the summary
// counts every device exactly once.
func TestStatusSurvivesSiteOutage(t *testing.T) {
	w := newWorld(t)
	devs := w.startAgents(time.Second, win7, win7, win7) // runs long enough to take the MP down meanwhile
	waitFor(t, 20*time.Second, "registration", func() bool {
		members, _ := w.site.Members(w.col.ID)
		return len(members) == 3
	})
	ad := w.advertise()
	// Stop the management point once every device has started its
	// program: the runs end, and their results are reported, while it is
	// down.
	waitFor(t, 30*time.Second, "every device to start its run", func() bool {
		for _, d := range devs {
			if d.started.Load() == 0 {
				return false
			}
		}
		return true
	})
	w.stopMP()
	waitFor(t, 60*time.Second, "every device to finish its run offline", func() bool {
		for _, d := range devs {
			if d.runs.Load() == 0 {
				return false
			}
		}
		return true
	})
	if s := summary(t, w, ad.ID); s.Counts.Succeeded != 0 {
		t.Fatalf("a Succeeded reached the site while it was down: %+v", s.Counts)
	}
	w.restartMP()
	waitFor(t, 60*time.Second, "the outboxes to drain", func() bool {
		s := summary(t, w, ad.ID)
		return s.Counts.Succeeded == 3
	})
	s := summary(t, w, ad.ID)
	if s.Targeted != 3 || s.NotReported != 0 || s.Counts.Failed != 0 {
		t.Errorf("summary after the outage: %+v", s)
	}
}
