package agent_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

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

// t0 is when every test starts: a Monday morning.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fault is what siteMP does with one Report call.
type fault int

const (
	deliver   fault = iota // take the batch
	lose                   // the request never reaches the site
	loseReply              // the site takes the batch, the reply is lost
)

// siteMP is a ManagementPoint over a delivery.Site in the same process:
// what the httpmp Server does for one device, without HTTP. It signs
// policy and manifests with a real keyring, serves content location with
// the URLs of real DP content servers, and injects faults.
type siteMP struct {
	site    *delivery.Site
	ring    *signing.Keyring
	signer  *signing.Signer
	clock   func() time.Time
	sources map[string]httpdp.Source // by DP NAL path
	wake    chan struct{}

	mu           sync.Mutex
	token        string
	revoked      map[string]bool // tokens the site no longer accepts
	serial       uint64
	registers    int
	down         bool          // every call fails as unreachable
	reportFaults []fault       // the fate of each Report call, in order; then deliver
	losing       bool          // every Report is lost
	ttl          time.Duration // policy validity; 0 means 24 hours
	issuedAt     time.Duration // added to the clock for a policy's Issued
	serialAt     uint64        // when set, the serial of every policy
	manifestHook func(*pkg.Manifest)
	envelopeHook func(*signing.Envelope)
	reports      int
	applied      map[string]int // message ID → times the site took it
	log          []advertisement.Message
	accepted     int // the site's counts, over every batch it took
	duplicates   int
	maxBatch     int // the largest batch
	maxPerAd     int // the most messages about one advertisement in a batch
}

func newSiteMP(site *delivery.Site, clock func() time.Time, sources map[string]httpdp.Source) (*siteMP, error) {
	ring, err := signing.GenerateKeyring(nil, clock())
	if err != nil {
		return nil, err
	}
	return &siteMP{site: site, ring: ring, signer: signing.NewSigner(ring), clock: clock, sources: sources,
		wake: make(chan struct{}, 1), serial: 100, applied: map[string]int{}, revoked: map[string]bool{}}, nil
}

var errDown = consign.Errorf(consign.ErrUnavailable, "siteMP", "", "management point unreachable")

// rid returns the device the token names.
func (m *siteMP) rid() (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, errDown
	}
	rest, ok := strings.CutPrefix(m.token, "tok-")
	rest, _, _ = strings.Cut(rest, "-")
	n, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || !ok || m.revoked[m.token] {
		return 0, fmt.Errorf("token %q: %w", m.token, httpdp.ErrUnauthenticated)
	}
	return uint32(n), nil
}

func (m *siteMP) Register(ctx context.Context, d *collection.Device, secret string) (httpmp.Registration, error) {
	m.mu.Lock()
	down := m.down
	m.mu.Unlock()
	if down {
		return httpmp.Registration{}, errDown
	}
	rid, err := m.site.RegisterDevice(ctx, d)
	if err != nil {
		return httpmp.Registration{}, err
	}
	m.mu.Lock()
	m.registers++
	n := m.registers
	m.mu.Unlock()
	return httpmp.Registration{ResourceID: rid, Token: fmt.Sprintf("tok-%d-%d", rid, n),
		Keys: m.ring.PublicKeys(), PollInterval: time.Hour}, nil
}

func (m *siteMP) Keys(ctx context.Context) ([]signing.PublicKey, error) {
	if _, err := m.rid(); err != nil {
		return nil, err
	}
	return m.ring.PublicKeys(), nil
}

func (m *siteMP) PutInventory(ctx context.Context, d *collection.Device) error {
	rid, err := m.rid()
	if err != nil {
		return err
	}
	c := *d
	c.ResourceID = rid
	return m.site.PutDevices(ctx, &c)
}

// payload builds the device's policy payload as the management point does.
func (m *siteMP) payload(ctx context.Context, rid uint32) ([]byte, error) {
	pol, err := m.site.Policy(ctx, rid, nil)
	if err != nil {
		return nil, err
	}
	return json.Marshal(httpmp.Payload(pol))
}

func (m *siteMP) Policy(ctx context.Context, etag string) (*signing.Envelope, string, error) {
	rid, err := m.rid()
	if err != nil {
		return nil, "", err
	}
	b, err := m.payload(ctx, rid)
	if err != nil {
		return nil, "", err
	}
	tag := fmt.Sprintf("%x", sha256.Sum256(b))
	if tag == etag {
		return nil, tag, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serial++
	serial := m.serial
	if m.serialAt != 0 {
		serial = m.serialAt
	}
	ttl := m.ttl
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	env, err := m.signer.Sign(signing.KindPolicy, strconv.FormatUint(uint64(rid), 10), b, serial, m.clock().Add(m.issuedAt), ttl)
	if err != nil {
		return nil, "", err
	}
	return &env, tag, nil
}

func (m *siteMP) Wait(ctx context.Context, etag string) (bool, error) {
	if _, err := m.rid(); err != nil {
		return false, err
	}
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-m.wake:
		return true, nil
	case <-t.C:
		return false, nil
	}
}

// notify is the push: the device's long poll returns "changed".
func (m *siteMP) notify() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *siteMP) Locate(ctx context.Context, req httpmp.LocateRequest) (httpmp.LocateReply, error) {
	rid, err := m.rid()
	if err != nil {
		return httpmp.LocateReply{}, err
	}
	res, err := m.site.Locate(ctx, rid, req.PackageID, req.Version, req.AdvertisementID)
	if err != nil {
		return httpmp.LocateReply{}, err
	}
	p, err := m.site.Package(req.PackageID)
	if err != nil {
		return httpmp.LocateReply{}, err
	}
	man := pkg.Manifest{Files: append([]pkg.File(nil), p.Manifest.Files...)}
	m.mu.Lock()
	mh, eh := m.manifestHook, m.envelopeHook
	m.mu.Unlock()
	if mh != nil {
		mh(&man)
	}
	b, err := json.Marshal(man)
	if err != nil {
		return httpmp.LocateReply{}, err
	}
	env, err := m.signer.Sign(signing.KindManifest, fmt.Sprintf("%s/%d", req.PackageID, req.Version), b, 1, m.clock(), 24*time.Hour)
	if err != nil {
		return httpmp.LocateReply{}, err
	}
	if eh != nil {
		eh(&env)
	}
	reply := httpmp.LocateReply{Result: res, Manifest: env}
	for _, l := range res.Locations {
		if s, ok := m.sources[l.DP.NALPath]; ok {
			reply.Sources = append(reply.Sources, s)
		}
	}
	return reply, nil
}

func (m *siteMP) Report(ctx context.Context, msgs []advertisement.Message) (httpmp.StatusReply, error) {
	rid, err := m.rid()
	if err != nil {
		return httpmp.StatusReply{}, err
	}
	m.mu.Lock()
	f := deliver
	if m.reports < len(m.reportFaults) {
		f = m.reportFaults[m.reports]
	}
	m.reports++
	losing := m.losing
	per := map[consign.ObjectID]int{}
	for _, msg := range msgs {
		per[msg.AdvertisementID]++
		m.maxPerAd = max(m.maxPerAd, per[msg.AdvertisementID])
	}
	m.maxBatch = max(m.maxBatch, len(msgs))
	m.mu.Unlock()
	if f == lose || losing {
		return httpmp.StatusReply{}, errDown
	}
	res, err := m.site.Report(ctx, rid, msgs)
	if err != nil {
		return httpmp.StatusReply{}, err
	}
	m.mu.Lock()
	for _, msg := range msgs {
		if m.applied[msg.ID] == 0 {
			m.log = append(m.log, msg)
		}
		m.applied[msg.ID]++
	}
	m.accepted += res.Accepted
	m.duplicates += res.Duplicates
	m.mu.Unlock()
	if f == loseReply {
		return httpmp.StatusReply{}, errDown
	}
	return httpmp.StatusReply{Accepted: res.Accepted, Duplicates: res.Duplicates, Unknown: res.Unknown}, nil
}

func (m *siteMP) SetToken(token string) {
	m.mu.Lock()
	m.token = token
	m.mu.Unlock()
}

// set changes the MP's behaviour under its lock.
func (m *siteMP) set(f func(m *siteMP)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// registered returns how many registrations the site took.
func (m *siteMP) registered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.registers
}

// events returns the events the site took for advertisement id, in the
// order it first took them.
func (m *siteMP) events(id consign.ObjectID) []advertisement.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []advertisement.Event
	for _, msg := range m.log {
		if msg.AdvertisementID == id {
			out = append(out, msg.Event)
		}
	}
	return out
}

// env is a site with one DP (an HTTP content server on 127.0.0.1), a fast
// boundary around 10.1.0.0/16 and a management point for one device.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeClock
	site  *delivery.Site
	mp    *siteMP

	mu   sync.Mutex
	srcs map[string]fs.FS // package source folders, by SourcePath
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: &fakeClock{t: t0}, srcs: map[string]fs.FS{}}
	lib, err := fslibrary.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	site, err := delivery.Open(e.ctx, memstore.New(), nil, &delivery.Options{
		Clock: e.clock.Now,
		Libraries: func(nal string) (distpoint.Library, error) {
			if nal == "DP01" {
				return lib, nil
			}
			return nil, fmt.Errorf("no DP %s", nal)
		},
		Sources: func(p *pkg.Package) (fs.FS, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if f, ok := e.srcs[p.SourcePath]; ok {
				return f, nil
			}
			return nil, fmt.Errorf("no source for %s", p.SourcePath)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.site = site
	must0(t, site.AddDistributionPoint(e.ctx, &distpoint.DistributionPoint{NALPath: "DP01", Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}))
	must0(t, site.AddBoundary(e.ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast}))
	dp := httptest.NewServer(httpdp.NewServer(lib, nil))
	t.Cleanup(dp.Close)
	e.mp, err = newSiteMP(site, e.clock.Now, map[string]httpdp.Source{"DP01": {BaseURL: dp.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func must0(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// must returns v, panicking on err (for setup steps that cannot fail).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// device returns a Windows 7 workstation on the HQ boundary.
func device(name string) *collection.Device {
	return &collection.Device{Name: name, SMSUniqueIdentifier: "GUID:" + name, Client: true,
		OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", IPAddresses: []string{"10.1.2.3"}}
}

// register registers d at the site, as the agent will (by its unique
// identifier), so that collections made afterwards include it.
func (e *env) register(d *collection.Device) uint32 {
	rid, err := e.site.RegisterDevice(e.ctx, d)
	must0(e.t, err)
	return rid
}

// collection makes a collection of every PC, with windows.
func (e *env) collection(windows ...collection.ServiceWindow) consign.ObjectID {
	c := &collection.Collection{Name: "All PCs", ServiceWindows: windows, QueryRules: []collection.QueryRule{{RuleName: "pcs",
		Query: `select * from SMS_R_System where SMS_R_System.Name like "PC%"`}}}
	return must(e.site.CreateCollection(e.ctx, c, "")).ID
}

// program returns a program that runs whether or not a user is logged on.
func program(name, cmd string) *pkg.Program {
	p := pkg.NewProgram("", name, cmd)
	p.Logon, p.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	return p
}

// newPackage makes a package with the given files and programs and puts
// it on DP01.
func (e *env) newPackage(name string, files map[string]string, programs ...*pkg.Program) *pkg.Package {
	e.t.Helper()
	p := e.newPackageNoDP(name, files, programs...)
	e.distribute(p)
	return p
}

// distribute puts p on DP01.
func (e *env) distribute(p *pkg.Package) {
	e.t.Helper()
	must0(e.t, e.site.AddPackageToDistributionPoints(e.ctx, p.ID, "DP01"))
	if r := must(e.site.DistributeContent(e.ctx)); r.Err() != nil {
		e.t.Fatal(r.Err())
	}
}

// newPackageNoDP makes a package on no DP.
func (e *env) newPackageNoDP(name string, files map[string]string, programs ...*pkg.Program) *pkg.Package {
	e.t.Helper()
	fsys := fstest.MapFS{}
	for path, data := range files {
		fsys[path] = &fstest.MapFile{Data: []byte(data)}
	}
	p := pkg.NewPackage("", name)
	p.SourceFlag, p.SourcePath = pkg.StorageDirect, `\\FS01\Source\`+name
	p.Manifest = must(source.ManifestFromFS(e.ctx, fsys))
	e.mu.Lock()
	e.srcs[p.SourcePath] = fsys
	e.mu.Unlock()
	p = must(e.site.CreatePackage(e.ctx, p))
	for _, prog := range programs {
		prog.PackageID = p.ID
		must0(e.t, e.site.CreateProgram(e.ctx, prog))
	}
	return p
}

// advertise makes a mandatory "as soon as possible" advertisement of
// program to coll, available from t0; mod adjusts it first.
func (e *env) advertise(name string, p *pkg.Package, program string, coll consign.ObjectID, mod func(*advertisement.Advertisement)) *advertisement.Advertisement {
	e.t.Helper()
	ad := advertisement.New("", name, p.ID, program, coll, t0)
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	if mod != nil {
		mod(ad)
	}
	return must(e.site.CreateAdvertisement(e.ctx, ad))
}

// status returns the site's status of rid for ad.
func (e *env) status(ad *advertisement.Advertisement, rid uint32) advertisement.ClientStatus {
	return must(e.site.ClientStatus(ad.ID, rid))
}

// rig is one agent over its own State and Cache, started and stopped by
// the test.
type rig struct {
	t     *testing.T
	a     *agent.Agent
	st    *agent.State
	cache *agent.Cache
	exec  *agent.SimExecutor

	mu     sync.Mutex
	events []agent.Event

	cancel context.CancelFunc
	done   chan error
}

// newRig makes an agent for d with its state in dir (a new temporary
// directory when empty).
func (e *env) newRig(d *collection.Device, dir string, mod func(*agent.Config)) *rig {
	e.t.Helper()
	if dir == "" {
		dir = e.t.TempDir()
	}
	st := must(agent.OpenState(filepath.Join(dir, "agent.db"), &agent.StateOptions{NoSync: true}))
	cache := must(agent.OpenCache(st, filepath.Join(dir, "cache"), &agent.CacheOptions{Clock: e.clock.Now}))
	// Programs take no real time: a simulated run of any length ends at once.
	exec := agent.NewSimExecutor(&agent.SimOptions{Now: e.clock.Now,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	r := &rig{t: e.t, st: st, cache: cache, exec: exec}
	cfg := agent.Config{
		MP: e.mp, Device: d, State: st, Cache: cache, Executor: r.exec, Clock: e.clock.Now,
		Rand:    rand.New(rand.NewPCG(1, 2)),
		Backoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnEvent: r.record,
	}
	if mod != nil {
		mod(&cfg)
	}
	r.a = must(agent.New(cfg))
	e.t.Cleanup(func() {
		r.stop()
		r.cache.Close()
		r.st.Close()
	})
	return r
}

func (r *rig) record(ev agent.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// count returns how many events of kind the agent emitted.
func (r *rig) count(kind agent.EventKind) int {
	return len(r.find(kind))
}

// statuses returns how many status messages of event ev the agent queued.
func (r *rig) statuses(ev advertisement.Event) int {
	n := 0
	for _, e := range r.find(agent.EventStatus) {
		if e.Status == ev {
			n++
		}
	}
	return n
}

func (r *rig) find(kind agent.EventKind) []agent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.Event
	for _, ev := range r.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.a.Run(ctx) }()
}

// stop cancels Run and waits for it.
func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after its context ended")
	}
	r.cancel = nil
}

// settle triggers a cycle and waits until the agent has evaluated its
// offers after it, so that a test can check that something did not happen.
func (r *rig) settle() {
	r.t.Helper()
	n := r.count(agent.EventEvaluated)
	r.a.Trigger()
	waitFor(r.t, "an evaluation", func() bool { return r.count(agent.EventEvaluated) > n })
}

// tester is what waitFor needs of a *testing.T or a *rapid.T.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t tester, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// app is the common scene: PC01 registered at the site and a member of the
// "All PCs" collection, and a package "App" on DP01 whose program Install
// is advertised to the collection, mandatory as soon as possible.
type app struct {
	*env
	d    *collection.Device
	rid  uint32
	coll consign.ObjectID
	p    *pkg.Package
	ad   *advertisement.Advertisement
}

// newApp sets the scene; programs replace the default Install program
// (one of them must be called Install), mod adjusts the advertisement.
func newApp(t *testing.T, mod func(*advertisement.Advertisement), programs ...*pkg.Program) *app {
	t.Helper()
	if len(programs) == 0 {
		programs = []*pkg.Program{program("Install", "setup.exe /s")}
	}
	s := &app{env: newEnv(t), d: device("PC01")}
	s.rid = s.register(s.d)
	s.coll = s.collection()
	s.p = s.newPackage("App", map[string]string{"setup.exe": "MZ setup"}, programs...)
	s.ad = s.advertise("App", s.p, "Install", s.coll, mod)
	return s
}

// state is the site's status of PC01 for the advertisement.
func (s *app) state() advertisement.ClientStatus { return s.status(s.ad, s.rid) }
