package delivery_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

const catalogDir = "../updates/jsoncatalog/testdata"

// syncCatalog synchronises the sample catalog (file name under catalogDir).
func (e *env) syncCatalog(name string) *delivery.SyncReport {
	e.t.Helper()
	src, err := jsoncatalog.Open(filepath.Join(catalogDir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return must(e.site.SyncUpdates(e.ctx, src, updates.Filter{}))
}

// byKB finds an update of the site's catalog by its KB number.
func (e *env) byKB(kb string) *updates.Update {
	e.t.Helper()
	for _, u := range e.site.Updates() {
		if u.ArticleID == kb {
			return u
		}
	}
	e.t.Fatalf("no update KB%s in the catalog", kb)
	return nil
}

// Software updates end to end through the Site: sync, scans, compliance,
// an update list, a template, the Deploy wizard with a content download,
// the deployment's compliance, and a later sync expiring a deployed update.
func TestSoftwareUpdatesStory(t *testing.T) {
	ce := newContentEnv(t)
	e := ce.env
	col := e.seed() // devices 1–6; collection of devices 1–4

	rep := e.syncCatalog("catalog.json")
	if len(rep.New) == 0 || len(rep.Rejected) != 0 {
		t.Fatalf("first sync: %d new, rejected %v", len(rep.New), rep.Rejected)
	}
	if again := e.syncCatalog("catalog.json"); len(again.New)+len(again.Revised)+len(again.Expired) != 0 {
		t.Errorf("syncing the same catalog again wrote %+v", again)
	}
	all := e.site.Updates()
	var deployable []*updates.Update
	for _, u := range all {
		if !u.Expired && !u.Superseded() && len(u.Files) > 0 {
			deployable = append(deployable, u)
		}
	}
	if len(deployable) < 3 {
		t.Fatalf("the sample catalog has %d deployable updates with files; want 3", len(deployable))
	}
	u1, u2, u3 := deployable[0], deployable[1], deployable[2]

	// Nobody scanned yet: every device is Unknown, never compliant.
	if sum := must(e.site.UpdateCompliance(u1.CIID)); sum.Unknown != 6 || sum.Total != 6 || sum.PercentCompliant() != 0 {
		t.Errorf("before any scan: %+v", sum)
	}
	scan := func(rid uint32, at time.Time, states ...updates.UpdateState) delivery.DeviceScan {
		return delivery.DeviceScan{ResourceID: rid, ScanTime: at, States: states}
	}
	req := func(ci updates.CIID) updates.UpdateState {
		return updates.UpdateState{Update: ci, State: updates.Required}
	}
	inst := func(ci updates.CIID) updates.UpdateState {
		return updates.UpdateState{Update: ci, State: updates.Installed}
	}
	na := func(ci updates.CIID) updates.UpdateState {
		return updates.UpdateState{Update: ci, State: updates.NotRequired}
	}
	res := must(e.site.ReportScans(e.ctx, []delivery.DeviceScan{
		scan(1, t0, req(u1.CIID), req(u2.CIID), na(u3.CIID)),
		scan(2, t0, inst(u1.CIID), inst(u2.CIID), na(u3.CIID)),
		scan(3, t0, req(u1.CIID), inst(u2.CIID), inst(u3.CIID)),
		scan(5, t0, req(u1.CIID)),
	}))
	if res.Accepted != 4 || res.States != 10 {
		t.Errorf("scan intake: %+v", res)
	}
	if sum := must(e.site.UpdateCompliance(u1.CIID)); sum.Required != 3 || sum.Installed != 1 || sum.Unknown != 2 {
		t.Errorf("KB%s after scans: %+v", u1.ArticleID, sum)
	}
	// A stale scan changes nothing; a resent one is idempotent.
	res = must(e.site.ReportScans(e.ctx, []delivery.DeviceScan{scan(1, t0.Add(-time.Hour), inst(u1.CIID)), scan(2, t0, inst(u1.CIID))}))
	if res.Stale != 1 {
		t.Errorf("stale scan: %+v", res)
	}
	if st := must(e.site.UpdateCompliance(u1.CIID)); st.Required != 3 {
		t.Errorf("a stale scan moved a device: %+v", st)
	}
	// Bad input names every problem and writes nothing.
	_, err := e.site.ReportScans(e.ctx, []delivery.DeviceScan{scan(99, t0, req(u1.CIID)), scan(1, t0, updates.UpdateState{Update: 9999, State: 7})})
	for _, f := range []string{"scans[0].ResourceID", "scans[1].States[0].Update", "scans[1].States[0].State"} {
		if !containsField(err, f) {
			t.Errorf("bad scans: %v does not name %s", err, f)
		}
	}

	// An update list and a template.
	list := must(e.site.SaveUpdateList(e.ctx, &updates.UpdateList{Name: "December security", Updates: []updates.CIID{u1.CIID, u2.CIID}}))
	if list.CIID == 0 || list.ContainsExpiredUpdates {
		t.Errorf("saved list: %+v", list)
	}
	if err := e.site.SaveTemplate(e.ctx, &updates.Template{Name: "Workstations", Settings: updates.Settings{
		CollectionID: col.ID, SuppressReboot: updates.SuppressServers, Duration: 7 * 24 * time.Hour}}); err != nil {
		t.Fatal(err)
	}

	// The wizard refuses a deployment whose content is nowhere, and one
	// holding an expired update, naming each problem.
	var expired *updates.Update
	for _, u := range all {
		if u.Expired {
			expired = u
			break
		}
	}
	_, err = e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "Dec", UpdateList: list.CIID, Template: "Workstations"})
	if !containsField(err, "DeployRequest.Download") {
		t.Errorf("deploying content that is in no package: %v", err)
	}
	if expired != nil {
		_, err = e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "Old", Updates: []updates.CIID{expired.CIID}, Template: "Workstations"})
		if !containsField(err, "Deployment.Updates[0]") {
			t.Errorf("deploying an expired update: %v", err)
		}
	}

	// The wizard with a download into a new deployment package on DP01.
	newPkg := pkg.NewPackage("", "Software Updates - December")
	newPkg.SourcePath = `\\FS01\Updates\December`
	ce.mu.Lock()
	ce.pkgDirs[newPkg.SourcePath] = t.TempDir()
	ce.mu.Unlock()
	dres := must(e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{
		Name: "December security", UpdateList: list.CIID, Template: "Workstations",
		Download: &delivery.DownloadRequest{NewPackage: newPkg, DistributionPoints: []string{"DP01"},
			Source: source.UpdateFiles{FS: os.DirFS(filepath.Join(catalogDir, "content"))}},
	}))
	d := dres.Deployment
	if d.ID == 0 || !d.Mandatory() || !d.Deadline.Equal(t0.Add(7*24*time.Hour)) || d.Settings.SuppressReboot != updates.SuppressServers {
		t.Errorf("deployment: %+v", d)
	}
	if dres.Download == nil || dres.Download.Files == 0 || dres.Download.Package.Type != pkg.TypeSoftwareUpdates {
		t.Fatalf("download: %+v", dres.Download)
	}
	if rows := ce.states(dres.Download.Package.ID); rows["DP01"].State != distpoint.InstallPending {
		t.Errorf("the deployment package on DP01: %+v", rows)
	}
	if r := must(e.site.DistributeContent(e.ctx)); r.Err() != nil {
		t.Fatal(r.Err())
	}
	// Deploying the same updates again needs no download.
	again := must(e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "December pilot", Updates: []updates.CIID{u1.CIID},
		CollectionID: col.ID, NoDeadline: true}))
	if again.Download != nil || again.Deployment.Mandatory() {
		t.Errorf("second deployment: %+v", again)
	}

	// Compliance of the deployment: collection = devices 1–4. Device 1
	// needs both, 2 has both, 3 needs KB u1, 4 never scanned.
	sum := must(e.site.DeploymentCompliance(d.ID))
	if sum.Total != 4 || sum.Compliant != 1 || sum.NonCompliant != 2 || sum.Unknown != 1 {
		t.Errorf("deployment compliance: %+v", sum)
	}
	must(e.site.ReportScans(e.ctx, []delivery.DeviceScan{scan(1, t0.Add(time.Hour), inst(u1.CIID), inst(u2.CIID))}))
	if sum := must(e.site.DeploymentCompliance(d.ID)); sum.Compliant != 2 || sum.NonCompliant != 1 {
		t.Errorf("after device 1 installed: %+v", sum)
	}
	// Device 4 leaves the collection: it no longer counts.
	d4 := device(4, "PC04", xp, "CONTOSO.COM/WORKSTATIONS")
	if err := e.site.PutDevices(e.ctx, d4); err != nil {
		t.Fatal(err)
	}
	if sum := must(e.site.DeploymentCompliance(d.ID)); sum.Total != 3 || sum.Unknown != 0 {
		t.Errorf("after device 4 left the collection: %+v", sum)
	}
	if cs := must(e.site.CollectionCompliance(e.ctx, col.ID)); cs.Total != 3 {
		t.Errorf("collection compliance: %+v", cs)
	}

	// A reopened Site has the same catalog, deployments and summaries.
	reopened, err := delivery.Open(e.ctx, e.store, nil, &delivery.Options{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{d.ID, again.Deployment.ID} {
		if a, b := must(e.site.DeploymentCompliance(id)), must(reopened.DeploymentCompliance(id)); a != b {
			t.Errorf("deployment %d compliance: %+v before reopening, %+v after", id, a, b)
		}
	}
	if a, b := must(e.site.UpdateCompliance(u1.CIID)), must(reopened.UpdateCompliance(u1.CIID)); a != b {
		t.Errorf("update compliance: %+v before reopening, %+v after", a, b)
	}

	// The collection cannot go while deployments target it.
	if err := e.site.DeleteCollection(e.ctx, col.ID); !errors.Is(err, consign.ErrFailedPrecondition) || !strings.Contains(err.Error(), "software update deployment") {
		t.Errorf("deleting a targeted collection: %v", err)
	}

	// The next catalog revision supersedes KB950192: the deployment holding
	// it is flagged, and it can no longer be deployed.
	k192 := e.byKB("950192")
	pilot := must(e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "OS 6.0 pilot", Updates: []updates.CIID{k192.CIID},
		CollectionID: col.ID, NoDeadline: true,
		Download: &delivery.DownloadRequest{PackageID: dres.Download.Package.ID, Source: source.UpdateFiles{FS: os.DirFS(filepath.Join(catalogDir, "content"))}}}))
	if pilot.Download == nil || pilot.Download.Package.SourceVersion != 2 {
		t.Errorf("the pilot's download into the existing package: %+v", pilot.Download)
	}
	rep2 := e.syncCatalog("catalog-v2.json")
	if !slices.Contains(rep2.Expired, k192.CIID) || !slices.Equal(rep2.Deployments, []uint32{pilot.Deployment.ID}) {
		t.Fatalf("catalog-v2: expired %v, flagged deployments %v; want KB950192 (%d) and deployment %d", rep2.Expired, rep2.Deployments, k192.CIID, pilot.Deployment.ID)
	}
	if dd := must(e.site.Deployment(pilot.Deployment.ID)); !dd.ContainsExpiredUpdates {
		t.Errorf("the pilot after KB950192 was superseded: %+v", dd)
	}
	if dd := must(e.site.Deployment(d.ID)); dd.ContainsExpiredUpdates {
		t.Errorf("the December deployment was flagged: %+v", dd)
	}
	_, err = e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "again", Updates: []updates.CIID{k192.CIID}, CollectionID: col.ID})
	if !containsField(err, "Deployment.Updates[0]") || !strings.Contains(err.Error(), "supersed") {
		t.Errorf("deploying a superseded update: %v", err)
	}
}

// UpdatePolicy through the Site: a mandatory deployment downloads before
// its deadline, waits for the collection's maintenance window after it,
// and installs inside the window; a device outside the collection never
// gets the deployment.
func TestUpdatePolicy(t *testing.T) {
	ce := newContentEnv(t)
	e := ce.env
	col := e.seed() // devices 1–4 are members
	e.syncCatalog("catalog.json")
	k := e.byKB("950102")
	must(e.site.ReportScans(e.ctx, []delivery.DeviceScan{
		{ResourceID: 1, ScanTime: t0, States: []updates.UpdateState{{Update: k.CIID, State: updates.Required}}},
		{ResourceID: 5, ScanTime: t0, States: []updates.UpdateState{{Update: k.CIID, State: updates.Required}}},
	}))
	// A nightly two-hour window, 01:00–03:00 UTC.
	c := must(e.site.Collection(col.ID))
	c.ServiceWindows = []collection.ServiceWindow{{ID: "nightly", Name: "Nightly", Enabled: true, Type: collection.WindowGeneral,
		Schedule: schedule.Token{Type: schedule.Interval, Start: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), IsGMT: true, DayDuration: 0, HourDuration: 2, DaySpan: 1}}}
	if err := e.site.UpdateCollection(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	newPkg := pkg.NewPackage("", "Updates")
	newPkg.SourcePath = `\\FS01\Updates\All`
	ce.mu.Lock()
	ce.pkgDirs[newPkg.SourcePath] = t.TempDir()
	ce.mu.Unlock()
	must(e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "KB950102", Updates: []updates.CIID{k.CIID},
		CollectionID: col.ID, Deadline: t0.Add(24 * time.Hour), Settings: &updates.Settings{UseGMTTimes: true},
		Download: &delivery.DownloadRequest{NewPackage: newPkg, Source: source.UpdateFiles{FS: os.DirFS(filepath.Join(catalogDir, "content"))}}}))

	p := must(e.site.UpdatePolicy(e.ctx, 1, nil))
	if len(p.Deployments) != 1 || !slices.Equal(p.Plan.Download, []updates.CIID{k.CIID}) || len(p.Plan.Install) != 0 {
		t.Fatalf("before the deadline: deployments %d, plan %+v", len(p.Deployments), p.Plan)
	}
	// Device 5 needs the update too but is not in the collection.
	if p5 := must(e.site.UpdatePolicy(e.ctx, 5, nil)); len(p5.Deployments) != 0 || len(p5.Plan.Download)+len(p5.Plan.Install) != 0 {
		t.Errorf("device 5 outside the collection: %+v", p5)
	}
	cached := &delivery.UpdateClientState{Downloaded: []updates.CIID{k.CIID}}
	e.clock.Set(t0.Add(25 * time.Hour)) // 10:00, the deadline has passed, no window open
	p = must(e.site.UpdatePolicy(e.ctx, 1, cached))
	if len(p.Plan.Install) != 0 || len(p.Plan.Deployments) != 1 || p.Plan.Deployments[0].Enforcement != updates.EnforcementWaitingForWindow {
		t.Errorf("after the deadline, outside the window: %+v", p.Plan)
	}
	e.clock.Set(time.Date(2026, 12, 3, 1, 10, 0, 0, time.UTC)) // inside the next window
	p = must(e.site.UpdatePolicy(e.ctx, 1, cached))
	if !slices.Equal(p.Plan.Install, []updates.CIID{k.CIID}) {
		t.Errorf("inside the window: %+v", p.Plan)
	}
	if _, err := e.site.UpdatePolicy(e.ctx, 99, nil); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
}

// Content location for an update: any deployment package holding it, on a
// DP where it is installed; the deployment's slow-boundary setting decides
// whether a remote DP may be used.
func TestLocateUpdate(t *testing.T) {
	ce := newContentEnv(t)
	e := ce.env
	col := e.seed()
	for _, b := range []distpoint.Boundary{
		{Name: "HQ", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast},
		{Name: "Branch", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.9.0.0/16"), Speed: distpoint.Slow},
	} {
		if err := e.site.AddBoundary(e.ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	d1, d2 := device(1, "PC01", win7, "X"), device(2, "PC02", win7, "X")
	d1.IPAddresses, d2.IPAddresses = []string{"10.1.0.5"}, []string{"10.9.0.5"}
	if err := e.site.PutDevices(e.ctx, d1, d2); err != nil {
		t.Fatal(err)
	}
	e.syncCatalog("catalog.json")
	k := e.byKB("950102")
	if r := must(e.site.LocateUpdate(e.ctx, 1, k.CIID, 0)); r.Action != distpoint.Wait {
		t.Errorf("before any package holds it: %+v", r)
	}
	newPkg := pkg.NewPackage("", "Updates")
	newPkg.SourcePath = `\\FS01\Updates\All`
	ce.mu.Lock()
	ce.pkgDirs[newPkg.SourcePath] = t.TempDir()
	ce.mu.Unlock()
	dep := func(slowOK bool) uint32 {
		return must(e.site.DeploySoftwareUpdates(e.ctx, delivery.DeployRequest{Name: "KB950102", Updates: []updates.CIID{k.CIID},
			CollectionID: col.ID, Settings: &updates.Settings{DownloadOnSlowBoundary: slowOK},
			Download: &delivery.DownloadRequest{NewPackage: newPkg, DistributionPoints: []string{"DP01", "DP02"},
				Source: source.UpdateFiles{FS: os.DirFS(filepath.Join(catalogDir, "content"))}}})).Deployment.ID
	}
	strict := dep(false)
	if r := must(e.site.LocateUpdate(e.ctx, 1, k.CIID, strict)); r.Action != distpoint.Wait {
		t.Errorf("before the package is on a DP: %+v", r)
	}
	if rep := must(e.site.DistributeContent(e.ctx)); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	r := must(e.site.LocateUpdate(e.ctx, 1, k.CIID, strict))
	if r.Action != distpoint.Download || len(r.Locations) != 2 || !r.Locations[0].Local {
		t.Errorf("fast boundary: %+v", r)
	}
	if r := must(e.site.LocateUpdate(e.ctx, 2, k.CIID, strict)); r.Action != distpoint.DoNotRun {
		t.Errorf("slow boundary, do not install: %+v", r)
	}
	lenient := dep(true)
	if r := must(e.site.LocateUpdate(e.ctx, 2, k.CIID, lenient)); r.Action != distpoint.Download || r.Locations[0].Local {
		t.Errorf("slow boundary, download allowed: %+v", r)
	}
}
