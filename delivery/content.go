package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// ProgressEvent reports distribution work as it happens: a file copied to a
// DP, or a package-on-DP row changing state.
type ProgressEvent struct {
	PackageID consign.ObjectID
	NALPath   string
	// File and Bytes are set when a file reached the DP (or was already
	// there: Skipped).
	File    string
	Bytes   int64
	Skipped bool
	// State is set when the row changed state.
	State *distpoint.State
}

// DPResult is the outcome of one package on one DP in a DistributeContent
// pass.
type DPResult struct {
	PackageID consign.ObjectID
	NALPath   string
	// State is the row's state after the pass (a removed row reports
	// RemovalPending with Removed set).
	State   distpoint.State
	Removed bool
	// Files and Bytes count what was copied; Skipped files were already on
	// the DP, verified (single instance).
	Files, Skipped int
	Bytes          int64
	// Share is the installed version's package share on the DP, when its
	// library lays one out (distpoint.Materializer): the tree clients run
	// the program from when the advertisement says run from the DP.
	Share string
	// Err is this DP's failure, if any.
	Err error
}

// DistributionReport is the outcome of a DistributeContent pass, one
// result per package × DP that had work.
type DistributionReport struct {
	Results []DPResult
}

// Err joins every DP's failure, each naming its package and DP; nil when
// all succeeded. One DP failing never stops the others.
func (r *DistributionReport) Err() error {
	var errs *multierror.Error
	for _, res := range r.Results {
		if res.Err != nil {
			errs = multierror.Append(errs, fmt.Errorf("package %s on %s: %w", res.PackageID, res.NALPath, res.Err))
		}
	}
	return errs.ErrorOrNil()
}

// work is one package × DP row the distributor acts on.
type work struct {
	row distpoint.PackageStatus
	pkg *pkg.Package
}

// DistributeContent does the distribution work the package-on-DP rows ask
// for (§4.1), as Distribution Manager does: every row in Install Pending, or
// Install Retrying whose retry delay has passed, gets its target version
// copied — each file read from the package source, verified against the
// package's manifest while it is written, stored once per DP however many
// versions or packages share it — and published on the DP atomically; every
// row in Removal Pending (or due for a retry) has its content removed.
// Each outcome is written back to the row, so the work is level-triggered:
// a pass after a crash resumes where the last one stopped, and files
// already verified on a DP are not copied again.
//
// Packages are worked on in parallel (Options.PackagesInParallel), each
// package's DPs in parallel (Options.ThreadsPerPackage), with at most
// Options.BytesInFlight bytes being copied at once. The source manifest of a
// package version is read once however many DPs need it. One DP failing
// never stops the others: the report has a result per row, and its Err
// joins every failure with the DP named.
func (s *Site) DistributeContent(ctx context.Context) (*DistributionReport, error) {
	return s.distributeContent(ctx, "")
}

// distributeContent is DistributeContent, limited to one package when only
// is set.
func (s *Site) distributeContent(ctx context.Context, only consign.ObjectID) (*DistributionReport, error) {
	// One pass at a time per Site: a pass's garbage collection must not
	// take blobs another pass has put but not yet published.
	s.distMu.Lock()
	defer s.distMu.Unlock()
	if s.opts.Libraries == nil {
		return nil, &consign.Error{Code: consign.ErrFailedPrecondition, Op: "DistributeContent", Err: errors.New("Options.Libraries is not set: the Site cannot reach any distribution point's content")}
	}
	var todo []work
	err := s.read("DistributeContent", func(st *state) error {
		now := s.opts.Clock()
		for _, id := range sortedKeys(st.pkgDPs) {
			if only != "" && id != only {
				continue
			}
			for _, nal := range sortedKeys(st.pkgDPs[id]) {
				row := *st.pkgDPs[id][nal]
				if row.Due(now, s.opts.DPRetry) {
					todo = append(todo, work{row: row, pkg: st.packages[id]})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	byPkg := map[consign.ObjectID][]int{}
	var order []consign.ObjectID
	for i, w := range todo {
		if _, ok := byPkg[w.row.PackageID]; !ok {
			order = append(order, w.row.PackageID)
		}
		byPkg[w.row.PackageID] = append(byPkg[w.row.PackageID], i)
	}
	report := &DistributionReport{Results: make([]DPResult, len(todo))}
	d := &distributor{s: s, bytes: semaphore.NewWeighted(s.opts.BytesInFlight)}
	packages, pctx := errgroup.WithContext(ctx)
	packages.SetLimit(s.opts.PackagesInParallel)
	for _, id := range order {
		packages.Go(func() error {
			dps, dctx := errgroup.WithContext(pctx)
			dps.SetLimit(s.opts.ThreadsPerPackage)
			for _, i := range byPkg[id] {
				dps.Go(func() error {
					report.Results[i] = d.do(dctx, todo[i])
					return nil // a DP's failure is in its result, not the group's
				})
			}
			return dps.Wait()
		})
	}
	if err := packages.Wait(); err != nil {
		return report, err
	}
	d.recordAvailability(ctx)
	d.collectGarbage(ctx)
	return report, ctx.Err()
}

// collectGarbage deletes, on each DP a package was removed from in this
// pass, the blobs no published version references any more. It runs after
// every copy of the pass has published, so it cannot take a blob from under
// a copy in flight; a failure only leaves unreferenced blobs for the next
// pass and is logged.
func (d *distributor) collectGarbage(ctx context.Context) {
	d.mu.Lock()
	nals := sortedKeys(d.removedFrom)
	d.mu.Unlock()
	for _, nal := range nals {
		lib, err := d.s.opts.Libraries(nal)
		if err == nil {
			_, err = lib.GC(ctx)
		}
		if err != nil {
			d.s.opts.Logger.Warn("collecting unreferenced content failed; the next pass tries again", "dp", nal, "err", err)
		}
	}
}

// distributor carries one DistributeContent pass's shared state.
type distributor struct {
	s       *Site
	bytes   *semaphore.Weighted
	sources singleflight.Group

	mu          sync.Mutex
	removedFrom map[string]bool  // DPs to collect unreferenced blobs on
	online      map[string]bool  // DPs worked on: false if any found it unreachable
	checked     map[string]fs.FS // sources checked in this pass, by package/version
}

// do works one row and records the outcome on it.
func (d *distributor) do(ctx context.Context, w work) DPResult {
	res := DPResult{PackageID: w.row.PackageID, NALPath: w.row.NALPath}
	lib, err := d.s.opts.Libraries(w.row.NALPath)
	if err == nil && lib == nil {
		err = fmt.Errorf("no content library for %s", w.row.NALPath)
	}
	reached := err == nil
	removing := w.row.Removing()
	if err == nil {
		if removing {
			err = d.remove(ctx, lib, w.row)
		} else {
			err = d.copy(ctx, lib, w, &res)
		}
	}
	if ctx.Err() != nil && err != nil {
		// Cancelled: leave the row as it is; the next pass redoes it.
		res.State, res.Err = w.row.State, err
		return res
	}
	// A DP that could not be opened, or whose library says it is
	// unreachable, is offline; one that worked is online.
	d.reach(w.row.NALPath, reached && !errors.Is(err, consign.ErrUnavailable))
	ev := distpoint.CopySucceeded
	switch {
	case removing && err == nil:
		ev = distpoint.RemoveSucceeded
	case removing:
		ev = distpoint.RemoveFailed
	case err != nil:
		ev = distpoint.CopyFailed
	}
	state, removed, rerr := d.s.recordDP(ctx, w.row, ev, err, res.Share)
	res.State, res.Removed, res.Err = state, removed, errors.Join(err, rerr)
	return res
}

// copy brings the row's target version to the DP.
func (d *distributor) copy(ctx context.Context, lib distpoint.Library, w work, res *DPResult) error {
	p := w.pkg
	if p == nil {
		return fmt.Errorf("package %s no longer exists", w.row.PackageID)
	}
	if w.row.TargetVersion != p.SourceVersion {
		return fmt.Errorf("the row targets version %d but the package is at %d; the next pass copies it", w.row.TargetVersion, p.SourceVersion)
	}
	fsys, err := d.source(ctx, p)
	if err != nil {
		return err
	}
	if w.row.SourceVersion == w.row.TargetVersion {
		// A refresh (repair) of the installed version: Verify discards any
		// damaged blob, so the loop below copies it again (§2.4, §5.2
		// item 3).
		if _, err := lib.Verify(ctx, p.ID, p.SourceVersion); err != nil && !errors.Is(err, consign.ErrNotFound) {
			return err
		}
	}
	for _, f := range p.Manifest.Sorted().Files {
		if size, ok, err := lib.HasBlob(ctx, f.SHA256); err != nil {
			return err
		} else if ok && size == f.Size {
			res.Skipped++
			d.progress(ProgressEvent{PackageID: p.ID, NALPath: w.row.NALPath, File: f.Path, Bytes: f.Size, Skipped: true})
			continue
		}
		if err := d.put(ctx, lib, fsys, f); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		res.Files++
		res.Bytes += f.Size
		d.progress(ProgressEvent{PackageID: p.ID, NALPath: w.row.NALPath, File: f.Path, Bytes: f.Size})
	}
	if err := lib.Publish(ctx, p.ID, p.SourceVersion, p.Manifest); err != nil {
		return err
	}
	// Like a ConfigMgr DP's package share, the version's tree is laid out
	// as soon as it is installed, so any advertisement may run it from the
	// DP (§3.4).
	if m, ok := lib.(distpoint.Materializer); ok {
		dir, err := m.Materialize(ctx, p.ID, p.SourceVersion)
		if err != nil {
			return fmt.Errorf("laying out the package share: %w", err)
		}
		res.Share = dir
	}
	// A DP holds the package's current version only: older ones go, and
	// their blobs with the pass's garbage collection.
	versions, err := lib.Versions(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if v < p.SourceVersion {
			if err := lib.Remove(ctx, p.ID, v); err != nil && !errors.Is(err, consign.ErrNotFound) {
				return err
			}
			d.collect(w.row.NALPath)
		}
	}
	return nil
}

// put copies one file, holding its size (capped at the whole budget) of the
// bytes-in-flight budget.
func (d *distributor) put(ctx context.Context, lib distpoint.Library, fsys fs.FS, f pkg.File) error {
	weight := min(f.Size, d.s.opts.BytesInFlight)
	if err := d.bytes.Acquire(ctx, weight); err != nil {
		return err
	}
	defer d.bytes.Release(weight)
	r, err := source.Open(fsys, f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	return lib.PutBlob(ctx, f.SHA256, f.Size, r)
}

// source opens the package source and checks, once per pass however many
// DPs ask, that it still is the content of the package's SourceVersion. A
// source edited without "Update all distribution points" would otherwise
// put files on a new DP that do not match the stored hashes — ConfigMgr's
// classic content hash mismatch (§5.2 item 3); here the copy fails instead.
func (d *distributor) source(ctx context.Context, p *pkg.Package) (fs.FS, error) {
	key := fmt.Sprintf("%s/%d", p.ID, p.SourceVersion)
	d.mu.Lock()
	if fsys, ok := d.checked[key]; ok {
		d.mu.Unlock()
		return fsys, nil
	}
	d.mu.Unlock()
	v, err, _ := d.sources.Do(key, func() (any, error) {
		fsys, err := d.s.opts.Sources(p)
		if err != nil {
			return nil, fmt.Errorf("opening the package source: %w", err)
		}
		m, err := source.ManifestFromFS(ctx, fsys)
		if err != nil {
			return nil, fmt.Errorf("reading the package source: %w", err)
		}
		if m.Hash() != p.Manifest.Hash() {
			return nil, fmt.Errorf("the package source no longer matches version %d (%s); update the package (UpdatePackageSource) to distribute the new content",
				p.SourceVersion, manifestDiff(p.Manifest, m))
		}
		d.mu.Lock()
		if d.checked == nil {
			d.checked = make(map[string]fs.FS)
		}
		d.checked[key] = fsys
		d.mu.Unlock()
		return fsys, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(fs.FS), nil
}

// remove unpublishes every version of the package on the DP; its blobs go
// when the pass collects garbage.
func (d *distributor) remove(ctx context.Context, lib distpoint.Library, row distpoint.PackageStatus) error {
	versions, err := lib.Versions(ctx, row.PackageID)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if err := lib.Remove(ctx, row.PackageID, v); err != nil && !errors.Is(err, consign.ErrNotFound) {
			return err
		}
	}
	d.collect(row.NALPath)
	return nil
}

// reach notes whether a row's work reached its DP.
func (d *distributor) reach(nal string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.online == nil {
		d.online = make(map[string]bool)
	}
	if prev, seen := d.online[nal]; !seen || prev {
		d.online[nal] = ok
	}
}

// recordAvailability records, in one write after the pass, which DPs the
// pass found reachable (SetDistributionPointAvailability). A failure only
// leaves the old availability and is logged.
func (d *distributor) recordAvailability(ctx context.Context) {
	d.mu.Lock()
	online := maps.Clone(d.online)
	d.mu.Unlock()
	err := d.s.commit(ctx, "DistributeContent", func(t *tx) error {
		for _, nal := range sortedKeys(online) {
			if _, ok := t.st.dps[nal]; ok { // not deleted meanwhile
				t.setAvailability(nal, online[nal])
			}
		}
		return nil
	})
	if err != nil {
		d.s.opts.Logger.Warn("recording DP availability failed; the next pass records it", "err", err)
	}
}

// collect marks a DP for garbage collection at the end of the pass.
func (d *distributor) collect(nal string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removedFrom == nil {
		d.removedFrom = make(map[string]bool)
	}
	d.removedFrom[nal] = true
}

func (d *distributor) progress(e ProgressEvent) {
	if d.s.opts.Progress != nil {
		d.s.opts.Progress(e)
	}
}

// recordDP writes a distributor outcome to the package-on-DP row, unless
// the row changed meanwhile (an update or refresh started a new copy):
// then the new desired state wins and the next pass acts on it. A
// successful copy records share, the installed version's package share.
func (s *Site) recordDP(ctx context.Context, seen distpoint.PackageStatus, ev distpoint.Event, cause error, share string) (distpoint.State, bool, error) {
	state, removed := seen.State, false
	err := s.commit(ctx, "DistributeContent", func(t *tx) error {
		cur, ok := t.st.pkgDPs[seen.PackageID][seen.NALPath]
		if !ok || *cur != seen {
			if ok {
				state = cur.State
			}
			return nil
		}
		next, gone, err := cur.Transition(ev, 0, t.now, t.st.opts.DPRetry)
		if err != nil {
			return err
		}
		key := packageDPKey(seen.PackageID, seen.NALPath)
		if gone {
			removed = true
			t.del(kindPackageDP, key)
			return nil
		}
		if cause != nil {
			next.LastError = cause.Error()
		}
		if ev == distpoint.CopySucceeded {
			next.Share = share
		}
		state = next.State
		t.put(kindPackageDP, key, map[string]string{"package": string(seen.PackageID), "dp": seen.NALPath}, &next)
		return nil
	})
	if err == nil && state != seen.State && s.opts.Progress != nil {
		st := state
		s.opts.Progress(ProgressEvent{PackageID: seen.PackageID, NALPath: seen.NALPath, State: &st})
	}
	return state, removed, err
}

// ValidateContent re-hashes the installed version of a package on the
// given DPs (all that have it when none are named) and moves each DP whose
// content no longer matches to Install Failed, naming the files (the
// classic "content hash mismatch", §5.2 item 3). A refresh
// (RefreshPackageOnDistributionPoints, then DistributeContent) repairs it.
// Run it on demand or on a schedule.
func (s *Site) ValidateContent(ctx context.Context, id consign.ObjectID, nalPaths ...string) (*DistributionReport, error) {
	if s.opts.Libraries == nil {
		return nil, &consign.Error{Code: consign.ErrFailedPrecondition, Op: "ValidateContent", Err: errors.New("Options.Libraries is not set")}
	}
	var rows []distpoint.PackageStatus
	err := s.read("ValidateContent", func(st *state) error {
		if _, ok := st.packages[id]; !ok {
			return notFound("ValidateContent", "package "+string(id))
		}
		for _, nal := range sortedKeys(st.pkgDPs[id]) {
			if row := st.pkgDPs[id][nal]; row.State == distpoint.Installed && (len(nalPaths) == 0 || slices.Contains(nalPaths, nal)) {
				rows = append(rows, *row)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	report := &DistributionReport{}
	var mu sync.Mutex
	discarded := map[string][][32]byte{} // per DP, the damaged blobs Verify dropped
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.ThreadsPerPackage)
	for _, row := range rows {
		g.Go(func() error {
			res := DPResult{PackageID: id, NALPath: row.NALPath, State: row.State}
			lib, err := s.opts.Libraries(row.NALPath)
			if err == nil && lib == nil {
				err = fmt.Errorf("no content library for %s", row.NALPath)
			}
			var bad []distpoint.Mismatch
			var cause error
			if err == nil {
				bad, err = lib.Verify(gctx, id, row.SourceVersion)
				if errors.Is(err, consign.ErrNotFound) {
					// The row says Installed but the DP has no such version.
					cause, err = fmt.Errorf("content validation failed: version %d is not published on the DP", row.SourceVersion), nil
				}
			}
			if len(bad) > 0 {
				var files []string
				mu.Lock()
				for _, m := range bad {
					files = append(files, m.String())
					if !m.Missing {
						discarded[row.NALPath] = append(discarded[row.NALPath], m.File.SHA256)
					}
				}
				mu.Unlock()
				cause = fmt.Errorf("content validation failed: %s", strings.Join(files, "; "))
			}
			if cause != nil {
				var rerr error
				res.State, _, rerr = s.recordDP(gctx, row, distpoint.VerifyFailed, cause, "")
				err = errors.Join(cause, err, rerr)
			}
			res.Err = err
			mu.Lock()
			report.Results = append(report.Results, res)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	// A damaged blob Verify dropped may be shared (single instance) with
	// other packages installed on the same DP: they lack it now too, so
	// they are validated as well.
	for _, nal := range sortedKeys(discarded) {
		for _, other := range s.packagesUsing(nal, discarded[nal], id) {
			r, err := s.ValidateContent(ctx, other, nal)
			if err != nil && !errors.Is(err, consign.ErrNotFound) {
				return report, err
			}
			if r != nil {
				report.Results = append(report.Results, r.Results...)
			}
		}
	}
	slices.SortFunc(report.Results, func(a, b DPResult) int {
		return cmp.Or(strings.Compare(string(a.PackageID), string(b.PackageID)), strings.Compare(a.NALPath, b.NALPath))
	})
	return report, ctx.Err()
}

// packagesUsing returns the packages other than except installed on the DP
// whose manifest holds any of the blobs sums.
func (s *Site) packagesUsing(nal string, sums [][32]byte, except consign.ObjectID) []consign.ObjectID {
	var out []consign.ObjectID
	_ = s.read("ValidateContent", func(st *state) error {
		for _, id := range sortedKeys(st.pkgDPs) {
			row, ok := st.pkgDPs[id][nal]
			p := st.packages[id]
			if id == except || !ok || row.State != distpoint.Installed || p == nil {
				continue
			}
			for _, f := range p.Manifest.Files {
				if slices.Contains(sums, f.SHA256) {
					out = append(out, id)
					break
				}
			}
		}
		return nil
	})
	return out
}

// manifestDiff names the first few files that differ between two manifests.
func manifestDiff(want, got pkg.Manifest) string {
	w := map[string]pkg.File{}
	for _, f := range want.Files {
		w[f.Path] = f
	}
	var diffs []string
	for _, f := range got.Sorted().Files {
		if o, ok := w[f.Path]; !ok {
			diffs = append(diffs, "new file "+f.Path)
		} else if o != f {
			diffs = append(diffs, "changed "+f.Path)
		}
		delete(w, f.Path)
	}
	for _, f := range want.Sorted().Files {
		if _, ok := w[f.Path]; ok {
			diffs = append(diffs, "missing "+f.Path)
		}
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, ", ")
}

// sourcePath is the default Options.SourceDirs: the package's SourcePath.
func sourcePath(p *pkg.Package) (string, error) {
	if p.SourcePath == "" {
		return "", fmt.Errorf("package %s has no SourcePath", p.ID)
	}
	return p.SourcePath, nil
}

// RunScheduledValidation validates the content of every package on every
// DP when Options.ContentValidation has fired since the last run, and
// reports what it found. The last run's time is kept in the Store, so a
// restarted Site, or another Site over the same Store, waits for the next
// occurrence; on a site where it never ran, the first call runs at once.
// Call it periodically, for example from the same loop that calls
// DistributeContent; it does nothing when the schedule has not fired.
func (s *Site) RunScheduledValidation(ctx context.Context) (*DistributionReport, error) {
	if s.opts.ContentValidation == nil {
		return nil, &consign.Error{Code: consign.ErrFailedPrecondition, Op: "RunScheduledValidation", Err: errors.New("Options.ContentValidation is not set")}
	}
	now := s.opts.Clock()
	s.validationMu.Lock() // one scheduled run at a time
	defer s.validationMu.Unlock()
	var last time.Time
	_ = s.read("RunScheduledValidation", func(st *state) error {
		last = st.lastValidation
		return nil
	})
	if !last.IsZero() {
		if next, ok := s.opts.ContentValidation.Next(last, time.UTC); !ok || next.After(now) {
			return &DistributionReport{}, nil
		}
	}
	var ids []consign.ObjectID
	_ = s.read("RunScheduledValidation", func(st *state) error {
		ids = sortedKeys(st.pkgDPs)
		return nil
	})
	report := &DistributionReport{}
	for _, id := range ids {
		r, err := s.ValidateContent(ctx, id)
		if errors.Is(err, consign.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return report, err
		}
		report.Results = append(report.Results, r.Results...)
	}
	// The time of the run is stored, so a restarted Site (or another Site
	// over the same Store) waits for the next occurrence.
	err := s.commit(ctx, "RunScheduledValidation", func(t *tx) error {
		if t.st.lastValidation.Before(now) {
			t.put(kindMarker, markerValidation, nil, now)
		}
		return nil
	})
	return report, err
}
