package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// errInjected is the failure a faultLibrary injects.
var errInjected = errors.New("injected failure: the DP share is unreachable")

// faultLibrary wraps a DP's content library and fails PutBlob, Publish and
// Remove on demand: the next n calls of each, and any call with a
// probability. A failing Publish either fails before publishing or
// publishes and then reports failure (the process dies before it hears the
// answer). The inner library is replaced when the test "restarts".
type faultLibrary struct {
	distpoint.Library

	mu         sync.Mutex
	rng        *rand.Rand
	prob       float64 // chance of each PutBlob, Publish and Remove failing
	putFails   int     // the next putFails PutBlob calls fail
	pubFails   int     // the next pubFails Publish calls fail
	pubAfter   bool    // a failing Publish publishes first
	rmFails    int     // the next rmFails Remove calls fail
	injections int
}

// fail reports whether this call fails, consuming one from *next.
func (f *faultLibrary) fail(next *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := false
	if *next > 0 {
		*next--
		fail = true
	} else if f.prob > 0 && f.rng.Float64() < f.prob {
		fail = true
	}
	if fail {
		f.injections++
	}
	return fail
}

func (f *faultLibrary) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prob, f.putFails, f.pubFails, f.rmFails = 0, 0, 0, 0
}

func (f *faultLibrary) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	if f.fail(&f.putFails) {
		// Read part of the content first, as a copy cut off mid-file does.
		_, _ = io.CopyN(io.Discard, r, size/2)
		return errInjected
	}
	return f.Library.PutBlob(ctx, sum, size, r)
}

func (f *faultLibrary) Publish(ctx context.Context, id consign.ObjectID, v uint32, m pkg.Manifest) error {
	if f.fail(&f.pubFails) {
		f.mu.Lock()
		after := f.pubAfter
		f.mu.Unlock()
		if after {
			if err := f.Library.Publish(ctx, id, v, m); err != nil {
				return err
			}
		}
		return errInjected
	}
	return f.Library.Publish(ctx, id, v, m)
}

func (f *faultLibrary) Remove(ctx context.Context, id consign.ObjectID, v uint32) error {
	if f.fail(&f.rmFails) {
		return errInjected
	}
	return f.Library.Remove(ctx, id, v)
}

var convDPs = []string{"DP01", "DP02", "DP03"}

// convMachine drives content distribution over three filesystem DPs with
// random Manage Distribution Points operations, source updates, injected
// failures, restarts and clock jumps, and checks after each step that no
// row is in an undefined state and that no row claims an installed version
// the DP does not hold with exactly that version's content.
type convMachine struct {
	ctx    context.Context
	store  *memstore.Store
	clock  *fakeClock
	site   *delivery.Site
	retry  distpoint.Retry
	dirs   map[string]string
	inner  map[string]*fslibrary.Library // the DPs' libraries, for checking
	faults map[string]*faultLibrary      // what the Site uses

	mu       sync.Mutex
	srcs     map[consign.ObjectID]fstest.MapFS // package source folders
	pkgs     []consign.ObjectID
	versions map[consign.ObjectID]map[uint32]pkg.Manifest // every version ever recorded
	dirty    map[consign.ObjectID]bool                    // source edited, not yet updated
	desired  map[consign.ObjectID]map[string]bool         // DPs the package should be on
	// touched is set when the DPs' content may have changed since the
	// last check (a pass or a restart), so that check reads it again.
	touched bool
}

// convContent is drawn from a small set, so that files of both packages
// and of several versions share content (single instance by SHA-256) and
// removing one package must not take content another still uses.
func convContent(t *rapid.T, label string) []byte {
	n := rapid.IntRange(0, 4).Draw(t, label)
	return fmt.Appendf(nil, "content %d %s", n, string(make([]byte, 100*n)))
}

func newConvMachine(rt *rapid.T, base string) *convMachine {
	m := &convMachine{
		ctx: context.Background(), store: memstore.New(), clock: &fakeClock{now: t0},
		// A small retry budget reaches Install Failed and Removal Failed,
		// which only the administrator gets out of (refresh, remove again).
		retry: distpoint.Retry{Count: rapid.SampledFrom([]int{1, 2, 1000}).Draw(rt, "retries"), Delay: 30 * time.Minute},
		dirs:  map[string]string{}, inner: map[string]*fslibrary.Library{}, faults: map[string]*faultLibrary{},
		srcs: map[consign.ObjectID]fstest.MapFS{}, versions: map[consign.ObjectID]map[uint32]pkg.Manifest{},
		dirty: map[consign.ObjectID]bool{}, desired: map[consign.ObjectID]map[string]bool{},
	}
	for i, nal := range convDPs {
		dir, err := os.MkdirTemp(base, nal+"-*")
		if err != nil {
			rt.Fatal(err)
		}
		m.dirs[nal] = dir
		m.faults[nal] = &faultLibrary{rng: rand.New(rand.NewPCG(uint64(i), 1))}
	}
	m.openLibraries(rt)
	m.site = m.open(rt)
	for _, nal := range convDPs {
		if err := m.site.AddDistributionPoint(m.ctx, &distpoint.DistributionPoint{NALPath: nal, Name: nal, SiteCode: "CEN", Kind: distpoint.Standard}); err != nil {
			rt.Fatal(err)
		}
	}
	for i := range rapid.IntRange(1, 2).Draw(rt, "packages") {
		src := fstest.MapFS{}
		for j := range rapid.IntRange(1, 3).Draw(rt, "files") {
			src[fmt.Sprintf("f%d.bin", j)] = &fstest.MapFile{Data: convContent(rt, "content")}
		}
		p := pkg.NewPackage("", fmt.Sprintf("App %d", i))
		p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, fmt.Sprintf(`\\FS01\Source\App%d`, i), m.manifestOf(rt, src)
		p, err := m.site.CreatePackage(m.ctx, p)
		if err != nil {
			rt.Fatal(err)
		}
		m.mu.Lock()
		m.srcs[p.ID] = src
		m.mu.Unlock()
		m.pkgs = append(m.pkgs, p.ID)
		m.versions[p.ID] = map[uint32]pkg.Manifest{p.SourceVersion: p.Manifest}
		m.desired[p.ID] = map[string]bool{}
	}
	return m
}

// openLibraries opens each DP's directory afresh (as a restarted process
// does, clearing what an interrupted write left behind).
func (m *convMachine) openLibraries(rt *rapid.T) {
	for _, nal := range convDPs {
		lib, err := fslibrary.Open(m.dirs[nal])
		if err != nil {
			rt.Fatal(err)
		}
		m.inner[nal] = lib
		m.faults[nal].Library = lib
	}
}

func (m *convMachine) open(rt *rapid.T) *delivery.Site {
	s, err := delivery.Open(m.ctx, m.store, nil, &delivery.Options{
		Clock:   m.clock.Now,
		DPRetry: m.retry,
		Libraries: func(nal string) (distpoint.Library, error) {
			if f, ok := m.faults[nal]; ok {
				return f, nil
			}
			return nil, fmt.Errorf("no DP %s", nal)
		},
		Sources: func(p *pkg.Package) (fs.FS, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			src, ok := m.srcs[p.ID]
			if !ok {
				return nil, fmt.Errorf("no source for %s", p.ID)
			}
			return cloneFS(src), nil
		},
		ThreadsPerPackage:  rapid.IntRange(1, 3).Draw(rt, "threads"),
		PackagesInParallel: rapid.IntRange(1, 2).Draw(rt, "parallel"),
	})
	if err != nil {
		rt.Fatal(err)
	}
	return s
}

func (m *convMachine) manifestOf(rt *rapid.T, src fstest.MapFS) pkg.Manifest {
	mf, err := source.ManifestFromFS(m.ctx, src)
	if err != nil {
		rt.Fatal(err)
	}
	return mf
}

func (m *convMachine) rows(rt *rapid.T, id consign.ObjectID) []distpoint.PackageStatus {
	rows, err := m.site.PackageStatus(id)
	if err != nil {
		rt.Fatalf("PackageStatus(%s): %v", id, err)
	}
	return rows
}

// add copies a package to some DPs (New Distribution Points wizard).
func (m *convMachine) add(rt *rapid.T) {
	id := rapid.SampledFrom(m.pkgs).Draw(rt, "package")
	dps := rapid.SliceOfNDistinct(rapid.SampledFrom(convDPs), 1, len(convDPs), rapid.ID).Draw(rt, "dps")
	if err := m.site.AddPackageToDistributionPoints(m.ctx, id, dps...); err != nil {
		rt.Fatalf("AddPackageToDistributionPoints(%s, %v): %v", id, dps, err)
	}
	for _, nal := range dps {
		m.desired[id][nal] = true
	}
}

// editSource changes, adds or removes a file of a package's source, and
// usually records it as a new SourceVersion ("Update all distribution
// points"). An edit left unrecorded must make copies fail, never install
// content that differs from the version's manifest.
func (m *convMachine) editSource(rt *rapid.T) {
	id := rapid.SampledFrom(m.pkgs).Draw(rt, "package")
	m.mu.Lock()
	src := cloneFS(m.srcs[id])
	m.mu.Unlock()
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range src {
			if !yield(k) {
				return
			}
		}
	})
	switch op := rapid.IntRange(0, 2).Draw(rt, "edit"); {
	case op == 0 || op == 2 && len(names) == 1:
		name := rapid.SampledFrom(names).Draw(rt, "file")
		src[name] = &fstest.MapFile{Data: convContent(rt, "content")}
	case op == 1:
		src[fmt.Sprintf("new%d.bin", rapid.IntRange(0, 9).Draw(rt, "new"))] = &fstest.MapFile{Data: convContent(rt, "content")}
	default:
		delete(src, rapid.SampledFrom(names).Draw(rt, "file"))
	}
	m.mu.Lock()
	m.srcs[id] = src
	m.mu.Unlock()
	m.dirty[id] = true
	if rapid.IntRange(0, 4).Draw(rt, "update") > 0 {
		m.update(rt, id)
	}
}

// update records the package's current source as a new SourceVersion.
func (m *convMachine) update(rt *rapid.T, id consign.ObjectID) {
	m.mu.Lock()
	src := cloneFS(m.srcs[id])
	m.mu.Unlock()
	p, err := m.site.UpdatePackageSource(m.ctx, id, m.manifestOf(rt, src))
	if err != nil {
		rt.Fatalf("UpdatePackageSource(%s): %v", id, err)
	}
	if _, ok := m.versions[id][p.SourceVersion]; ok {
		rt.Fatalf("UpdatePackageSource(%s) reused version %d", id, p.SourceVersion)
	}
	m.versions[id][p.SourceVersion] = p.Manifest
	m.dirty[id] = false
}

// refresh recopies the current version to some DPs that have the package.
func (m *convMachine) refresh(rt *rapid.T) {
	id := rapid.SampledFrom(m.pkgs).Draw(rt, "package")
	var on []string
	for _, r := range m.rows(rt, id) {
		if !r.Removing() {
			on = append(on, r.NALPath)
		}
	}
	if len(on) == 0 {
		rt.Skip("the package is on no DP")
	}
	dps := rapid.SliceOfNDistinct(rapid.SampledFrom(on), 1, len(on), rapid.ID).Draw(rt, "dps")
	if err := m.site.RefreshPackageOnDistributionPoints(m.ctx, id, dps...); err != nil {
		rt.Fatalf("RefreshPackageOnDistributionPoints(%s, %v): %v", id, dps, err)
	}
}

// remove removes a package from some DPs that have a row for it.
func (m *convMachine) remove(rt *rapid.T) {
	id := rapid.SampledFrom(m.pkgs).Draw(rt, "package")
	var on []string
	for _, r := range m.rows(rt, id) {
		on = append(on, r.NALPath)
	}
	if len(on) == 0 {
		rt.Skip("the package is on no DP")
	}
	dps := rapid.SliceOfNDistinct(rapid.SampledFrom(on), 1, len(on), rapid.ID).Draw(rt, "dps")
	if err := m.site.RemovePackageFromDistributionPoints(m.ctx, id, dps...); err != nil {
		rt.Fatalf("RemovePackageFromDistributionPoints(%s, %v): %v", id, dps, err)
	}
	for _, nal := range dps {
		m.desired[id][nal] = false
	}
}

// pass runs the distributor once.
func (m *convMachine) pass(rt *rapid.T) {
	m.touched = true
	rep, err := m.site.DistributeContent(m.ctx)
	if err != nil {
		rt.Fatalf("DistributeContent: %v", err)
	}
	for _, r := range rep.Results {
		if r.Err == nil && !r.Removed && r.State != distpoint.Installed {
			rt.Fatalf("%s on %s: no error but state %v", r.PackageID, r.NALPath, r.State)
		}
	}
}

// inject sets up failures on one DP.
func (m *convMachine) inject(rt *rapid.T) {
	f := m.faults[rapid.SampledFrom(convDPs).Draw(rt, "dp")]
	prob := rapid.SampledFrom([]float64{0, 0.2, 0.5, 1}).Draw(rt, "probability")
	put := rapid.IntRange(0, 3).Draw(rt, "putFails")
	pub := rapid.IntRange(0, 2).Draw(rt, "publishFails")
	after := rapid.Bool().Draw(rt, "publishThenFail")
	rm := rapid.IntRange(0, 2).Draw(rt, "removeFails")
	f.mu.Lock()
	f.prob, f.putFails, f.pubFails, f.pubAfter, f.rmFails = prob, put, pub, after, rm
	f.mu.Unlock()
}

// heal stops injecting failures on one DP.
func (m *convMachine) heal(rt *rapid.T) {
	m.faults[rapid.SampledFrom(convDPs).Draw(rt, "dp")].clear()
}

// restart drops the Site and opens a new one over the same store, and
// reopens the DPs' libraries, as a restarted process does.
func (m *convMachine) restart(rt *rapid.T) {
	if err := m.site.Close(); err != nil {
		rt.Fatal(err)
	}
	m.openLibraries(rt)
	m.site = m.open(rt)
	m.touched = true
}

// advance moves the clock, usually past the retry delay.
func (m *convMachine) advance(rt *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{time.Minute, m.retry.Delay + time.Second, 2 * m.retry.Delay}).Draw(rt, "advance")
	m.clock.Set(m.clock.Now().Add(d))
}

var validStates = []distpoint.State{
	distpoint.Installed, distpoint.InstallPending, distpoint.InstallRetrying, distpoint.InstallFailed,
	distpoint.RemovalPending, distpoint.RemovalRetrying, distpoint.RemovalFailed,
}

// check holds after every step. The DPs' content is read again only when
// it may have changed; the rows are checked every time.
func (m *convMachine) check(rt *rapid.T) {
	now := m.clock.Now()
	content := m.touched
	m.touched = false
	for _, id := range m.pkgs {
		p, err := m.site.Package(id)
		if err != nil {
			rt.Fatal(err)
		}
		if want := m.versions[id][p.SourceVersion]; want.Hash() != p.Manifest.Hash() {
			rt.Fatalf("%s: the package's manifest is not the one recorded for version %d", id, p.SourceVersion)
		}
		for _, r := range m.rows(rt, id) {
			if !slices.Contains(validStates, r.State) {
				rt.Fatalf("%s on %s: undefined state %v", id, r.NALPath, r.State)
			}
			if r.TargetVersion > p.SourceVersion || r.SourceVersion > p.SourceVersion {
				rt.Fatalf("%s on %s: versions %d→%d beyond the package's %d", id, r.NALPath, r.SourceVersion, r.TargetVersion, p.SourceVersion)
			}
			switch r.State {
			case distpoint.InstallPending, distpoint.InstallRetrying, distpoint.RemovalPending, distpoint.RemovalRetrying:
				// Every non-terminal state has a way out: it is due now or
				// once the retry delay has passed.
				if !r.Due(now.Add(m.retry.Delay), m.retry) {
					rt.Fatalf("%s on %s: %v and never due (last attempt %v)", id, r.NALPath, r.State, r.LastAttempt)
				}
			case distpoint.Installed:
				if !content {
					continue
				}
				want, ok := m.versions[id][r.SourceVersion]
				if !ok {
					rt.Fatalf("%s on %s: Installed at version %d, which was never recorded", id, r.NALPath, r.SourceVersion)
				}
				got, err := m.inner[r.NALPath].Version(m.ctx, id, r.SourceVersion)
				if err != nil {
					rt.Fatalf("%s on %s: Installed at version %d but the DP does not hold it: %v", id, r.NALPath, r.SourceVersion, err)
				}
				if got.Hash() != want.Hash() {
					rt.Fatalf("%s on %s: Installed at version %d with content that differs from that version's manifest", id, r.NALPath, r.SourceVersion)
				}
				if r.SourceVersion == p.SourceVersion && got.Hash() != p.Manifest.Hash() {
					rt.Fatalf("%s on %s: Installed at the current version with other content", id, r.NALPath)
				}
			}
		}
	}
}

// audit checks that whatever a DP holds of a package is exactly what the
// site recorded for that version (versions stay on a DP until the package
// is removed from it, so a wrong one published at any step is found here).
func (m *convMachine) audit(rt *rapid.T) {
	for _, id := range m.pkgs {
		for _, nal := range convDPs {
			vs, err := m.inner[nal].Versions(m.ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			for _, v := range vs {
				got, err := m.inner[nal].Version(m.ctx, id, v)
				if err != nil {
					rt.Fatal(err)
				}
				if want, ok := m.versions[id][v]; !ok || got.Hash() != want.Hash() {
					rt.Fatalf("%s on %s: version %d published with content the site never recorded for it", id, nal, v)
				}
			}
		}
	}
}

// repair does what an administrator does about rows that ran out of
// retries: refresh the DPs in Install Failed, remove again from those in
// Removal Failed. It reports whether there was anything to do.
func (m *convMachine) repair(rt *rapid.T) bool {
	acted := false
	for _, id := range m.pkgs {
		var refresh, remove []string
		for _, r := range m.rows(rt, id) {
			switch r.State {
			case distpoint.InstallFailed:
				refresh = append(refresh, r.NALPath)
			case distpoint.RemovalFailed:
				remove = append(remove, r.NALPath)
			}
		}
		if len(refresh) > 0 {
			if err := m.site.RefreshPackageOnDistributionPoints(m.ctx, id, refresh...); err != nil {
				rt.Fatalf("RefreshPackageOnDistributionPoints(%s, %v): %v", id, refresh, err)
			}
		}
		if len(remove) > 0 {
			if err := m.site.RemovePackageFromDistributionPoints(m.ctx, id, remove...); err != nil {
				rt.Fatalf("RemovePackageFromDistributionPoints(%s, %v): %v", id, remove, err)
			}
		}
		acted = acted || len(refresh)+len(remove) > 0
	}
	return acted
}

// converge stops the failures and runs passes until nothing is due, then
// checks that the desired state was reached with every file verified.
func (m *convMachine) converge(rt *rapid.T) {
	m.audit(rt)
	for _, f := range m.faults {
		f.clear()
	}
	for _, id := range m.pkgs {
		if m.dirty[id] {
			m.update(rt, id)
		}
	}
	const maxPasses = 10
	settled := false
	for range maxPasses {
		repaired := m.repair(rt)
		due := false
		for _, id := range m.pkgs {
			for _, r := range m.rows(rt, id) {
				due = due || r.Due(m.clock.Now().Add(m.retry.Delay+time.Second), m.retry)
			}
		}
		if !due && !repaired {
			settled = true
			break
		}
		m.clock.Set(m.clock.Now().Add(m.retry.Delay + time.Second))
		m.pass(rt)
		m.check(rt)
	}
	if !settled {
		rt.Fatalf("rows still due after %d passes without failures", maxPasses)
	}
	m.audit(rt)
	for _, id := range m.pkgs {
		p, err := m.site.Package(id)
		if err != nil {
			rt.Fatal(err)
		}
		rows := map[string]distpoint.PackageStatus{}
		for _, r := range m.rows(rt, id) {
			rows[r.NALPath] = r
		}
		installed := 0
		for _, nal := range convDPs {
			r, ok := rows[nal]
			if m.desired[id][nal] {
				if !ok || r.State != distpoint.Installed || r.SourceVersion != p.SourceVersion {
					rt.Fatalf("%s on %s: %+v, want Installed at version %d", id, nal, r, p.SourceVersion)
				}
				installed++
				continue
			}
			if ok {
				rt.Fatalf("%s on %s: removed, yet the row is still there: %+v", id, nal, r)
			}
			if vs, err := m.inner[nal].Versions(m.ctx, id); err != nil || len(vs) != 0 {
				rt.Fatalf("%s on %s: removed, yet the DP holds versions %v (%v)", id, nal, vs, err)
			}
		}
		rep, err := m.site.ValidateContent(m.ctx, id)
		if err != nil {
			rt.Fatalf("ValidateContent(%s): %v", id, err)
		}
		if rep.Err() != nil || len(rep.Results) != installed {
			rt.Fatalf("ValidateContent(%s): %d results, %v; want %d intact", id, len(rep.Results), rep.Err(), installed)
		}
		for _, r := range m.rows(rt, id) {
			if r.State != distpoint.Installed {
				rt.Fatalf("%s on %s: %v after validation", id, r.NALPath, r.State)
			}
		}
	}
}

// After any sequence of copy, update, refresh and remove operations,
// distribution passes, injected DP failures, restarts and clock jumps, no
// row is ever in an undefined state or claims content the DP does not
// hold; once failures stop, the site converges to the desired state with
// every file's hash verified on every DP.
func TestContentDistributionConverges(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		run, err := os.MkdirTemp(base, "run-*")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(run)
		m := newConvMachine(rt, run)
		rt.Repeat(map[string]func(*rapid.T){
			"add":     m.add,
			"edit":    m.editSource,
			"refresh": m.refresh,
			"remove":  m.remove,
			"pass":    m.pass,
			"pass2":   m.pass, // passes are the common step
			"inject":  m.inject,
			"heal":    m.heal,
			"restart": m.restart,
			"advance": m.advance,
			"":        m.check,
		})
		m.converge(rt)
	})
}
