package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/boltstore"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// failer is what the checkpoint helpers report to: a *testing.T or a
// *rapid.T.
type failer interface {
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// logRecorder keeps every record a Site logs, with its attributes as
// strings, so a test can check where Open loaded from and why a
// checkpoint was not used.
type logRecorder struct {
	mu   sync.Mutex
	recs []logEntry
}

// logEntry is one record a logRecorder kept.
type logEntry struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recordingHandler is the slog.Handler behind a logRecorder (with the
// attributes of Logger.With calls).
type recordingHandler struct {
	rec   *logRecorder
	attrs []slog.Attr
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	e := logEntry{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		e.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value.String()
		return true
	})
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.rec.recs = append(h.rec.recs, e)
	return nil
}

func (h recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordingHandler{rec: h.rec, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h recordingHandler) WithGroup(string) slog.Handler { return h }

func (l *logRecorder) logger() *slog.Logger { return slog.New(recordingHandler{rec: l}) }

// openedFrom returns the "from" attribute of the Site's "site opened"
// record ("" when there is none).
func (l *logRecorder) openedFrom() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.recs {
		if e.msg == "site opened" {
			return e.attrs["from"]
		}
	}
	return ""
}

// notUsed returns the err attribute of every Warn record saying the
// checkpoint was not used.
func (l *logRecorder) notUsed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.recs {
		if e.level == slog.LevelWarn && e.msg == "checkpoint not used; loading the whole store" {
			out = append(out, e.attrs["err"])
		}
	}
	return out
}

// errorsLogged returns the messages of every Error record (records the
// Site could not apply).
func (l *logRecorder) errorsLogged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.recs {
		if e.level >= slog.LevelError {
			out = append(out, fmt.Sprint(e.msg, " ", e.attrs))
		}
	}
	return out
}

// cpEnv is a store, a clock, three filesystem DP libraries and a package
// source, shared by every Site a checkpoint test opens; path is the
// checkpoint file.
type cpEnv struct {
	ctx   context.Context
	store delivery.Store
	clock *fakeClock
	path  string
	libs  map[string]distpoint.Library
	src   fstest.MapFS
}

// newCPEnv returns an env over store, at t0, with empty DP libraries.
func newCPEnv(t *testing.T, store delivery.Store) *cpEnv {
	t.Helper()
	c := &cpEnv{ctx: context.Background(), store: store, clock: &fakeClock{now: t0},
		path: filepath.Join(t.TempDir(), "site.checkpoint"), libs: map[string]distpoint.Library{},
		src: fstest.MapFS{"setup.exe": &fstest.MapFile{Data: []byte("MZ checkpoint setup")}}}
	for _, nal := range []string{"DP01", "DP02", "PDP"} {
		lib, err := fslibrary.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c.libs[nal] = lib
	}
	return c
}

// newMemCPEnv is newCPEnv over a memstore.
func newMemCPEnv(t *testing.T) *cpEnv { return newCPEnv(t, memstore.New()) }

// newBoltCPEnv is newCPEnv over a boltstore in a temporary file, closed
// when the test ends.
func newBoltCPEnv(t *testing.T) *cpEnv {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "site.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newCPEnv(t, s)
}

// bothStores runs f over a memstore and over a boltstore.
func bothStores(t *testing.T, f func(t *testing.T, c *cpEnv)) {
	t.Run("memstore", func(t *testing.T) { f(t, newMemCPEnv(t)) })
	t.Run("boltstore", func(t *testing.T) { f(t, newBoltCPEnv(t)) })
}

// options are the Options of every Site of the env: its clock, its DPs
// and package source, logs to logs, and the checkpoint path given.
func (c *cpEnv) options(checkpoint string, logs *logRecorder) *delivery.Options {
	return &delivery.Options{SiteCode: "CEN", Clock: c.clock.Now, Logger: logs.logger(), Checkpoint: checkpoint,
		Libraries: func(nal string) (distpoint.Library, error) {
			if l, ok := c.libs[nal]; ok {
				return l, nil
			}
			return nil, fmt.Errorf("no DP %s", nal)
		},
		Sources: func(*pkg.Package) (fs.FS, error) { return cloneFS(c.src), nil },
	}
}

// open opens a Site over the env's store with Options.Checkpoint set to
// checkpoint ("" for none: a full load, and a Close that writes nothing).
func (c *cpEnv) open(tb failer, checkpoint string) (*delivery.Site, *logRecorder) {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	logs := &logRecorder{}
	s, err := delivery.Open(c.ctx, c.store, nil, c.options(checkpoint, logs))
	if err != nil {
		tb.Fatalf("Open (checkpoint %q): %v", checkpoint, err)
	}
	return s, logs
}

// openFull opens a Site that loads the whole store, and checks it says so.
func (c *cpEnv) openFull(tb failer) *delivery.Site {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	s, logs := c.open(tb, "")
	if from := logs.openedFrom(); from != "store" {
		tb.Fatalf("a Site without a checkpoint opened from %q, want store", from)
	}
	return s
}

// openFromCheckpoint opens a Site with the checkpoint at path and checks
// that it was used (no warning, from=checkpoint).
func (c *cpEnv) openFromCheckpoint(tb failer, path string) *delivery.Site {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	s, logs := c.open(tb, path)
	if w := logs.notUsed(); len(w) > 0 {
		tb.Fatalf("the checkpoint was not used: %q", w)
	}
	if from := logs.openedFrom(); from != "checkpoint" {
		tb.Fatalf("opened from %q, want checkpoint", from)
	}
	if errs := logs.errorsLogged(); len(errs) > 0 {
		tb.Errorf("opening from the checkpoint logged errors: %q", errs)
	}
	return s
}

// cpOSes, cpOUs and cpZones are what cpDevice picks from.
var cpOSes = []string{
	"Microsoft Windows NT Workstation 6.1",
	"Microsoft Windows NT Workstation 5.1",
	"Microsoft Windows NT Server 6.0",
	"Microsoft Windows NT Advanced Server 5.2",
	"Microsoft Windows NT Workstation 10.0",
}

var (
	cpOUs   = []string{"CONTOSO.COM/SALES", "CONTOSO.COM/IT", "CONTOSO.COM/HR", "CONTOSO.COM/LAB"}
	cpZones = []string{"", "Asia/Tokyo", "America/New_York", "Europe/Paris", "UTC", "Australia/Adelaide"}
)

// cpDevice is device id in one of its variants: everything the Site keeps
// of a device beside the engine (OS name and inventory version and system
// type, time zone, addresses and subnets, AD site, SMSUniqueIdentifier)
// varies with id+variant.
func cpDevice(id uint32, variant int) *collection.Device {
	k := int(id) + variant
	name := fmt.Sprintf("PC%04d", id)
	d := &collection.Device{
		ResourceID: id, Name: name, NetbiosName: name, OperatingSystemNameandVersion: cpOSes[k%len(cpOSes)],
		Client: k%7 != 0, Active: true, ResourceDomainORWorkgroup: "CONTOSO",
		SystemOUName: []string{"CONTOSO.COM", cpOUs[k%len(cpOUs)]},
		TimeZone:     cpZones[k%len(cpZones)],
		ADSiteName:   []string{"", "Paris", "London"}[k%3],
	}
	b, c := byte(id>>8), byte(id)
	switch k % 6 {
	case 0:
		d.IPAddresses = []string{fmt.Sprintf("10.1.%d.%d", b, c)}
		d.IPSubnets = []string{fmt.Sprintf("10.1.%d.0/24", b)}
	case 1:
		d.IPAddresses = []string{fmt.Sprintf("10.2.%d.%d", b, c)}
		d.IPSubnets = []string{"10.2.0.0"} // a bare subnet ID, without a mask
	case 2:
		d.IPAddresses = []string{fmt.Sprintf("10.3.0.%d", c)}
		d.IPSubnets = []string{"10.3.0.0/24"}
	case 3:
		d.IPAddresses = []string{fmt.Sprintf("fd00::%x", id), fmt.Sprintf("10.9.%d.%d", b, c)}
		d.IPSubnets = []string{"fd00::/64", "10.9.0.0/16"}
	case 4:
		d.IPAddresses = []string{"fe80::1%eth0", fmt.Sprintf("10.1.%d.%d", b, c)}
	}
	if k%2 == 0 {
		d.SMSUniqueIdentifier = fmt.Sprintf("GUID:%08X", id)
	}
	d.Inventory = map[string][]collection.Instance{}
	switch (k / 2) % 4 {
	case 0:
		d.Inventory["SMS_G_System_OPERATING_SYSTEM"] = []collection.Instance{{"Version": "6.1.7601"}}
		d.Inventory["SMS_G_System_COMPUTER_SYSTEM"] = []collection.Instance{{"SystemType": "x64-based PC"}}
	case 1:
		d.Inventory["SMS_G_System_COMPUTER_SYSTEM"] = []collection.Instance{{"SystemType": "X86-based PC"}}
	case 2:
		d.Inventory["SMS_G_System_OPERATING_SYSTEM"] = []collection.Instance{{"Version": "5.2.3790"}}
		d.Inventory["SMS_G_System_COMPUTER_SYSTEM"] = []collection.Instance{{"SystemType": "Itanium (TM) based System"}}
	}
	return d
}

// cpFixture is what buildSite made.
type cpFixture struct {
	n    uint32
	cols map[string]consign.ObjectID
	pkg  consign.ObjectID
	ads  []consign.ObjectID
}

// probe is what a view looks at: these devices (some may not exist) and,
// for each of them, content location of the fixture's package.
func (f *cpFixture) probe(extra uint32) viewProbe {
	p := viewProbe{locate: []locateQuery{{f.pkg, 1, f.ads[0]}, {f.pkg, 1, ""}}}
	for rid := uint32(1); rid <= f.n+extra; rid++ {
		p.rids = append(p.rids, rid)
	}
	return p
}

// cpQuery is one query rule over SMS_R_System with the where clause given.
func cpQuery(where string) []collection.QueryRule {
	return []collection.QueryRule{{RuleName: "q", Query: "select * from SMS_R_System where " + where}}
}

// nightly is an enabled two-hour maintenance window every night.
func nightly() []collection.ServiceWindow {
	return []collection.ServiceWindow{{ID: "nightly", Name: "Nightly", Enabled: true, Type: collection.WindowGeneral,
		Schedule: schedule.Token{Type: schedule.Interval, Start: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), IsGMT: true, HourDuration: 2, DaySpan: 1}}}
}

// buildSite fills a Site: n devices (cpDevice), boundaries and three DPs
// (one protected) holding a package, query collections (one limited to
// another, one with a maintenance window, one a subcollection), a
// direct-rule collection linked under another, a program with platform
// requirements advertised to a collection (local time) and to All Systems
// (GMT), and status from a third of the devices.
func buildSite(tb failer, c *cpEnv, s *delivery.Site, n uint32) *cpFixture {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	ctx := c.ctx
	check := func(what string, err error) {
		if err != nil {
			tb.Fatalf("%s: %v", what, err)
		}
	}
	var ds []*collection.Device
	for id := uint32(1); id <= n; id++ {
		ds = append(ds, cpDevice(id, 0))
	}
	check("PutDevices", s.PutDevices(ctx, ds...))
	for _, b := range []distpoint.Boundary{
		{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast},
		{Name: "Branch", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.2.0.0/16"), Speed: distpoint.Slow},
		{Name: "Lab", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.3.0.0/24"), Speed: distpoint.Fast},
		{Name: "Paris", Type: distpoint.ADSite, Site: "Paris", Speed: distpoint.Slow},
		{Name: "V6", Type: distpoint.IPv6Prefix, Prefix: netip.MustParsePrefix("fd00::/64"), Speed: distpoint.Fast},
	} {
		check("AddBoundary", s.AddBoundary(ctx, &b))
	}
	for _, dp := range []distpoint.DistributionPoint{
		{NALPath: "DP01", Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true, Address: netip.MustParseAddr("10.1.0.5")},
		{NALPath: "DP02", Name: "DP02", SiteCode: "CEN", Kind: distpoint.Standard, Address: netip.MustParseAddr("10.2.0.5"), ADSite: "London"},
		{NALPath: "PDP", Name: "PDP", SiteCode: "CEN", Kind: distpoint.Standard, Protected: true, Boundaries: []string{"Lab"}},
	} {
		check("AddDistributionPoint", s.AddDistributionPoint(ctx, &dp))
	}
	col := func(key string, cc *collection.Collection, parent consign.ObjectID) consign.ObjectID {
		nc, err := s.CreateCollection(ctx, cc, parent)
		check("CreateCollection "+key, err)
		return nc.ID
	}
	f := &cpFixture{n: n, cols: map[string]consign.ObjectID{}}
	f.cols["win7"] = col("win7", &collection.Collection{Name: "Windows 7", QueryRules: cpQuery(`OperatingSystemNameandVersion like "%Workstation 6.1%"`)}, "")
	f.cols["servers"] = col("servers", &collection.Collection{Name: "Servers", QueryRules: cpQuery(`OperatingSystemNameandVersion like "%Server%"`)}, "")
	sales := cpQuery(`SystemOUName = "CONTOSO.COM/SALES"`)
	sales[0].LimitToCollectionID = f.cols["win7"]
	f.cols["sales"] = col("sales", &collection.Collection{Name: "Windows 7 in Sales", QueryRules: sales}, "")
	var direct []collection.DirectRule
	for _, id := range slices.Compact(slices.Sorted(slices.Values([]uint32{5, 17, n - 1}))) {
		direct = append(direct, collection.DirectRule{RuleName: fmt.Sprint("d", id), ResourceID: id})
	}
	f.cols["direct"] = col("direct", &collection.Collection{Name: "Picked", DirectRules: direct}, "")
	f.cols["paris"] = col("paris", &collection.Collection{Name: "Paris", QueryRules: cpQuery(`ADSiteName = "Paris"`), ServiceWindows: nightly()}, "")
	f.cols["lab"] = col("lab", &collection.Collection{Name: "Lab", QueryRules: cpQuery(`SystemOUName = "CONTOSO.COM/LAB"`)}, f.cols["win7"])
	check("LinkCollection", s.LinkCollection(ctx, f.cols["servers"], f.cols["direct"]))

	p := pkg.NewPackage("", "Checkpoint App")
	p.SourceFlag, p.SourcePath = pkg.StorageDirect, `\\FS01\Source\CheckpointApp`
	data := c.src["setup.exe"].Data
	p.Manifest = pkg.Manifest{Files: []pkg.File{{Path: "setup.exe", Size: int64(len(data)), SHA256: sha256.Sum256(data)}}}
	np, err := s.CreatePackage(ctx, p)
	check("CreatePackage", err)
	f.pkg = np.ID
	prog := withPkg(newProgram("Install"), f.pkg)
	prog.AnyPlatform = false
	prog.Platforms = []pkg.OSRequirement{
		{Name: "Win NT", Platform: "x64", MinVersion: pkg.FileVersion{Major: 6, Minor: 1}, MaxVersion: pkg.FileVersion{Major: 6, Minor: 1, Build: 9999, Revision: 9999}},
		{Name: "Win NT", Platform: "I386", MinVersion: pkg.FileVersion{Major: 5, Minor: 1}, MaxVersion: pkg.FileVersion{Major: 6, Minor: 1, Build: 9999, Revision: 9999}},
	}
	check("CreateProgram", s.CreateProgram(ctx, prog))
	check("AddPackageToDistributionPoints", s.AddPackageToDistributionPoints(ctx, f.pkg, "DP01", "DP02", "PDP"))
	rep, err := s.DistributeContent(ctx)
	check("DistributeContent", err)
	check("DistributeContent", rep.Err())

	// Read in each device's zone: devices east of UTC are past the start
	// time, those west of it are not yet.
	local := advertisement.New("", "Install locally", f.pkg, "Install", f.cols["win7"], time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC))
	local.ASAP, local.Slow = true, advertisement.SlowDownload
	all := advertisement.New("", "Offer to all", f.pkg, "Install", collection.AllSystemsID, t0.Add(-time.Hour))
	all.PresentTimeIsGMT = true
	for _, ad := range []*advertisement.Advertisement{local, all} {
		a, err := s.CreateAdvertisement(ctx, ad)
		check("CreateAdvertisement", err)
		f.ads = append(f.ads, a.ID)
	}
	var reports []delivery.DeviceReport
	for id := uint32(1); id <= n; id += 3 {
		ev := []advertisement.Event{advertisement.EventSucceeded, advertisement.EventFailed, advertisement.EventStarted, advertisement.EventReceived}[id%4]
		reports = append(reports, delivery.DeviceReport{ResourceID: id, Messages: []advertisement.Message{
			{ID: fmt.Sprint("b", id), AdvertisementID: f.ads[id%2], Event: ev, Time: t0.Add(-time.Duration(id) * time.Second)}}})
	}
	_, err = s.ReportMany(ctx, reports)
	check("ReportMany", err)
	return f
}

// viewProbe says which devices a view looks at, and which content location
// requests it makes for each.
type viewProbe struct {
	rids   []uint32
	locate []locateQuery
}

// locateQuery is one Site.Locate request of a view.
type locateQuery struct {
	pkg     consign.ObjectID
	version uint32
	ad      consign.ObjectID
}

// deviceView is what a Site shows of one device.
type deviceView struct {
	Device      *collection.Device
	Collections []consign.ObjectID
	Offers      []delivery.Offer
	Windows     []collection.ServiceWindow
	PolicyErr   bool
	Locate      []distpoint.LocateResult
	LocateErrs  []string
	Statuses    map[consign.ObjectID]advertisement.ClientStatus
}

// siteView is the observable state of a Site, part by part, each part as
// JSON (times compare by instant and offset, not by *time.Location).
func siteView(tb failer, ctx context.Context, s *delivery.Site, p viewProbe) map[string]string {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	v := map[string]string{}
	put := func(key string, x any) {
		b, err := json.Marshal(x)
		if err != nil {
			tb.Fatalf("view %s: %v", key, err)
		}
		v[key] = string(b)
	}
	put("revision", s.Revision())
	cols := s.Collections()
	put("collections", cols)
	put("root", s.Subcollections(collection.RootID))
	for _, c := range cols {
		m, err := s.Members(c.ID)
		if err != nil {
			tb.Fatalf("Members(%s): %v", c.ID, err)
		}
		put("collection "+string(c.ID), map[string]any{"members": m, "subcollections": s.Subcollections(c.ID)})
	}
	put("packages", s.Packages())
	put("boundaries", s.Boundaries())
	put("dps", s.DistributionPoints())
	put("availability", s.DistributionPointAvailability())
	ads := s.Advertisements()
	put("advertisements", ads)
	for _, a := range ads {
		sum, err := s.AdvertisementSummary(a.ID)
		if err != nil {
			tb.Fatalf("AdvertisementSummary(%s): %v", a.ID, err)
		}
		put("summary "+string(a.ID), sum)
	}
	for _, pk := range s.Packages() {
		rows, err := s.PackageStatus(pk.ID)
		if err != nil {
			tb.Fatalf("PackageStatus(%s): %v", pk.ID, err)
		}
		put("package status "+string(pk.ID), rows)
	}
	for _, rid := range p.rids {
		var dv deviceView
		if d, err := s.Device(rid); err == nil {
			dv.Device = d
		}
		dv.Collections = s.CollectionsOf(rid)
		if pol, err := s.Policy(ctx, rid, nil); err == nil {
			dv.Offers, dv.Windows = pol.Offers, pol.Windows
		} else {
			dv.PolicyErr = true
		}
		if dv.Device != nil {
			for _, q := range p.locate {
				r, err := s.Locate(ctx, rid, q.pkg, q.version, q.ad)
				if err != nil {
					dv.LocateErrs = append(dv.LocateErrs, err.Error())
					continue
				}
				dv.Locate = append(dv.Locate, r)
			}
		}
		for _, a := range ads {
			cs, err := s.ClientStatus(a.ID, rid)
			if err != nil {
				tb.Fatalf("ClientStatus(%s, %d): %v", a.ID, rid, err)
			}
			if cs != (advertisement.ClientStatus{}) {
				if dv.Statuses == nil {
					dv.Statuses = map[consign.ObjectID]advertisement.ClientStatus{}
				}
				dv.Statuses[a.ID] = cs
			}
		}
		put(fmt.Sprintf("device %d", rid), dv)
	}
	return v
}

// sameView fails tb with every part of got that differs from want (at
// most a dozen shown).
func sameView(tb failer, what string, got, want map[string]string) {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var diffs []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		if got[k] != want[k] {
			g, w := around(got[k], want[k])
			diffs = append(diffs, fmt.Sprintf("%s:\n   got  %s\n   want %s", k, g, w))
		}
	}
	if len(diffs) == 0 {
		return
	}
	shown := diffs[:min(len(diffs), 12)]
	tb.Fatalf("%s: %d of %d parts differ from a full load:\n%s", what, len(diffs), len(keys), strings.Join(shown, "\n"))
}

// around shortens two long differing strings to where they first differ.
func around(a, b string) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	cut := func(s string) string {
		if s == "" {
			return "(absent)"
		}
		from, to := max(0, i-400), min(len(s), i+400)
		out := s[from:to]
		if from > 0 {
			out = "…" + out
		}
		if to < len(s) {
			out += "…"
		}
		return out
	}
	return cut(a), cut(b)
}

// sameRegistrations checks that RegisterDevice finds each
// SMSUniqueIdentifier's device on got as it does on want (a full load).
// It writes to the store (each registration re-puts a device), so it comes
// last. want registers first: got then plans from its own memory, and only
// a got that answers like want meets want's write.
func sameRegistrations(tb failer, ctx context.Context, want, got *delivery.Site, uids []string) {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	for _, uid := range uids {
		d := &collection.Device{Name: "REGISTERED", SMSUniqueIdentifier: uid, Client: true}
		w, err := want.RegisterDevice(ctx, d)
		if err != nil {
			tb.Fatalf("RegisterDevice(%s) on a full load: %v", uid, err)
		}
		g, err := got.RegisterDevice(ctx, d)
		if err != nil {
			tb.Fatalf("RegisterDevice(%s) on the Site opened from the checkpoint: %v", uid, err)
		}
		if g != w {
			tb.Errorf("RegisterDevice(%s): device %d on the Site opened from the checkpoint, %d on a full load", uid, g, w)
		}
	}
}

// uidsOf lists the SMSUniqueIdentifiers of the devices ids on s.
func uidsOf(s *delivery.Site, ids []uint32) []string {
	var out []string
	for _, id := range ids {
		if d, err := s.Device(id); err == nil && d.SMSUniqueIdentifier != "" && !slices.Contains(out, d.SMSUniqueIdentifier) {
			out = append(out, d.SMSUniqueIdentifier)
		}
	}
	return out
}

// checkpointHeader parses the checkpoint file's header: the revision, the
// record key, where the devices section starts and ends, and where the
// engine's bytes start.
func checkpointHeader(t *testing.T, b []byte) (rev uint64, key string, devStart, devEnd, engine int) {
	t.Helper()
	const magic = "consign checkpoint\x00"
	if !bytes.HasPrefix(b, []byte(magic)) || len(b) < len(magic)+1 {
		t.Fatalf("not a checkpoint file (%d bytes)", len(b))
	}
	pos := len(magic) + 1
	rev, n := binary.Uvarint(b[pos:])
	pos += n
	key = hex.EncodeToString(b[pos : pos+16])
	pos += 16
	l, n := binary.Uvarint(b[pos:])
	pos += n
	devStart, devEnd = pos, pos+int(l)
	return rev, key, devStart, devEnd, devEnd + 4
}

// checkpointKeys lists the keys of the store's checkpoint records.
func checkpointKeys(t *testing.T, c *cpEnv) []string {
	t.Helper()
	recs, _, err := c.store.List(c.ctx, "checkpoint", delivery.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	return keys
}

// A Site reopened from the checkpoint Close wrote shows exactly what a
// Site loading the whole store shows, on both stores.
func TestCheckpointReopenEqualsFullLoad(t *testing.T) {
	bothStores(t, func(t *testing.T, c *cpEnv) {
		s, logs := c.open(t, c.path)
		if from := logs.openedFrom(); from != "store" {
			t.Fatalf("first open, no checkpoint file yet: from %q, want store", from)
		}
		if w := logs.notUsed(); len(w) != 0 {
			t.Errorf("a missing checkpoint file was warned about: %q", w)
		}
		f := buildSite(t, c, s, 300)
		p := f.probe(3)
		before := siteView(t, c.ctx, s, p)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := os.Stat(c.path); err != nil {
			t.Fatalf("Close wrote no checkpoint: %v", err)
		}
		restored := c.openFromCheckpoint(t, c.path)
		full := c.openFull(t)
		want := siteView(t, c.ctx, full, p)
		delete(before, "revision") // Close wrote the checkpoint's record since
		delete(want, "revision")
		sameView(t, "the Site that wrote the checkpoint", before, want)
		want = siteView(t, c.ctx, full, p)
		sameView(t, "a Site opened from the checkpoint", siteView(t, c.ctx, restored, p), want)
		sameRegistrations(t, c.ctx, full, restored, uidsOf(full, p.rids))
	})
}

// The facts the Site keeps of each device (OS, zone, addresses, subnets, AD
// site, SMSUniqueIdentifier) round-trip through the checkpoint: a device
// of each variant, with checks of what depends on them.
func TestCheckpointDeviceFactsRoundTrip(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	f := buildSite(t, c, s, 36)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restored := c.openFromCheckpoint(t, c.path)
	full := c.openFull(t)
	p := f.probe(0)
	want := siteView(t, c.ctx, full, p)
	sameView(t, "a Site opened from the checkpoint", siteView(t, c.ctx, restored, p), want)
	// The view must tell the variants apart, or it proves nothing.
	locs, offers := map[string]bool{}, map[string]bool{}
	for _, rid := range p.rids {
		var dv deviceView
		if err := json.Unmarshal([]byte(want[fmt.Sprintf("device %d", rid)]), &dv); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(dv.Locate)
		locs[string(b)] = true
		b, _ = json.Marshal(dv.Offers)
		offers[string(b)] = true
	}
	if len(locs) < 4 || len(offers) < 4 {
		t.Errorf("the devices' content locations (%d kinds) and offers (%d kinds) hardly vary: the view does not exercise their facts", len(locs), len(offers))
	}
}

// laterChanges changes the site in every way a checkpoint must be followed
// through: devices moved between collections by new inventory, new
// devices (one deleted again), deleted devices, collections created,
// updated (one the checkpoint holds) and deleted (one it holds), a new
// advertisement and status, from devices old and new.
func laterChanges(tb failer, ctx context.Context, s *delivery.Site, f *cpFixture) {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
	check := func(what string, err error) {
		if err != nil {
			tb.Fatalf("%s: %v", what, err)
		}
	}
	var ds []*collection.Device
	for id := uint32(1); id <= f.n/3; id++ {
		ds = append(ds, cpDevice(id, 1))
	}
	for id := f.n + 1; id <= f.n+6; id++ {
		ds = append(ds, cpDevice(id, 0))
	}
	check("PutDevices", s.PutDevices(ctx, ds...))
	for _, id := range []uint32{7, 8, f.n, f.n + 6} {
		check(fmt.Sprint("DeleteDevice ", id), s.DeleteDevice(ctx, id))
	}
	it, err := s.CreateCollection(ctx, &collection.Collection{Name: "IT", QueryRules: cpQuery(`SystemOUName = "CONTOSO.COM/IT"`)}, f.cols["servers"])
	check("CreateCollection", err)
	f.cols["it"] = it.ID
	win7, err := s.Collection(f.cols["win7"])
	check("Collection", err)
	win7.QueryRules = cpQuery(`OperatingSystemNameandVersion like "%Workstation 6.1%" or OperatingSystemNameandVersion like "%10.0%"`)
	check("UpdateCollection", s.UpdateCollection(ctx, win7))
	lab, err := s.Collection(f.cols["lab"])
	check("Collection", err)
	lab.ServiceWindows = nightly()
	check("UpdateCollection", s.UpdateCollection(ctx, lab))
	check("DeleteCollection", s.DeleteCollection(ctx, f.cols["direct"]))
	delete(f.cols, "direct")
	ad := advertisement.New("", "IT install", f.pkg, "Install", it.ID, t0.Add(-time.Hour))
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	a, err := s.CreateAdvertisement(ctx, ad)
	check("CreateAdvertisement", err)
	f.ads = append(f.ads, a.ID)
	var reports []delivery.DeviceReport
	for _, id := range []uint32{2, 4, 10, 11, f.n - 2, f.n + 1, f.n + 2, f.n + 3} {
		for i, ad := range f.ads {
			reports = append(reports, delivery.DeviceReport{ResourceID: id, Messages: []advertisement.Message{
				{ID: fmt.Sprint("later", id, "/", i), AdvertisementID: ad, Event: advertisement.EventSucceeded, Time: t0}}})
		}
	}
	_, err = s.ReportMany(ctx, reports)
	check("ReportMany", err)
}

// A checkpoint written by Site.Checkpoint and then left behind by later
// writes — of the Site that wrote it and of another Site — still opens a
// Site equal to a full load: the store's records and the change feed after
// the checkpoint's revision are followed.
func TestCheckpointFollowsLaterChanges(t *testing.T) {
	bothStores(t, func(t *testing.T, c *cpEnv) {
		s, _ := c.open(t, c.path)
		f := buildSite(t, c, s, 120)
		if err := s.Checkpoint(c.ctx); err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		laterChanges(t, c.ctx, s, f)
		// Another Site (without a checkpoint of its own) writes too.
		other := c.openFull(t)
		var ds []*collection.Device
		for id := uint32(50); id <= 60; id++ {
			ds = append(ds, cpDevice(id, 3))
		}
		ds = append(ds, cpDevice(f.n+7, 2))
		if err := other.PutDevices(c.ctx, ds...); err != nil {
			t.Fatal(err)
		}
		if err := other.DeleteDevice(c.ctx, 61); err != nil {
			t.Fatal(err)
		}
		if _, err := other.ReportMany(c.ctx, []delivery.DeviceReport{
			{ResourceID: f.n + 7, Messages: []advertisement.Message{{ID: "o1", AdvertisementID: f.ads[1], Event: advertisement.EventFailed, Time: t0}}},
			{ResourceID: 52, Messages: []advertisement.Message{{ID: "o2", AdvertisementID: f.ads[0], Event: advertisement.EventStarted, Time: t0}}},
		}); err != nil {
			t.Fatal(err)
		}
		p := f.probe(10)
		restored := c.openFromCheckpoint(t, c.path)
		full := c.openFull(t)
		want := siteView(t, c.ctx, full, p)
		sameView(t, "a Site opened from the older checkpoint", siteView(t, c.ctx, restored, p), want)
		sameRegistrations(t, c.ctx, full, restored, uidsOf(full, p.rids))
	})
}

// A device's status is kept exactly when a full load keeps it, whatever
// the device did after the checkpoint: status from a device put after it
// counts; status left behind by a device deleted after it (by a Site that
// had not seen the status, so the record stays) does not.
func TestCheckpointStatusFollowsDevices(t *testing.T) {
	// setup opens a Site with the checkpoint option, devices 1 and 2 and an
	// advertisement to All Systems, and returns them.
	setup := func(t *testing.T) (*cpEnv, *delivery.Site, consign.ObjectID) {
		c := newMemCPEnv(t)
		s, _ := c.open(t, c.path)
		if err := s.PutDevices(c.ctx, cpDevice(1, 0), cpDevice(2, 0)); err != nil {
			t.Fatal(err)
		}
		p := must(s.CreatePackage(c.ctx, newPackage()))
		if err := s.CreateProgram(c.ctx, withPkg(newProgram("Install"), p.ID)); err != nil {
			t.Fatal(err)
		}
		ad := advertisement.New("", "all", p.ID, "Install", collection.AllSystemsID, t0)
		ad.PresentTimeIsGMT = true
		return c, s, must(s.CreateAdvertisement(c.ctx, ad)).ID
	}
	succeeded := func(ad consign.ObjectID) []advertisement.Message {
		return []advertisement.Message{{ID: "m", AdvertisementID: ad, Event: advertisement.EventSucceeded, Time: t0}}
	}
	// compare checks device rid's status and the summary against a full load.
	compare := func(t *testing.T, c *cpEnv, ad consign.ObjectID, rid uint32) {
		t.Helper()
		restored := c.openFromCheckpoint(t, c.path)
		full := c.openFull(t)
		if got, want := must(restored.AdvertisementSummary(ad)), must(full.AdvertisementSummary(ad)); got != want {
			t.Errorf("summary from the checkpoint %+v (targeted %d), full load %+v (targeted %d)", got.Counts, got.Targeted, want.Counts, want.Targeted)
		}
		if got, want := must(restored.ClientStatus(ad, rid)), must(full.ClientStatus(ad, rid)); got != want {
			t.Errorf("device %d's status from the checkpoint %v/%v, full load %v/%v", rid, got.Acceptance, got.Delivery, want.Acceptance, want.Delivery)
		}
	}
	t.Run("a device put after the checkpoint reports", func(t *testing.T) {
		c, s, ad := setup(t)
		if err := s.Checkpoint(c.ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.PutDevices(c.ctx, cpDevice(3, 0)); err != nil {
			t.Fatal(err)
		}
		must(s.Report(c.ctx, 3, succeeded(ad)))
		compare(t, c, ad, 3)
	})
	t.Run("a device deleted after the checkpoint leaves status behind", func(t *testing.T) {
		c, s, ad := setup(t)
		other := c.openFull(t) // has not seen the status below
		if err := s.Checkpoint(c.ctx); err != nil {
			t.Fatal(err)
		}
		must(s.Report(c.ctx, 1, succeeded(ad)))
		if err := other.DeleteDevice(c.ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.store.Get(c.ctx, "adstatus", string(ad)+"/0000000001"); err != nil {
			t.Fatalf("the setup needs device 1's status left in the store: %v", err)
		}
		compare(t, c, ad, 1)
	})
}

// A checkpoint of an empty store (revision 0: a Site opened and closed
// before anything was written) is followed like any other.
func TestCheckpointOfEmptyStore(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rev, _, _, _, _ := checkpointHeader(t, must(os.ReadFile(c.path))); rev != 0 {
		t.Fatalf("the checkpoint of an empty store has revision %d", rev)
	}
	c.openFromCheckpoint(t, c.path)
	f := buildSite(t, c, c.openFull(t), 30)
	p := f.probe(0)
	restored := c.openFromCheckpoint(t, c.path)
	want := siteView(t, c.ctx, c.openFull(t), p)
	sameView(t, "a Site opened from the checkpoint of the empty store", siteView(t, c.ctx, restored, p), want)
}

// A checkpoint that cannot be used — another store's, damaged, truncated,
// no longer vouched for — is logged and ignored, and the Site loads the
// whole store; a missing one is simply not there.
func TestCheckpointNotUsed(t *testing.T) {
	type setup struct {
		c    *cpEnv
		file []byte // the checkpoint as Close wrote it
		t    *testing.T
	}
	tests := []struct {
		name string
		// prepare returns the checkpoint path to open with, and may swap
		// the store.
		prepare func(s *setup) string
		warn    string // "" for no warning
	}{
		{"another store", func(s *setup) string {
			s.c.store = memstore.New()
			other, _ := s.c.open(s.t, "")
			if err := other.PutDevices(s.c.ctx, cpDevice(1, 0), cpDevice(2, 1)); err != nil {
				s.t.Fatal(err)
			}
			return writeCopy(s.t, s.file)
		}, "the store has no record of it"},
		{"a byte flipped in the devices", func(s *setup) string {
			_, _, start, end, _ := checkpointHeader(s.t, s.file)
			return writeCopy(s.t, flip(s.file, (start+end)/2))
		}, "checksum"},
		{"a byte flipped in the revision", func(s *setup) string {
			return writeCopy(s.t, flip(s.file, len("consign checkpoint\x00")+1))
		}, "checksum"},
		{"a byte flipped in the magic", func(s *setup) string { return writeCopy(s.t, flip(s.file, 3)) }, "not a checkpoint file"},
		{"another format version", func(s *setup) string {
			return writeCopy(s.t, flip(s.file, len("consign checkpoint\x00")))
		}, "format version"},
		{"a byte flipped in the engine", func(s *setup) string { return writeCopy(s.t, flip(s.file, len(s.file)-10)) }, "engine snapshot"},
		{"a byte flipped at the engine's start", func(s *setup) string {
			_, _, _, _, engine := checkpointHeader(s.t, s.file)
			return writeCopy(s.t, flip(s.file, engine+2))
		}, "engine snapshot"},
		{"truncated in the engine", func(s *setup) string { return writeCopy(s.t, s.file[:len(s.file)-100]) }, "engine snapshot"},
		{"truncated after the header", func(s *setup) string {
			_, _, _, _, engine := checkpointHeader(s.t, s.file)
			return writeCopy(s.t, s.file[:engine])
		}, "engine snapshot"},
		{"truncated in the devices", func(s *setup) string {
			_, _, start, end, _ := checkpointHeader(s.t, s.file)
			return writeCopy(s.t, s.file[:(start+end)/2])
		}, "damaged"},
		{"empty", func(s *setup) string { return writeCopy(s.t, nil) }, "not a checkpoint file"},
		{"its record deleted", func(s *setup) string {
			for _, key := range checkpointKeys(s.t, s.c) {
				if _, err := s.c.store.Apply(s.c.ctx, []delivery.Write{{Op: delivery.Delete, Expect: delivery.AnyRevision,
					Record: delivery.Record{Kind: "checkpoint", Key: key}}}); err != nil {
					s.t.Fatal(err)
				}
			}
			return writeCopy(s.t, s.file)
		}, "the store has no record of it"},
		{"its record of another revision", func(s *setup) string {
			for _, key := range checkpointKeys(s.t, s.c) {
				if _, err := s.c.store.Apply(s.c.ctx, []delivery.Write{{Op: delivery.Put, Expect: delivery.AnyRevision,
					Record: delivery.Record{Kind: "checkpoint", Key: key, Data: []byte(`{"revision":3}`)}}}); err != nil {
					s.t.Fatal(err)
				}
			}
			return writeCopy(s.t, s.file)
		}, "the store's record of it says revision 3"},
		{"missing", func(s *setup) string { return filepath.Join(s.t.TempDir(), "none") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemCPEnv(t)
			s, _ := c.open(t, c.path)
			f := buildSite(t, c, s, 40)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			st := &setup{c: c, file: must(os.ReadFile(c.path)), t: t}
			path := tc.prepare(st)
			got, logs := c.open(t, path)
			warns := logs.notUsed()
			switch {
			case tc.warn == "" && len(warns) != 0:
				t.Errorf("warned %q, want no warning", warns)
			case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)):
				t.Errorf("warnings %q, want one saying %q", warns, tc.warn)
			}
			if from := logs.openedFrom(); from != "store" {
				t.Errorf("opened from %q, want store", from)
			}
			p := f.probe(0)
			sameView(t, "a Site that could not use its checkpoint", siteView(t, c.ctx, got, p), siteView(t, c.ctx, c.openFull(t), p))
		})
	}
}

// writeCopy writes b to a new file (never over one a Site may have
// mapped) and returns its path.
func writeCopy(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.checkpoint")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flip returns a copy of b with byte i inverted.
func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0xff
	return out
}

// Each checkpoint replaces the previous one's record: the store holds one,
// the file's, whoever wrote it (Checkpoint, Close, a Site opened from an
// earlier checkpoint).
func TestCheckpointReplacesItsRecord(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	f := buildSite(t, c, s, 20)
	vouched := func(when string) {
		t.Helper()
		_, key, _, _, _ := checkpointHeader(t, must(os.ReadFile(c.path)))
		if keys := checkpointKeys(t, c); !slices.Equal(keys, []string{key}) {
			t.Errorf("%s: the store's checkpoint records %v, want only the file's %s", when, keys, key)
		}
	}
	for i := range 2 {
		if err := s.Checkpoint(c.ctx); err != nil {
			t.Fatal(err)
		}
		vouched(fmt.Sprint("after Checkpoint ", i+1))
	}
	if err := s.PutDevices(c.ctx, cpDevice(3, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	vouched("after Checkpoint, Checkpoint, Close")
	restored := c.openFromCheckpoint(t, c.path)
	p := f.probe(0)
	sameView(t, "a Site opened from the last checkpoint", siteView(t, c.ctx, restored, p), siteView(t, c.ctx, c.openFull(t), p))
	if err := restored.Checkpoint(c.ctx); err != nil {
		t.Fatal(err)
	}
	vouched("after a Site opened from the checkpoint wrote its own")
	if err := restored.Close(); err != nil {
		t.Fatal(err)
	}
	vouched("after that Site's Close")
	c.openFromCheckpoint(t, c.path)
}

// Checkpoint needs Options.Checkpoint; Close may be called twice; nothing
// is written after Close.
func TestCheckpointErrors(t *testing.T) {
	c := newMemCPEnv(t)
	plain, _ := c.open(t, "")
	err := plain.Checkpoint(c.ctx)
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "Options.Checkpoint" {
		t.Errorf("Checkpoint without Options.Checkpoint: %v, want a ValidationError for Options.Checkpoint", err)
	}
	if err := plain.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	s, _ := c.open(t, c.path)
	if err := s.PutDevices(c.ctx, cpDevice(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	written := must(os.ReadFile(c.path))
	if err := s.Close(); err != nil {
		t.Errorf("Close after Close: %v, want nil", err)
	}
	if err := s.Checkpoint(c.ctx); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Checkpoint after Close: %v, want ErrUnavailable", err)
	}
	if after := must(os.ReadFile(c.path)); !bytes.Equal(after, written) {
		t.Errorf("the checkpoint file changed after Close")
	}
	if keys := checkpointKeys(t, c); len(keys) != 1 {
		t.Errorf("checkpoint records after Close, Close, Checkpoint: %v, want one", keys)
	}
	entries, err := os.ReadDir(filepath.Dir(c.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the checkpoint directory holds %v, want only the checkpoint (no temporary files left)", names)
	}
}

// Checkpoints written while other goroutines put devices and report status
// are consistent: the last one opens a Site equal to a full load.
func TestCheckpointConcurrentWithWrites(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	const n = 200
	f := buildSite(t, c, s, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			var ds []*collection.Device
			for range 5 {
				ds = append(ds, cpDevice(uint32(rng.IntN(n))+1, rng.IntN(6)))
			}
			slices.SortFunc(ds, func(a, b *collection.Device) int { return int(a.ResourceID) - int(b.ResourceID) })
			ds = slices.CompactFunc(ds, func(a, b *collection.Device) bool { return a.ResourceID == b.ResourceID })
			if err := s.PutDevices(c.ctx, ds...); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			var reports []delivery.DeviceReport
			for i := range 4 {
				ev := []advertisement.Event{advertisement.EventStarted, advertisement.EventSucceeded, advertisement.EventFailed}[rng.IntN(3)]
				reports = append(reports, delivery.DeviceReport{ResourceID: uint32(rng.IntN(n)) + 1, Messages: []advertisement.Message{
					{ID: fmt.Sprint("c", round, "/", i), AdvertisementID: f.ads[rng.IntN(2)], Event: ev, Time: t0.Add(time.Duration(round) * time.Second)}}})
			}
			if _, err := s.ReportMany(c.ctx, reports); err != nil {
				errs <- err
				return
			}
		}
	})
	revs := []int64{}
	for range 6 {
		if err := s.Checkpoint(c.ctx); err != nil {
			t.Errorf("Checkpoint: %v", err)
		}
		rev, _, _, _, _ := checkpointHeader(t, must(os.ReadFile(c.path)))
		revs = append(revs, int64(rev))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a writer failed: %v", err)
	}
	if !slices.IsSorted(revs) {
		t.Errorf("checkpoint revisions %v go backwards", revs)
	}
	p := f.probe(0)
	restored := c.openFromCheckpoint(t, c.path)
	want := siteView(t, c.ctx, c.openFull(t), p)
	sameView(t, "the writing Site", siteView(t, c.ctx, s, p), want)
	sameView(t, "a Site opened from the last checkpoint", siteView(t, c.ctx, restored, p), want)
}

// cpPropQueries are the where clauses the property test's collections use.
var cpPropQueries = []string{
	`OperatingSystemNameandVersion like "%Workstation 6.1%"`,
	`OperatingSystemNameandVersion like "%Server%"`,
	`SystemOUName = "CONTOSO.COM/SALES"`,
	`SystemOUName = "CONTOSO.COM/IT" or SystemOUName = "CONTOSO.COM/LAB"`,
	`Name like "PC000%"`,
	`Name like "PC%3"`,
}

// cpMachine drives a Site through random device and collection changes,
// checkpoints and reopenings from the checkpoint.
type cpMachine struct {
	c          *cpEnv
	s          *delivery.Site
	f          *cpFixture
	cols       []consign.ObjectID
	msg        int
	checkpoint bool // a checkpoint has been written
}

// cpPropDevices bounds the property test's ResourceIDs.
const cpPropDevices = 40

// live lists the devices the Site has.
func (m *cpMachine) live() []uint32 {
	var out []uint32
	for id := uint32(1); id <= cpPropDevices; id++ {
		if _, err := m.s.Device(id); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func (m *cpMachine) putDevices(t *rapid.T) {
	ids := rapid.SliceOfNDistinct(rapid.Uint32Range(1, cpPropDevices), 1, 3, rapid.ID).Draw(t, "ids")
	var ds []*collection.Device
	for _, id := range ids {
		ds = append(ds, cpDevice(id, rapid.IntRange(0, 29).Draw(t, "variant")))
	}
	if err := m.s.PutDevices(m.c.ctx, ds...); err != nil {
		t.Fatalf("PutDevices: %v", err)
	}
}

func (m *cpMachine) deleteDevice(t *rapid.T) {
	live := m.live()
	if len(live) == 0 {
		return
	}
	id := rapid.SampledFrom(live).Draw(t, "device")
	if err := m.s.DeleteDevice(m.c.ctx, id); err != nil {
		t.Fatalf("DeleteDevice(%d): %v", id, err)
	}
}

// rules draws a collection's rules (possibly limited to another of the
// machine's collections than self) and maybe a maintenance window.
func (m *cpMachine) rules(t *rapid.T, self consign.ObjectID) *collection.Collection {
	c := &collection.Collection{Name: "c"}
	for i := range rapid.IntRange(0, 2).Draw(t, "rules") {
		r := collection.QueryRule{RuleName: fmt.Sprint("r", i), Query: "select * from SMS_R_System where " + rapid.SampledFrom(cpPropQueries).Draw(t, "query")}
		var others []consign.ObjectID
		for _, id := range m.cols {
			if id != self {
				others = append(others, id)
			}
		}
		if len(others) > 0 && rapid.Bool().Draw(t, "limited") {
			r.LimitToCollectionID = rapid.SampledFrom(others).Draw(t, "limit")
		}
		c.QueryRules = append(c.QueryRules, r)
	}
	for i, rid := range rapid.SliceOfNDistinct(rapid.Uint32Range(1, cpPropDevices), 0, 2, rapid.ID).Draw(t, "direct") {
		c.DirectRules = append(c.DirectRules, collection.DirectRule{RuleName: fmt.Sprint("d", i), ResourceID: rid})
	}
	if rapid.Bool().Draw(t, "window") {
		c.ServiceWindows = nightly()
	}
	return c
}

func (m *cpMachine) createCollection(t *rapid.T) {
	if len(m.cols) >= 6 {
		return
	}
	parent := consign.ObjectID("")
	if len(m.cols) > 0 && rapid.Bool().Draw(t, "sub") {
		parent = rapid.SampledFrom(m.cols).Draw(t, "parent")
	}
	nc, err := m.s.CreateCollection(m.c.ctx, m.rules(t, ""), parent)
	if err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	m.cols = append(m.cols, nc.ID)
}

func (m *cpMachine) updateCollection(t *rapid.T) {
	if len(m.cols) == 0 {
		return
	}
	id := rapid.SampledFrom(m.cols).Draw(t, "collection")
	c := m.rules(t, id)
	c.ID, c.Name = id, fmt.Sprint("updated ", m.msg)
	m.msg++
	if err := m.s.UpdateCollection(m.c.ctx, c); err != nil && !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("UpdateCollection(%s): %v", id, err) // a limit loop is refused as invalid
	}
}

func (m *cpMachine) deleteCollection(t *rapid.T) {
	if len(m.cols) == 0 {
		return
	}
	i := rapid.IntRange(0, len(m.cols)-1).Draw(t, "i")
	err := m.s.DeleteCollection(m.c.ctx, m.cols[i])
	if errors.Is(err, consign.ErrFailedPrecondition) {
		return // another collection is limited to it
	}
	if err != nil {
		t.Fatalf("DeleteCollection(%s): %v", m.cols[i], err)
	}
	m.cols = slices.Delete(m.cols, i, i+1)
}

func (m *cpMachine) report(t *rapid.T) {
	live := m.live()
	if len(live) == 0 {
		return
	}
	id := rapid.SampledFrom(live).Draw(t, "device")
	ev := rapid.SampledFrom([]advertisement.Event{advertisement.EventStarted, advertisement.EventSucceeded, advertisement.EventFailed}).Draw(t, "event")
	m.msg++
	msg := advertisement.Message{ID: fmt.Sprint("p", m.msg), AdvertisementID: rapid.SampledFrom(m.f.ads).Draw(t, "ad"), Event: ev, Time: t0.Add(time.Duration(m.msg) * time.Second)}
	if _, err := m.s.Report(m.c.ctx, id, []advertisement.Message{msg}); err != nil {
		t.Fatalf("Report: %v", err)
	}
}

// writeCheckpoint writes a checkpoint with Site.Checkpoint.
func (m *cpMachine) writeCheckpoint(t *rapid.T) {
	if err := m.s.Checkpoint(m.c.ctx); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	m.checkpoint = true
}

// reopen replaces the Site with one opened from the checkpoint (when there
// is one) and checks it against a full load.
func (m *cpMachine) reopen(t *rapid.T) {
	s, logs := m.c.open(t, m.c.path)
	want := "store"
	if m.checkpoint {
		want = "checkpoint"
	}
	if from := logs.openedFrom(); from != want {
		t.Fatalf("reopened from %q (warnings %q), want %s", from, logs.notUsed(), want)
	}
	if w := logs.notUsed(); len(w) > 0 {
		t.Fatalf("the checkpoint was not used: %q", w)
	}
	p := m.f.probe(cpPropDevices + 1 - m.f.n)
	sameView(t, "a Site reopened from the checkpoint", siteView(t, m.c.ctx, s, p), siteView(t, m.c.ctx, m.c.openFull(t), p))
	m.s = s
}

// Random device and collection changes, status, checkpoints and
// reopenings: a Site opened from the checkpoint always equals a full load.
func TestCheckpointProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newMemCPEnv(t)
		m := &cpMachine{c: c}
		m.s, _ = c.open(rt, c.path)
		if rapid.Bool().Draw(rt, "checkpoint the empty store") {
			m.writeCheckpoint(rt)
		}
		m.f = buildSite(rt, c, m.s, uint32(rapid.IntRange(2, 12).Draw(rt, "devices")))
		ops := map[string]func(*rapid.T){
			"putDevices":       m.putDevices,
			"deleteDevice":     m.deleteDevice,
			"createCollection": m.createCollection,
			"updateCollection": m.updateCollection,
			"deleteCollection": m.deleteCollection,
			"report":           m.report,
			"checkpoint":       m.writeCheckpoint,
			"reopen":           m.reopen,
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range ops {
				if !yield(k) {
					return
				}
			}
		})
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			ops[rapid.SampledFrom(names).Draw(rt, "op")](rt)
		}
		if !m.checkpoint {
			m.writeCheckpoint(rt)
		}
		m.reopen(rt)
	})
}

// Two devices may share an SMSUniqueIdentifier (a cloned image): a full
// load registers the one whose record was written last, so a Site opened
// from a checkpoint must too.
func TestCheckpointDuplicateUniqueIdentifier(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	older, newer := cpDevice(250, 0), cpDevice(20, 0)
	older.SMSUniqueIdentifier, newer.SMSUniqueIdentifier = "GUID:CLONED", "GUID:CLONED"
	for _, d := range []*collection.Device{older, newer} {
		if err := s.PutDevices(c.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restored := c.openFromCheckpoint(t, c.path)
	sameRegistrations(t, c.ctx, c.openFull(t), restored, []string{"GUID:CLONED"})
}

// A collection whose query reads the time (GETDATE()) has, on a Site opened
// from a checkpoint, the members a full load evaluates at open, not those
// of its last evaluation before the checkpoint.
func TestCheckpointTimeDependentCollection(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	d := cpDevice(1, 0)
	d.Properties = map[string]any{"LastLogonTimestamp": t0.Add(-3 * 24 * time.Hour)}
	if err := s.PutDevices(c.ctx, d); err != nil {
		t.Fatal(err)
	}
	col := must(s.CreateCollection(c.ctx, &collection.Collection{Name: "Not seen for a week",
		QueryRules: cpQuery(`DATEDIFF(dd, LastLogonTimestamp, GETDATE()) > 7`)}, ""))
	if m := must(s.Members(col.ID)); len(m) != 0 {
		t.Fatalf("members three days after the logon: %v, want none", m)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.clock.Set(t0.Add(10 * 24 * time.Hour))
	restored := c.openFromCheckpoint(t, c.path)
	want := must(c.openFull(t).Members(col.ID))
	if len(want) != 1 {
		t.Fatalf("a full load ten days after the logon has members %v, want [1]", want)
	}
	if got := must(restored.Members(col.ID)); !slices.Equal(got, want) {
		t.Errorf("ten days after the logon, opened from the checkpoint of day three: members %v, a full load %v", got, want)
	}
}

// movingStore is a Store another writer writes to while a Site opens over
// it: before each of the first moves Lists of status records (one a
// checkpoint restore makes), write runs.
type movingStore struct {
	delivery.Store
	mu    sync.Mutex
	moves int
	write func() error
}

func (m *movingStore) List(ctx context.Context, kind string, q delivery.Query) ([]delivery.Record, string, error) {
	m.mu.Lock()
	move := kind == "adstatus" && q.After == "" && m.moves > 0
	if move {
		m.moves--
	}
	m.mu.Unlock()
	if move {
		if err := m.write(); err != nil {
			return nil, "", err
		}
	}
	return m.Store.List(ctx, kind, q)
}

// Another Site writing while a Site opens from a checkpoint (a device put
// and its status, between the restore's reading of the feed and its
// listing of statuses) does not leave the new Site short of a full load.
func TestCheckpointStoreWrittenDuringOpen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		moves int
	}{{"once", 1}, {"at every attempt", 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMemCPEnv(t)
			s, _ := c.open(t, c.path)
			f := buildSite(t, c, s, 30)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			other := c.openFull(t)
			next := f.n
			ms := &movingStore{Store: c.store, moves: tc.moves, write: func() error {
				next++
				if err := other.PutDevices(c.ctx, cpDevice(next, 0)); err != nil {
					return err
				}
				_, err := other.Report(c.ctx, next, []advertisement.Message{{ID: "racing", AdvertisementID: f.ads[1], Event: advertisement.EventSucceeded, Time: t0}})
				return err
			}}
			logs := &logRecorder{}
			restored, err := delivery.Open(c.ctx, ms, nil, c.options(c.path, logs))
			if err != nil {
				t.Fatal(err)
			}
			if next == f.n {
				t.Fatal("opening from the checkpoint listed no statuses: the test raced nothing")
			}
			switch from, warns := logs.openedFrom(), logs.notUsed(); {
			case tc.moves == 1 && (from != "checkpoint" || len(warns) > 0):
				t.Errorf("one write during the restore: opened from %q, warnings %q; want the checkpoint used", from, warns)
			case from == "store" && len(warns) != 1:
				t.Errorf("opened from the store without saying why (warnings %q)", warns)
			}
			p := f.probe(next - f.n)
			sameView(t, "a Site opened from the checkpoint while the store was written", siteView(t, c.ctx, restored, p), siteView(t, c.ctx, c.openFull(t), p))
		})
	}
}

// A device address with a long IPv6 zone (discovery data is the device's
// word) round-trips through the checkpoint like any other: the checkpoint
// stays usable.
func TestCheckpointLongAddressZone(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	d := cpDevice(1, 0)
	d.IPAddresses = []string{"fe80::1%" + strings.Repeat("x", 300), "10.1.0.1"}
	if err := s.PutDevices(c.ctx, d, cpDevice(2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restored := c.openFromCheckpoint(t, c.path)
	p := viewProbe{rids: []uint32{1, 2}}
	sameView(t, "a Site opened from the checkpoint", siteView(t, c.ctx, restored, p), siteView(t, c.ctx, c.openFull(t), p))
}

// rawPut writes a record behind every Site's back, as another writer (a
// newer version, another tool) would.
func rawPut(t *testing.T, c *cpEnv, kind, key string, data []byte) {
	t.Helper()
	if _, err := c.store.Apply(c.ctx, []delivery.Write{{Op: delivery.Put, Expect: delivery.AnyRevision,
		Record: delivery.Record{Kind: kind, Key: key, Data: data}}}); err != nil {
		t.Fatal(err)
	}
}

// extendedSchema is the default schema plus one inventory class: a newer
// version's, or another embedder's, Options.Schema.
func extendedSchema(t *testing.T) *wql.Schema {
	def := collection.DefaultSchema()
	var classes []wql.Class
	for i := range def.NumClasses() {
		classes = append(classes, *def.Class(i))
	}
	classes = append(classes, wql.Class{Name: "SMS_G_System_EXTRA", Properties: []wql.Property{{Name: "Flavor", Type: wql.String}}})
	s, err := wql.NewSchema(classes...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newerWriter opens a second Site over c's store with extendedSchema (a
// newer version, say) and puts device rid with a row of the class only it
// knows; a Site over the default schema cannot apply that record.
func newerWriter(t *testing.T, c *cpEnv, rid uint32) *delivery.Site {
	t.Helper()
	o := c.options("", &logRecorder{})
	o.Schema = extendedSchema(t)
	newer, err := delivery.Open(c.ctx, c.store, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	d := cpDevice(rid, 0)
	d.Inventory["SMS_G_System_EXTRA"] = []collection.Instance{{"Flavor": "vanilla"}}
	if err := newer.PutDevices(c.ctx, d); err != nil {
		t.Fatal(err)
	}
	return newer
}

// A device record the Site could not apply (written over a schema it
// lacks) keeps its revision through a checkpoint: the Site opened from it
// can write that device, as one that loads in full can.
func TestCheckpointKeepsRevisionOfUnappliedDevice(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	if err := s.PutDevices(c.ctx, cpDevice(1, 0)); err != nil {
		t.Fatal(err)
	}
	newerWriter(t, c, 9)
	if err := s.PutDevices(c.ctx, cpDevice(2, 0)); err != nil { // s catches up, leaving device 9 out
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restored := c.openFromCheckpoint(t, c.path)
	if err := restored.PutDevices(c.ctx, cpDevice(9, 2)); err != nil {
		t.Errorf("the Site opened from the checkpoint cannot put device 9: %v", err)
	}
}

// A device record under a key not in the Site's own form (another
// writer's "200") is not taken for a canonical record at revision 0:
// DeleteDevice then does on the restored Site what it does on a full load.
func TestCheckpointNonCanonicalDeviceKey(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	rawPut(t, c, "device", "200", must(collection.EncodeDevice(cpDevice(200, 0), collection.DefaultSchema())))
	if err := s.PutDevices(c.ctx, cpDevice(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restored := c.openFromCheckpoint(t, c.path)
	full := c.openFull(t)
	errFull, errRestored := full.DeleteDevice(c.ctx, 200), restored.DeleteDevice(c.ctx, 200)
	_, goneFull := full.Device(200)
	_, goneRestored := restored.Device(200)
	if (errFull == nil) != (errRestored == nil) || (goneFull == nil) != (goneRestored == nil) {
		t.Errorf("DeleteDevice(200): full load %v (device then: %v), from the checkpoint %v (device then: %v)", errFull, goneFull, errRestored, goneRestored)
	}
}

// Two Close calls at once both return nil (one writes the checkpoint).
func TestCheckpointConcurrentClose(t *testing.T) {
	for i := range 10 {
		c := newMemCPEnv(t)
		s, _ := c.open(t, c.path)
		if err := s.PutDevices(c.ctx, cpDevice(uint32(i+1), 0)); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- s.Close() }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: Close: %v", i, err)
			}
		}
	}
}

// Records written after the checkpoint over a schema this Site lacks (a
// device with a new inventory class, a collection querying it) cannot be
// applied: the Site opened from the checkpoint leaves them out — the
// older device and collection too — as a full load does.
func TestCheckpointLeavesOutWhatItCannotApply(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	f := buildSite(t, c, s, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newer := newerWriter(t, c, 5)
	col := must(newer.Collection(f.cols["paris"]))
	col.QueryRules = []collection.QueryRule{{RuleName: "x", Query: `select * from SMS_R_System inner join SMS_G_System_EXTRA on SMS_G_System_EXTRA.ResourceID = SMS_R_System.ResourceID where SMS_G_System_EXTRA.Flavor = "vanilla"`}}
	if err := newer.UpdateCollection(c.ctx, col); err != nil {
		t.Fatal(err)
	}
	restored, logs := c.open(t, c.path) // it logs what it leaves out
	if from := logs.openedFrom(); from != "checkpoint" {
		t.Fatalf("opened from %q", from)
	}
	full := c.openFull(t)
	if _, err := restored.Device(5); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("device 5, which this Site cannot apply, on the Site opened from the checkpoint: %v", err)
	}
	p := f.probe(0)
	sameView(t, "from the checkpoint and in full, records it cannot apply left out", siteView(t, c.ctx, restored, p), siteView(t, c.ctx, full, p))
}

// A checkpoint Open could not use (damaged here) still has its record
// replaced by the next one: no record is left behind.
func TestCheckpointUnusedRecordReplaced(t *testing.T) {
	c := newMemCPEnv(t)
	s, _ := c.open(t, c.path)
	if err := s.PutDevices(c.ctx, cpDevice(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := writeCopy(t, flip(b, len(b)-1)) // the engine's checksum
	again, logs := c.open(t, damaged)
	if from := logs.openedFrom(); from != "store" {
		t.Fatalf("a damaged checkpoint opened from %q", from)
	}
	if err := again.Close(); err != nil { // writes a new checkpoint at damaged
		t.Fatal(err)
	}
	if keys := checkpointKeys(t, c); len(keys) != 1 {
		t.Errorf("checkpoint records after a damaged one was replaced: %v, want one", keys)
	}
}
