package delivery_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// failingLibrary fails its first n PutBlob calls, like a DP whose share is
// briefly unreachable.
type failingLibrary struct {
	distpoint.Library
	n atomic.Int64
}

func (f *failingLibrary) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("network path not found")
	}
	return f.Library.PutBlob(ctx, sum, size, r)
}

type contentEnv struct {
	*env
	libs map[string]distpoint.Library
	dirs map[string]string
	src  fstest.MapFS
	// pkgDirs maps package source paths to local folders: packages whose
	// SourcePath is listed (deployment packages) are read from there, the
	// others from src.
	pkgDirs map[string]string
	mu      sync.Mutex
}

func newContentEnv(t *testing.T) *contentEnv {
	t.Helper()
	ce := &contentEnv{env: &env{t: t, ctx: context.Background(), store: memstore.New(), clock: &fakeClock{now: t0}, tr: &recordingTransport{}},
		libs: map[string]distpoint.Library{}, dirs: map[string]string{}, src: fstest.MapFS{}, pkgDirs: map[string]string{}}
	for i := range 60 {
		ce.src[fmt.Sprintf("files/part%02d.bin", i)] = &fstest.MapFile{Data: []byte(strings.Repeat(fmt.Sprint(i), 1000+i))}
	}
	ce.src["setup.exe"] = &fstest.MapFile{Data: []byte("MZ setup")}
	for i, name := range []string{"DP01", "DP02", "DP03"} {
		dir := t.TempDir()
		lib, err := fslibrary.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var l distpoint.Library = lib
		if i == 2 {
			fl := &failingLibrary{Library: lib}
			fl.n.Store(2)
			l = fl
		}
		ce.libs[name], ce.dirs[name] = l, dir
	}
	site, err := delivery.Open(ce.ctx, ce.store, ce.tr, &delivery.Options{
		Clock: ce.clock.Now,
		Libraries: func(nal string) (distpoint.Library, error) {
			if l, ok := ce.libs[nal]; ok {
				return l, nil
			}
			return nil, fmt.Errorf("no DP %s", nal)
		},
		SourceDirs: func(p *pkg.Package) (string, error) {
			ce.mu.Lock()
			defer ce.mu.Unlock()
			if dir, ok := ce.pkgDirs[p.SourcePath]; ok {
				return dir, nil
			}
			return "", fmt.Errorf("no folder for %s", p.SourcePath)
		},
		Sources: func(p *pkg.Package) (fs.FS, error) {
			ce.mu.Lock()
			defer ce.mu.Unlock()
			if dir, ok := ce.pkgDirs[p.SourcePath]; ok {
				return os.DirFS(dir), nil
			}
			return cloneFS(ce.src), nil
		},
		ThreadsPerPackage: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	ce.site = site
	for _, name := range []string{"DP01", "DP02", "DP03"} {
		if err := site.AddDistributionPoint(ce.ctx, &distpoint.DistributionPoint{NALPath: name, Name: name, SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	return ce
}

// damage overwrites a stored blob on a DP's disk, as a disk fault or an
// administrator editing the share would.
func (ce *contentEnv) damage(dp string, sum [32]byte) {
	ce.t.Helper()
	h := hex.EncodeToString(sum[:])
	blob := filepath.Join(ce.dirs[dp], "blobs", h[:2], h)
	if err := os.Chmod(blob, 0o644); err != nil {
		ce.t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("tampered"), 0o644); err != nil {
		ce.t.Fatal(err)
	}
}

func (ce *contentEnv) manifest() pkg.Manifest {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	m, err := source.ManifestFromFS(ce.ctx, ce.src)
	if err != nil {
		ce.t.Fatal(err)
	}
	return m
}

func (ce *contentEnv) states(id consign.ObjectID) map[string]distpoint.PackageStatus {
	out := map[string]distpoint.PackageStatus{}
	for _, r := range must(ce.site.PackageStatus(id)) {
		out[r.NALPath] = r
	}
	return out
}

// The Manage Distribution Points workflow end to end over three filesystem
// DPs, one of which fails its first writes: copy, retry, update, corrupt +
// validate + refresh, remove.
func TestDistributeContent(t *testing.T) {
	ce := newContentEnv(t)
	p := pkg.NewPackage("", "Big App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\BigApp`, ce.manifest()
	p = must(ce.site.CreatePackage(ce.ctx, p))
	if err := ce.site.AddPackageToDistributionPoints(ce.ctx, p.ID, "DP01", "DP02", "DP03"); err != nil {
		t.Fatal(err)
	}

	// First pass: DP03 fails, the others install; the report names DP03.
	rep := must(ce.site.DistributeContent(ce.ctx))
	st := ce.states(p.ID)
	if st["DP01"].State != distpoint.Installed || st["DP02"].State != distpoint.Installed || st["DP03"].State != distpoint.InstallRetrying {
		t.Fatalf("after the first pass: %v %v %v", st["DP01"].State, st["DP02"].State, st["DP03"].State)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "on DP03") || strings.Contains(err.Error(), "DP01") {
		t.Errorf("report error = %v, want DP03's failure only, named", err)
	}
	if !strings.Contains(st["DP03"].LastError, "network path not found") {
		t.Errorf("DP03 LastError = %q", st["DP03"].LastError)
	}
	// Not due before the retry delay; then it converges.
	if rep := must(ce.site.DistributeContent(ce.ctx)); len(rep.Results) != 0 {
		t.Errorf("a pass before the retry delay did %d rows of work", len(rep.Results))
	}
	ce.clock.Set(t0.Add(31 * time.Minute))
	must(ce.site.DistributeContent(ce.ctx))
	ce.clock.Set(t0.Add(62 * time.Minute))
	rep = must(ce.site.DistributeContent(ce.ctx))
	if st := ce.states(p.ID); st["DP03"].State != distpoint.Installed || st["DP03"].SourceVersion != 1 {
		t.Fatalf("DP03 after retries: %+v", st["DP03"])
	}
	for name, lib := range ce.libs {
		m, err := lib.Version(ce.ctx, p.ID, 1)
		if err != nil || m.Hash() != p.Manifest.Hash() {
			t.Errorf("%s: version 1 = %v, %v", name, m.Hash(), err)
		}
	}

	// Update all DPs: one file changed; only it is copied.
	ce.mu.Lock()
	ce.src["setup.exe"] = &fstest.MapFile{Data: []byte("MZ setup v2")}
	ce.mu.Unlock()
	p = must(ce.site.UpdatePackageSource(ce.ctx, p.ID, ce.manifest()))
	rep = must(ce.site.DistributeContent(ce.ctx))
	if rep.Err() != nil || len(rep.Results) != 3 {
		t.Fatalf("update pass: %v, %d results", rep.Err(), len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Files != 1 || r.Skipped != 60 || r.State != distpoint.Installed {
			t.Errorf("%s: copied %d, skipped %d, state %v; want 1 copied, 60 already there", r.NALPath, r.Files, r.Skipped, r.State)
		}
	}
	if st := ce.states(p.ID); st["DP02"].SourceVersion != 2 {
		t.Errorf("DP02 version = %d, want 2", st["DP02"].SourceVersion)
	}

	// A file damaged on DP02: validation finds it, refresh repairs it.
	ce.damage("DP02", p.Manifest.Sorted().Files[0].SHA256)
	rep = must(ce.site.ValidateContent(ce.ctx, p.ID))
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "content hash mismatch") || !strings.Contains(err.Error(), p.Manifest.Sorted().Files[0].Path) {
		t.Errorf("validation: %v, want a content hash mismatch naming the file", err)
	}
	if st := ce.states(p.ID); st["DP02"].State != distpoint.InstallFailed || st["DP01"].State != distpoint.Installed {
		t.Fatalf("after validation: DP01 %v, DP02 %v", st["DP01"].State, st["DP02"].State)
	}
	if err := ce.site.RefreshPackageOnDistributionPoints(ce.ctx, p.ID, "DP02"); err != nil {
		t.Fatal(err)
	}
	must(ce.site.DistributeContent(ce.ctx))
	if rep := must(ce.site.ValidateContent(ce.ctx, p.ID)); rep.Err() != nil {
		t.Errorf("after refresh: %v", rep.Err())
	}

	// The source edited without an update: a new copy refuses it.
	ce.mu.Lock()
	ce.src["setup.exe"] = &fstest.MapFile{Data: []byte("MZ edited in place")}
	ce.mu.Unlock()
	if err := ce.site.RefreshPackageOnDistributionPoints(ce.ctx, p.ID, "DP01"); err != nil {
		t.Fatal(err)
	}
	rep = must(ce.site.DistributeContent(ce.ctx))
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "no longer matches version 2") || !strings.Contains(err.Error(), "changed setup.exe") {
		t.Errorf("source edited without update: %v", err)
	}

	// Remove from DP01 and DP02: rows go, content goes.
	if err := ce.site.RemovePackageFromDistributionPoints(ce.ctx, p.ID, "DP01", "DP02"); err != nil {
		t.Fatal(err)
	}
	must(ce.site.DistributeContent(ce.ctx))
	st = ce.states(p.ID)
	if _, ok := st["DP03"]; !ok || len(st) != 1 {
		t.Errorf("rows after removing DP01 and DP02: %v, want DP03's only", st)
	}
	if vs, _ := ce.libs["DP02"].Versions(ce.ctx, p.ID); len(vs) != 0 {
		t.Errorf("DP02 still holds versions %v", vs)
	}
}

// A pass cancelled part way leaves every row as it was; the next pass
// converges without copying again what was already verified.
func TestDistributeContentResumes(t *testing.T) {
	ce := newContentEnv(t)
	ce.libs["DP03"].(*failingLibrary).n.Store(0)
	p := pkg.NewPackage("", "Big App")
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\BigApp`, ce.manifest()
	p = must(ce.site.CreatePackage(ce.ctx, p))
	if err := ce.site.AddPackageToDistributionPoints(ce.ctx, p.ID, "DP01", "DP02", "DP03"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ce.ctx)
	var copied atomic.Int64
	site, err := delivery.Open(ce.ctx, ce.store, nil, &delivery.Options{Clock: ce.clock.Now,
		Libraries: func(nal string) (distpoint.Library, error) { return ce.libs[nal], nil },
		Sources:   func(*pkg.Package) (fs.FS, error) { return cloneFS(ce.src), nil },
		Progress: func(e delivery.ProgressEvent) {
			if e.File != "" && !e.Skipped && copied.Add(1) == 40 {
				cancel() // the process dies part way through
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := site.DistributeContent(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pass: err = %v", err)
	}
	for nal, r := range ce.states(p.ID) {
		if r.State != distpoint.InstallPending || r.Retries != 0 {
			t.Errorf("%s after the interrupted pass: %v (retries %d), want Install Pending", nal, r.State, r.Retries)
		}
	}
	before := copied.Load()
	rep := must(ce.site.DistributeContent(ce.ctx))
	skipped := 0
	for _, r := range rep.Results {
		skipped += r.Skipped
		if r.State != distpoint.Installed {
			t.Errorf("%s: %v after resuming", r.NALPath, r.State)
		}
	}
	if skipped < int(before)-3 { // files in flight at the cancel may be redone
		t.Errorf("resume skipped %d files; %d had been verified before the interruption", skipped, before)
	}
}

// cloneFS snapshots a MapFS, so the test can edit the source while a pass
// reads it.
func cloneFS(m fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}
