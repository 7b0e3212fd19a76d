package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for Site.Options.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// recordingTransport remembers every device it was asked to notify.
type recordingTransport struct {
	mu       sync.Mutex
	notified map[uint32]int
}

func (r *recordingTransport) Notify(_ context.Context, ids []uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notified == nil {
		r.notified = make(map[uint32]int)
	}
	for _, id := range ids {
		r.notified[id]++
	}
	return nil
}

func (r *recordingTransport) count(id uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notified[id]
}

type env struct {
	t     *testing.T
	ctx   context.Context
	store *memstore.Store
	clock *fakeClock
	tr    *recordingTransport
	site  *delivery.Site
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), store: memstore.New(), clock: &fakeClock{now: t0}, tr: &recordingTransport{}}
	e.site = e.open()
	return e
}

func (e *env) open() *delivery.Site {
	e.t.Helper()
	s, err := delivery.Open(e.ctx, e.store, e.tr, &delivery.Options{SiteCode: "CEN", Clock: e.clock.Now})
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return s
}

// must returns v, or panics when err is set (failing the test with the
// error and the line that called it).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func device(id uint32, name, os string, ou string) *collection.Device {
	return &collection.Device{
		ResourceID: id, Name: name, NetbiosName: name, OperatingSystemNameandVersion: os, Client: true, Active: true,
		ResourceDomainORWorkgroup: "CONTOSO", SystemOUName: []string{"CONTOSO.COM", ou},
		Inventory: map[string][]collection.Instance{
			"SMS_G_System_COMPUTER_SYSTEM": {{"SystemType": "x64-based PC"}},
		},
	}
}

const (
	win7 = "Microsoft Windows NT Workstation 6.1"
	xp   = "Microsoft Windows NT Workstation 5.1"
)

const dpPath = `["Display=\\DP01\"]MSWNET:["SMS_SITE=CEN"]\\DP01\`

// seed puts devices 1–6 (1–4 Windows 7, 5–6 XP), one DP, and a query
// collection of the Windows 7 machines.
func (e *env) seed() *collection.Collection {
	e.t.Helper()
	var ds []*collection.Device
	for i := uint32(1); i <= 6; i++ {
		os := win7
		if i > 4 {
			os = xp
		}
		ds = append(ds, device(i, fmt.Sprintf("PC%02d", i), os, "CONTOSO.COM/WORKSTATIONS"))
	}
	if err := e.site.PutDevices(e.ctx, ds...); err != nil {
		e.t.Fatal(err)
	}
	if err := e.site.AddDistributionPoint(e.ctx, &distpoint.DistributionPoint{NALPath: dpPath, Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard}); err != nil {
		e.t.Fatal(err)
	}
	return must(e.site.CreateCollection(e.ctx, &collection.Collection{
		Name:       "Windows 7",
		QueryRules: []collection.QueryRule{{RuleName: "w7", Query: `select * from SMS_R_System where OperatingSystemNameandVersion like "%Workstation 6.1%"`}},
	}, ""))
}

func newPackage() *pkg.Package {
	p := pkg.NewPackage("", "Contoso App")
	p.Version = "1.0"
	p.SourceFlag = pkg.StorageDirect
	p.SourcePath = `\\FS01\Source\App`
	p.Manifest = pkg.Manifest{Files: []pkg.File{{Path: "setup.exe", Size: 1024, SHA256: [32]byte{1}}}}
	return p
}

func newProgram(name string) *pkg.Program {
	p := pkg.NewProgram("", name, "setup.exe /s")
	p.Logon, p.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	return p
}

// distribute advertises program "Install" of a new package to col,
// mandatory as soon as possible.
func (e *env) distribute(col consign.ObjectID, rerun advertisement.Rerun) *delivery.DistributeResult {
	e.t.Helper()
	ad := advertisement.New("", "Contoso App", "", "", "", t0.Add(-time.Hour))
	ad.PresentTimeIsGMT = true
	ad.ASAP = true
	ad.Rerun = rerun
	return must(e.site.DistributeSoftware(e.ctx, delivery.DistributeRequest{
		NewPackage: newPackage(), NewPrograms: []*pkg.Program{newProgram("Install")}, ProgramName: "Install",
		DistributionPoints: []string{dpPath}, CollectionID: col, Advertisement: ad,
	}))
}

func (e *env) report(rid uint32, ad consign.ObjectID, events ...advertisement.Event) delivery.ReportResult {
	e.t.Helper()
	var msgs []advertisement.Message
	for i, ev := range events {
		msgs = append(msgs, advertisement.Message{ID: fmt.Sprintf("%s/%d/%d/%d", ad, rid, ev, e.clock.Now().UnixNano()+int64(i)),
			AdvertisementID: ad, Event: ev, Time: e.clock.Now().Add(time.Duration(i) * time.Second)})
	}
	return must(e.site.Report(e.ctx, rid, msgs))
}

func offerFor(p *delivery.Policy, ad consign.ObjectID) (delivery.Offer, bool) {
	for _, o := range p.Offers {
		if o.Advertisement.ID == ad {
			return o, true
		}
	}
	return delivery.Offer{}, false
}

func TestDistributeSoftwareEndToEnd(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	if got := must(e.site.Members(col.ID)); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("members of the Windows 7 collection = %v, want [1 2 3 4]", got)
	}
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	if res.Package.ID != "CEN00002" || res.Advertisement.ID != "CEN00003" {
		t.Errorf("IDs = package %s, advertisement %s; want the site's next serials CEN00002 and CEN00003", res.Package.ID, res.Advertisement.ID)
	}
	if len(res.DistributionPoints) != 1 || res.DistributionPoints[0].State != distpoint.InstallPending || res.DistributionPoints[0].TargetVersion != 1 {
		t.Errorf("DP rows = %+v, want one Install Pending for version 1", res.DistributionPoints)
	}
	for rid := uint32(1); rid <= 4; rid++ {
		if e.tr.count(rid) == 0 {
			t.Errorf("device %d was not notified of the new advertisement", rid)
		}
		pol := must(e.site.Policy(e.ctx, rid, nil))
		o, ok := offerFor(pol, res.Advertisement.ID)
		if !ok {
			t.Fatalf("device %d: no offer for %s", rid, res.Advertisement.ID)
		}
		if o.Decision.State != advertisement.MandatoryDue {
			t.Errorf("device %d: decision %v (%s), want MandatoryDue", rid, o.Decision.State, o.Decision.Reason)
		}
		if o.Package.SourceVersion != 1 || !o.Package.HasSource || o.Program.Name != "Install" {
			t.Errorf("device %d: offer package/program = %+v / %q", rid, o.Package, o.Program.Name)
		}
	}
	if pol := must(e.site.Policy(e.ctx, 5, nil)); len(pol.Offers) != 0 {
		t.Errorf("XP device 5 is not a member but got %d offers", len(pol.Offers))
	}

	e.report(1, res.Advertisement.ID, advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded)
	e.report(2, res.Advertisement.ID, advertisement.EventReceived, advertisement.EventStarted, advertisement.EventFailed)
	e.report(3, res.Advertisement.ID, advertisement.EventReceived, advertisement.EventStarted)
	sum := must(e.site.AdvertisementSummary(res.Advertisement.ID))
	if sum.Targeted != 4 || sum.NotReported != 1 || sum.Counts.Succeeded != 1 || sum.Counts.Failed != 1 || sum.Counts.Running != 1 {
		t.Errorf("summary = %+v, want targeted 4, not reported 1, succeeded 1, failed 1, running 1", sum)
	}

	// The ASAP assignment has been acted on by both devices. The console's
	// "Re-run advertisement" adds an assignment at now (§1.9): with rerun if
	// failed, the device that succeeded skips it, the one that failed runs.
	e.clock.Set(t0.Add(2 * time.Hour))
	ad := must(e.site.Advertisement(res.Advertisement.ID))
	ad.Schedules = append(ad.Schedules, schedule.Token{Type: schedule.NonRecurring, Start: t0.Add(time.Hour), IsGMT: true})
	if err := e.site.UpdateAdvertisement(e.ctx, ad); err != nil {
		t.Fatal(err)
	}
	if o, _ := offerFor(must(e.site.Policy(e.ctx, 1, nil)), res.Advertisement.ID); o.Decision.State != advertisement.WillNotRerun {
		t.Errorf("device 1 succeeded, rerun if failed: decision %v (%s), want WillNotRerun", o.Decision.State, o.Decision.Reason)
	}
	if o, _ := offerFor(must(e.site.Policy(e.ctx, 2, nil)), res.Advertisement.ID); o.Decision.State != advertisement.MandatoryDue {
		t.Errorf("device 2 failed, rerun if failed: decision %v (%s), want MandatoryDue", o.Decision.State, o.Decision.Reason)
	}
}

func TestDistributeSoftwareIsAtomic(t *testing.T) {
	e := newEnv(t)
	e.seed()
	before := must(e.store.Changes(e.ctx, 0, 0))
	bad := newProgram("Install")
	bad.CommandLine = ""
	_, err := e.site.DistributeSoftware(e.ctx, delivery.DistributeRequest{
		NewPackage: newPackage(), NewPrograms: []*pkg.Program{bad}, ProgramName: "Install",
		DistributionPoints: []string{"no-such-dp"}, CollectionID: "CEN0FFFF",
	})
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	var fields []string
	for _, want := range []string{"NewPrograms[0].Program.CommandLine", "DistributionPoints[0]", "CollectionID"} {
		fields = append(fields, want)
		if !containsField(err, want) {
			t.Errorf("error %q does not name field %s", err, want)
		}
	}
	after := must(e.store.Changes(e.ctx, 0, 0))
	if len(after) != len(before) {
		t.Errorf("a failed DistributeSoftware wrote %d records", len(after)-len(before))
	}
	if len(e.site.Packages()) != 0 {
		t.Errorf("a failed DistributeSoftware left packages %v", e.site.Packages())
	}
}

// containsField reports whether err holds a *consign.ValidationError for
// field.
func containsField(err error, field string) bool {
	for _, ve := range validationErrors(err) {
		if ve.Field == field {
			return true
		}
	}
	return false
}

func validationErrors(err error) []*consign.ValidationError {
	var out []*consign.ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ve, ok := err.(*consign.ValidationError); ok {
			out = append(out, ve)
			return
		}
		switch u := err.(type) {
		case interface{ WrappedErrors() []error }:
			for _, e := range u.WrappedErrors() {
				walk(e)
			}
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestReportIsIdempotent(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	msgs := []advertisement.Message{
		{ID: "m1", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventReceived, Time: t0},
		{ID: "m2", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventStarted, Time: t0.Add(time.Minute)},
		{ID: "m3", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventSucceeded, Time: t0.Add(2 * time.Minute)},
	}
	first := must(e.site.Report(e.ctx, 1, msgs))
	sum1 := must(e.site.AdvertisementSummary(res.Advertisement.ID))
	second := must(e.site.Report(e.ctx, 1, msgs))
	sum2 := must(e.site.AdvertisementSummary(res.Advertisement.ID))
	if first.Accepted != 3 || second.Accepted != 0 || second.Duplicates != 3 {
		t.Errorf("first %+v, second %+v; want 3 accepted then 3 duplicates", first, second)
	}
	if sum1 != sum2 || sum2.Counts.Succeeded != 1 {
		t.Errorf("resending changed the summary: %+v then %+v", sum1, sum2)
	}
	// Out-of-order delivery: a late "started" does not undo the success.
	must(e.site.Report(e.ctx, 1, []advertisement.Message{{ID: "late", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventStarted, Time: t0.Add(30 * time.Second)}}))
	if cs := must(e.site.ClientStatus(res.Advertisement.ID, 1)); cs.Delivery != advertisement.DeliverySucceeded {
		t.Errorf("after a stale message the status is %v, want Succeeded", cs.Delivery)
	}
	// Another device's messages are refused whole.
	_, err := e.site.Report(e.ctx, 1, []advertisement.Message{{ID: "x", AdvertisementID: res.Advertisement.ID, ResourceID: 2, Event: advertisement.EventStarted, Time: t0}})
	if !containsField(err, "msgs[0].ResourceID") {
		t.Errorf("a message for device 2 reported by device 1: err = %v", err)
	}
}

// ReportMany takes in many devices' batches in one write, with the same
// outcome as one Report per device, and names every problem by report.
func TestReportMany(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	ad := res.Advertisement.ID
	msg := func(id string, ev advertisement.Event, at time.Duration) advertisement.Message {
		return advertisement.Message{ID: id, AdvertisementID: ad, Event: ev, Time: t0.Add(at)}
	}
	rev := func() int64 { cs, _ := e.store.Changes(e.ctx, 0, 0); return cs[len(cs)-1].Record.Revision }
	before := rev()
	got := must(e.site.ReportMany(e.ctx, []delivery.DeviceReport{
		{ResourceID: 1, Messages: []advertisement.Message{msg("a", advertisement.EventStarted, 0)}},
		{ResourceID: 2, Messages: []advertisement.Message{msg("a", advertisement.EventStarted, 0), msg("b", advertisement.EventFailed, time.Minute)}},
		{ResourceID: 1, Messages: []advertisement.Message{msg("b", advertisement.EventSucceeded, time.Minute), msg("a", advertisement.EventStarted, 0),
			{ID: "c", AdvertisementID: "CEN99999", Event: advertisement.EventStarted, Time: t0}}},
	}))
	want := []delivery.ReportResult{{Accepted: 1}, {Accepted: 2}, {Accepted: 1, Duplicates: 1, Unknown: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReportMany: %+v; want %+v", got, want)
	}
	if tot := delivery.Total(got); tot != (delivery.ReportResult{Accepted: 4, Duplicates: 1, Unknown: 1}) {
		t.Errorf("Total: %+v", tot)
	}
	if after := rev(); after != before+1 {
		t.Errorf("ReportMany took %d store writes, want 1", after-before)
	}
	if cs := must(e.site.ClientStatus(ad, 1)); cs.Delivery != advertisement.DeliverySucceeded {
		t.Errorf("device 1: %v, want Succeeded", cs.Delivery)
	}
	if cs := must(e.site.ClientStatus(ad, 2)); cs.Delivery != advertisement.DeliveryFailed {
		t.Errorf("device 2: %v, want Failed", cs.Delivery)
	}
	_, err := e.site.ReportMany(e.ctx, []delivery.DeviceReport{
		{ResourceID: 99, Messages: []advertisement.Message{msg("x", advertisement.EventStarted, 0)}},
		{ResourceID: 3, Messages: []advertisement.Message{msg("y", advertisement.EventStarted, 0), {ID: "", AdvertisementID: ad, Event: advertisement.EventStarted, Time: t0}}},
		{ResourceID: 3, Messages: []advertisement.Message{{ID: "z", AdvertisementID: ad, Time: t0}}},
	})
	for _, f := range []string{"reports[0].ResourceID", "reports[1].Messages[1].Message.ID", "reports[2].Messages[0].Message.Event"} {
		if !containsField(err, f) {
			t.Errorf("bad reports: %v does not name %s", err, f)
		}
	}
	if after := rev(); after != before+1 {
		t.Errorf("a refused ReportMany wrote to the store")
	}
}

func TestPolicyFollowsMembershipAndSubcollections(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	// A subcollection of one XP machine under the Windows 7 collection.
	sub := must(e.site.CreateCollection(e.ctx, &collection.Collection{Name: "PC05", DirectRules: []collection.DirectRule{{RuleName: "PC05", ResourceID: 5}}}, col.ID))
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	if _, ok := offerFor(must(e.site.Policy(e.ctx, 5, nil)), res.Advertisement.ID); !ok {
		t.Errorf("device 5 is in a subcollection and the advertisement includes subcollections, but it got no offer")
	}
	if sum := must(e.site.AdvertisementSummary(res.Advertisement.ID)); sum.Targeted != 5 {
		t.Errorf("targeted = %d, want 5 (4 + subcollection member)", sum.Targeted)
	}
	// Excluding subcollections drops device 5.
	ad := must(e.site.Advertisement(res.Advertisement.ID))
	ad.IncludeSubcollections = false
	if err := e.site.UpdateAdvertisement(e.ctx, ad); err != nil {
		t.Fatal(err)
	}
	if _, ok := offerFor(must(e.site.Policy(e.ctx, 5, nil)), res.Advertisement.ID); ok {
		t.Errorf("device 5 still offered the advertisement after IncludeSubcollections was cleared")
	}
	// An inventory change moves device 1 out of the query collection: the
	// offer goes away and the device is told.
	before := e.tr.count(1)
	if err := e.site.PutDevices(e.ctx, device(1, "PC01", xp, "CONTOSO.COM/WORKSTATIONS")); err != nil {
		t.Fatal(err)
	}
	if _, ok := offerFor(must(e.site.Policy(e.ctx, 1, nil)), res.Advertisement.ID); ok {
		t.Errorf("device 1 left the collection but still has the offer")
	}
	if e.tr.count(1) == before {
		t.Errorf("device 1 left the collection but was not notified")
	}
	if got := e.site.CollectionsOf(1); slices.Contains(got, col.ID) || !slices.Contains(got, collection.AllSystemsID) {
		t.Errorf("CollectionsOf(1) = %v", got)
	}
	_ = sub
}

func TestAdvertisementImmutableFields(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	ad := must(e.site.Advertisement(res.Advertisement.ID))
	ad.Name = "renamed"
	ad.CollectionID = collection.AllSystemsID
	err := e.site.UpdateAdvertisement(e.ctx, ad)
	if !containsField(err, "Advertisement.Name") || !containsField(err, "Advertisement.CollectionID") {
		t.Errorf("changing immutable fields: err = %v, want validation errors naming Name and CollectionID", err)
	}
}

func TestDeletePackageCascades(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	e.report(1, res.Advertisement.ID, advertisement.EventReceived)
	if err := e.site.DeleteProgram(e.ctx, pkg.ProgramRef{PackageID: res.Package.ID, Program: "Install"}); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("deleting an advertised program: err = %v, want ErrFailedPrecondition", err)
	}
	if err := e.site.DeletePackage(e.ctx, res.Package.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.site.Advertisement(res.Advertisement.ID); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("advertisement survived its package: %v", err)
	}
	if ps := e.site.Programs(res.Package.ID); len(ps) != 0 {
		t.Errorf("programs survived their package: %v", ps)
	}
	rows := must(e.site.PackageStatus(res.Package.ID))
	if len(rows) != 1 || rows[0].State != distpoint.RemovalPending {
		t.Errorf("DP rows after delete = %+v, want one Removal Pending", rows)
	}
	if pol := must(e.site.Policy(e.ctx, 1, nil)); len(pol.Offers) != 0 {
		t.Errorf("device 1 still has %d offers", len(pol.Offers))
	}
}

// History is per program: a new advertisement of a program that already
// ran sees the old result (§3.2, B-rerun scenario 2).
func TestNeverRerunHoldsAcrossAdvertisements(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunNever)
	e.report(1, res.Advertisement.ID, advertisement.EventStarted, advertisement.EventSucceeded)
	e.clock.Set(t0.Add(time.Hour))
	ad := advertisement.New("", "again", res.Package.ID, "Install", col.ID, t0.Add(30*time.Minute))
	ad.PresentTimeIsGMT, ad.ASAP, ad.Rerun = true, true, advertisement.RerunNever
	second := must(e.site.CreateAdvertisement(e.ctx, ad))
	o, _ := offerFor(must(e.site.Policy(e.ctx, 1, nil)), second.ID)
	if o.Decision.State != advertisement.WillNotRerun {
		t.Errorf("second advertisement, never rerun, program already ran: decision %v, want WillNotRerun", o.Decision.State)
	}
	o, _ = offerFor(must(e.site.Policy(e.ctx, 2, nil)), second.ID)
	if o.Decision.State != advertisement.MandatoryDue {
		t.Errorf("device 2 never ran the program: decision %v, want MandatoryDue", o.Decision.State)
	}
}

func TestDependencyRunsFirst(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	p := must(e.site.CreatePackage(e.ctx, newPackage()))
	if err := e.site.CreateProgram(e.ctx, withPkg(newProgram("Runtime"), p.ID)); err != nil {
		t.Fatal(err)
	}
	main := withPkg(newProgram("Install"), p.ID)
	main.Dependency = &pkg.ProgramRef{Program: "Runtime"}
	if err := e.site.CreateProgram(e.ctx, main); err != nil {
		t.Fatal(err)
	}
	// A loop is refused and named.
	rt := withPkg(newProgram("Runtime"), p.ID)
	rt.Dependency = &pkg.ProgramRef{PackageID: p.ID, Program: "Install"}
	if err := e.site.UpdateProgram(e.ctx, rt); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("a dependency loop was accepted: %v", err)
	}
	ad := advertisement.New("", "install", p.ID, "Install", col.ID, t0)
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	a := must(e.site.CreateAdvertisement(e.ctx, ad))
	o, _ := offerFor(must(e.site.Policy(e.ctx, 1, nil)), a.ID)
	if len(o.RunFirst) != 1 || o.RunFirst[0].Name != "Runtime" {
		t.Errorf("RunFirst = %v, want [Runtime]", o.RunFirst)
	}
	// Once the dependency has run successfully it is not run first again
	// (only the first time, unless RunDependencyAlways: §1.3).
	runtime := pkg.ProgramRef{PackageID: p.ID, Program: "Runtime"}
	must(e.site.Report(e.ctx, 1, []advertisement.Message{{ID: "dep", AdvertisementID: a.ID, Event: advertisement.EventSucceeded, Time: t0, RunFirst: &runtime}}))
	o, _ = offerFor(must(e.site.Policy(e.ctx, 1, nil)), a.ID)
	if len(o.RunFirst) != 0 || o.Status != nil {
		t.Errorf("after the dependency succeeded: RunFirst = %v, advertisement status %v; want none and no status", o.RunFirst, o.Status)
	}
	// A message about a program that is not on the chain is refused.
	other := pkg.ProgramRef{PackageID: p.ID, Program: "Install"}
	if _, err := e.site.Report(e.ctx, 1, []advertisement.Message{{ID: "x", AdvertisementID: a.ID, Event: advertisement.EventSucceeded, Time: t0, RunFirst: &other}}); !containsField(err, "msgs[0].RunFirst") {
		t.Errorf("RunFirst naming the advertised program itself: err = %v", err)
	}
}

func withPkg(p *pkg.Program, id consign.ObjectID) *pkg.Program {
	p.PackageID = id
	return p
}

func TestClosedSite(t *testing.T) {
	e := newEnv(t)
	e.site.Close()
	if _, err := e.site.CreatePackage(e.ctx, pkg.NewPackage("", "p")); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("CreatePackage after Close: %v, want ErrUnavailable", err)
	}
	if _, err := e.site.Policy(e.ctx, 1, nil); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Policy after Close: %v, want ErrUnavailable", err)
	}
}

// Update all distribution points (§2.4): a new SourceVersion, every DP back
// to Install Pending for it, and devices see the new version in policy.
func TestUpdatePackageSource(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	m := pkg.Manifest{Files: []pkg.File{{Path: "setup.exe", Size: 2048, SHA256: [32]byte{2}}, {Path: "data/app.cab", Size: 10, SHA256: [32]byte{3}}}}
	p := must(e.site.UpdatePackageSource(e.ctx, res.Package.ID, m))
	if p.SourceVersion != 2 {
		t.Errorf("SourceVersion = %d, want 2", p.SourceVersion)
	}
	rows := must(e.site.PackageStatus(res.Package.ID))
	if len(rows) != 1 || rows[0].State != distpoint.InstallPending || rows[0].TargetVersion != 2 {
		t.Errorf("DP rows = %+v, want Install Pending for version 2", rows)
	}
	o, _ := offerFor(must(e.site.Policy(e.ctx, 1, nil)), res.Advertisement.ID)
	if o.Package.SourceVersion != 2 || o.Package.SourceHash != m.Hash() || o.Package.ContentSize != 2058 {
		t.Errorf("policy package = %+v, want version 2 with the new manifest's hash and size", o.Package)
	}
	bad := pkg.Manifest{Files: []pkg.File{{Path: "../escape.exe", Size: 1}}}
	if _, err := e.site.UpdatePackageSource(e.ctx, res.Package.ID, bad); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("a manifest escaping the package root: err = %v", err)
	}
	if p := must(e.site.Package(res.Package.ID)); p.SourceVersion != 2 {
		t.Errorf("a rejected update changed SourceVersion to %d", p.SourceVersion)
	}
}

// A device's policy carries the maintenance windows of its collections, so
// that the device can decide for itself when a program may run.
func TestPolicyCarriesWindows(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	c := must(e.site.Collection(col.ID))
	w := collection.ServiceWindow{ID: "nightly", Name: "Nightly", Enabled: true, Type: collection.WindowGeneral,
		Schedule: schedule.Token{Type: schedule.Interval, Start: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), IsGMT: true, HourDuration: 2, DaySpan: 1}}
	c.ServiceWindows = []collection.ServiceWindow{w, {ID: "off", Name: "Disabled", Type: collection.WindowGeneral, Schedule: w.Schedule}}
	if err := e.site.UpdateCollection(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := must(e.site.Policy(e.ctx, 1, nil)).Windows; len(got) != 1 || got[0].ID != "nightly" {
		t.Errorf("member's policy windows = %+v, want the enabled nightly window", got)
	}
	if got := must(e.site.Policy(e.ctx, 5, nil)).Windows; len(got) != 0 {
		t.Errorf("non-member's policy windows = %+v, want none", got)
	}
}
