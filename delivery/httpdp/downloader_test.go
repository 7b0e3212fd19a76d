package httpdp_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// fetchFiles is the content most download tests use.
func fetchFiles() []testFile {
	return []testFile{
		{"setup.exe", pattern("setup", 300<<10+7)},
		{"Bin/Tool.dll", pattern("tool", 40<<10)},
		{"Bin/x86/readme.txt", []byte("read me\n")},
		{"empty.dat", nil},
	}
}

// fileResult finds path's FileResult.
func fileResult(t *testing.T, res httpdp.Result, path string) httpdp.FileResult {
	t.Helper()
	for _, fr := range res.Files {
		if fr.Path == path {
			return fr
		}
	}
	t.Fatalf("no FileResult for %s in %+v", path, res.Files)
	return httpdp.FileResult{}
}

func totalSize(files []testFile) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f.data))
	}
	return n
}

func TestFetchHappyPathTwoDPs(t *testing.T) {
	files := fetchFiles()
	var srcs []httpdp.Source
	var m pkg.Manifest
	for range 2 {
		lib, err := fslibrary.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m = publish(t, lib, testPkg, 3, files)
		srcs = append(srcs, httpdp.Source{BaseURL: serve(t, httpdp.NewServer(lib, nil)).URL})
	}
	dir := filepath.Join(t.TempDir(), "cache", "CEN00001.3")
	var progress []string
	d := newDownloader()
	d.Progress = func(fr httpdp.FileResult) { progress = append(progress, fr.Path) }
	res, err := d.Fetch(context.Background(), srcs, testPkg, 3, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	if len(res.Files) != len(files) || len(res.Failures) != 0 {
		t.Fatalf("result %+v", res)
	}
	if res.Downloaded != totalSize(files) || res.Resumed != 0 || res.Reused != 0 {
		t.Errorf("downloaded %d resumed %d reused %d, want %d 0 0", res.Downloaded, res.Resumed, res.Reused, totalSize(files))
	}
	for _, fr := range res.Files {
		if fr.Size > 0 && fr.Source != srcs[0].BaseURL {
			t.Errorf("%s served by %q, want the first DP", fr.Path, fr.Source)
		}
	}
	want := []string{"Bin/Tool.dll", "Bin/x86/readme.txt", "empty.dat", "setup.exe"}
	if strings.Join(progress, ",") != strings.Join(want, ",") {
		t.Errorf("progress %v, want %v", progress, want)
	}

	// Again: everything is in place and only hashed.
	res, err = d.Fetch(context.Background(), srcs, testPkg, 3, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 0 || res.Reused != totalSize(files) {
		t.Errorf("second fetch downloaded %d, reused %d", res.Downloaded, res.Reused)
	}
	for _, fr := range res.Files {
		if !fr.Reused || fr.Source != "" {
			t.Errorf("second fetch: %+v", fr)
		}
	}
}

func TestFetchDPKilledMidTransfer(t *testing.T) {
	files := fetchFiles()
	lib1, lib2 := newMemLib(), newMemLib()
	m := publish(t, lib1, testPkg, 1, files)
	publish(t, lib2, testPkg, 1, files)
	// DP 1 dies half way through every response.
	dp1 := &cutter{h: httpdp.NewServer(lib1, nil), allow: halfCut}
	dp2 := &cutter{h: httpdp.NewServer(lib2, nil), allow: func(*http.Request, int64) int64 { return 1 << 62 }}
	srcs := []httpdp.Source{{serve(t, dp1).URL}, {serve(t, dp2).URL}}
	dir := t.TempDir()
	d := newDownloader() // two attempts per source
	res, err := d.Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)

	const size = 300<<10 + 7
	setup := fileResult(t, res, "setup.exe")
	// DP 1 sent half, then half of the rest; DP 2 sent the last quarter.
	wantResumed := int64(size/2 + (size-size/2)/2)
	if setup.Source != srcs[1].BaseURL || setup.Resumed != wantResumed || setup.Received != size {
		t.Errorf("setup.exe: %+v, want source DP 2, %d bytes resumed, %d received", setup, wantResumed, size)
	}
	if res.Resumed == 0 || res.Downloaded != totalSize(files) {
		t.Errorf("resumed %d, downloaded %d (want %d)", res.Resumed, res.Downloaded, totalSize(files))
	}
	var dp1Failures int
	for _, f := range res.Failures {
		if f.Source != srcs[0].BaseURL || !errors.Is(f, consign.ErrUnavailable) {
			t.Errorf("unexpected failure %v", f)
		}
		dp1Failures++
	}
	if dp1Failures != 2*3 { // two attempts for each non-empty file
		t.Errorf("%d failures of DP 1, want 6: %v", dp1Failures, res.Failures)
	}
	// DP 2 was asked only for the rest of each file, with If-Range.
	for _, rg := range dp2.rangeHeaders() {
		if !strings.HasPrefix(rg, "bytes=") || !strings.HasSuffix(rg, "-") || rg == "bytes=0-" {
			t.Errorf("DP 2 got Range %q, want a resumption", rg)
		}
	}
	if got := dp2.sent.Load(); got != totalSize(files)-res.Resumed {
		t.Errorf("DP 2 sent %d bytes, want %d", got, totalSize(files)-res.Resumed)
	}
}

func TestFetchTamperedDP(t *testing.T) {
	files := fetchFiles()
	bad, good := newMemLib(), newMemLib()
	m := publish(t, bad, testPkg, 1, files)
	publish(t, good, testPkg, 1, files)
	tool := manifestOf(files[1:2]).Files[0]
	tampered := pattern("tool", int(tool.Size))
	tampered[1234] ^= 0x40
	bad.replaceBlob(tool.SHA256, tampered)
	srcs := []httpdp.Source{{serve(t, httpdp.NewServer(bad, nil)).URL}, {serve(t, httpdp.NewServer(good, nil)).URL}}
	dir := t.TempDir()
	res, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	if fr := fileResult(t, res, "Bin/Tool.dll"); fr.Source != srcs[1].BaseURL || fr.Received != 2*tool.Size {
		t.Errorf("Bin/Tool.dll: %+v, want the second DP after a whole wasted copy", fr)
	}
	if len(res.Failures) != 1 {
		t.Fatalf("failures %v, want one", res.Failures)
	}
	f := res.Failures[0]
	var hm *distpoint.HashMismatchError
	if f.Source != srcs[0].BaseURL || f.Path != "Bin/Tool.dll" || !errors.As(f, &hm) || !errors.Is(f, consign.ErrInvalid) {
		t.Fatalf("failure %v: want a hash mismatch on the first DP", f)
	}
	if hm.WantSHA256 != tool.SHA256 || hm.GotSHA256 != sha256.Sum256(tampered) {
		t.Errorf("mismatch %+v", hm)
	}
	if fr := fileResult(t, res, "setup.exe"); fr.Source != srcs[0].BaseURL {
		t.Errorf("setup.exe from %q: the tampered DP's good files are still used", fr.Source)
	}
}

func TestFetchAllDPsBad(t *testing.T) {
	files := fetchFiles()
	empty, tampered := newMemLib(), newMemLib()
	m := publish(t, tampered, testPkg, 1, files)
	for _, f := range m.Files {
		if f.Size > 0 {
			tampered.replaceBlob(f.SHA256, pattern("evil", int(f.Size)))
		}
	}
	down := serve(t, http.NotFoundHandler())
	down.Close()
	srcs := []httpdp.Source{
		{serve(t, httpdp.NewServer(empty, nil)).URL},
		{serve(t, httpdp.NewServer(tampered, nil)).URL},
		{down.URL},
	}
	dir := t.TempDir()
	res, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err == nil {
		t.Fatal("Fetch succeeded with no good source")
	}
	if !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("error %v does not match ErrUnavailable", err)
	}
	var fe *httpdp.FileError
	if !errors.As(err, &fe) || fe.Path != "Bin/Tool.dll" {
		t.Fatalf("error %v: want a *FileError for Bin/Tool.dll first", err)
	}
	for _, p := range []string{"Bin/Tool.dll", "Bin/x86/readme.txt", "setup.exe"} {
		if !strings.Contains(err.Error(), `"`+p+`"`) {
			t.Errorf("error does not name %s: %v", p, err)
		}
	}
	for _, src := range srcs {
		if !strings.Contains(fe.Error(), src.BaseURL) {
			t.Errorf("FileError does not name %s: %v", src.BaseURL, fe)
		}
	}
	if !errors.Is(fe, consign.ErrNotFound) {
		t.Errorf("FileError does not wrap the first DP's 404: %v", fe)
	}
	var hm *distpoint.HashMismatchError
	if !errors.As(fe, &hm) {
		t.Errorf("FileError does not wrap the second DP's mismatch: %v", fe)
	}
	// The empty file needs no source; nothing else is in place.
	if len(res.Files) != 1 || res.Files[0].Path != "empty.dat" {
		t.Errorf("files in place %+v", res.Files)
	}
	if _, err := os.Stat(filepath.Join(dir, "setup.exe")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("setup.exe exists: %v", err)
	}
	// The unreachable DP was tried (twice) for the first file only.
	byDown := 0
	skipped := 0
	for _, f := range res.Failures {
		if f.Source == down.URL {
			if strings.Contains(f.Error(), "skipped") {
				skipped++
			} else {
				byDown++
			}
		}
	}
	if byDown != 2 || skipped != 2 {
		t.Errorf("unreachable DP: %d attempts, %d skips; want 2 and 2", byDown, skipped)
	}
}

func TestFetchResumesEarlierPartial(t *testing.T) {
	files := fetchFiles()
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	dp := &cutter{h: httpdp.NewServer(lib, nil), allow: func(*http.Request, int64) int64 { return 1 << 62 }}
	srcs := []httpdp.Source{{serve(t, dp).URL}}
	dir := t.TempDir()
	prefix := files[0].data[:100000]
	if err := os.WriteFile(filepath.Join(dir, "setup.exe.part"), prefix, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	fr := fileResult(t, res, "setup.exe")
	if fr.Resumed != 100000 || fr.Received != int64(len(files[0].data))-100000 || res.Resumed != 100000 {
		t.Errorf("setup.exe %+v, result resumed %d", fr, res.Resumed)
	}
	found := false
	for _, rg := range dp.rangeHeaders() {
		found = found || rg == "bytes=100000-"
	}
	if !found {
		t.Errorf("no resumed request: %q", dp.rangeHeaders())
	}
}

func TestFetchDiscardsBadPartial(t *testing.T) {
	files := fetchFiles()
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	srcs := []httpdp.Source{{serve(t, httpdp.NewServer(lib, nil)).URL}}
	dir := t.TempDir()
	// A partial download with a wrong prefix, and one longer than the file.
	if err := os.WriteFile(filepath.Join(dir, "setup.exe.part"), pattern("junk", 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "Bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Bin", "Tool.dll.part"), pattern("junk", 50<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file in place with the wrong content.
	if err := os.WriteFile(filepath.Join(dir, "Bin", "x86", "readme.txt"), []byte("old!old!"), 0o644); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "Bin", "x86"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Bin", "x86", "readme.txt"), []byte("old!old!"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	// The bad prefix is found at the end, blamed on nobody in particular,
	// and the same DP is asked for the whole file.
	if len(res.Failures) != 1 || res.Failures[0].Path != "setup.exe" || !errors.Is(res.Failures[0], consign.ErrInvalid) {
		t.Fatalf("failures %v, want one mismatch for setup.exe", res.Failures)
	}
	if !strings.Contains(res.Failures[0].Error(), "more than one download") {
		t.Errorf("failure %v does not say the bytes were mixed", res.Failures[0])
	}
	if fr := fileResult(t, res, "setup.exe"); fr.Resumed != 0 || fr.Source != srcs[0].BaseURL {
		t.Errorf("setup.exe %+v", fr)
	}
	if fr := fileResult(t, res, "Bin/x86/readme.txt"); fr.Reused {
		t.Errorf("a wrong file in place was kept: %+v", fr)
	}
}

func TestFetchRefusesBadInput(t *testing.T) {
	good := manifestOf(fetchFiles())
	srcs := []httpdp.Source{{"http://127.0.0.1:1"}}
	tests := []struct {
		name    string
		srcs    []httpdp.Source
		id      consign.ObjectID
		version uint32
		m       pkg.Manifest
		field   string
	}{
		{"climbing path", srcs, testPkg, 1, pkg.Manifest{Files: []pkg.File{{Path: "../evil.exe"}}}, "Manifest.Files[0].Path"},
		{"absolute path", srcs, testPkg, 1, pkg.Manifest{Files: []pkg.File{{Path: "/etc/passwd"}}}, "Manifest.Files[0].Path"},
		{"backslash path", srcs, testPkg, 1, pkg.Manifest{Files: []pkg.File{{Path: `..\evil.exe`}}}, "Manifest.Files[0].Path"},
		{"duplicate ignoring case", srcs, testPkg, 1, pkg.Manifest{Files: []pkg.File{{Path: "a"}, {Path: "A"}}}, "Manifest.Files[1].Path"},
		{"bad package", srcs, "CEN0001", 1, good, "pkgID"},
		{"version 0", srcs, testPkg, 0, good, "version"},
		{"relative source", []httpdp.Source{{"dp1:8080"}}, testPkg, 1, good, "sources[0].BaseURL"},
		{"ftp source", []httpdp.Source{{"ftp://dp1"}}, testPkg, 1, good, "sources[0].BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dl")
			_, err := newDownloader().Fetch(context.Background(), tt.srcs, tt.id, tt.version, tt.m, dir)
			var ve *consign.ValidationError
			if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("error %v, want a validation error on %s", err, tt.field)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the folder was created: %v", err)
			}
		})
	}
}

func TestFetchStaysInsideDirThroughSymlinks(t *testing.T) {
	files := []testFile{{"sub/x.txt", []byte("payload")}}
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	srcs := []httpdp.Source{{serve(t, httpdp.NewServer(lib, nil)).URL}}
	outside, dir := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	_, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err == nil {
		t.Fatal("Fetch wrote through a symlink leading outside its folder")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("files written outside the folder: %v", entries)
	}
}

func TestFetchCancelled(t *testing.T) {
	files := fetchFiles()
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// The DP sends part of setup.exe, then waits; the test cancels.
	inner := httpdp.NewServer(lib, nil)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "setup.exe") {
			inner.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Length", "307207")
		w.Write(files[0].data[:70000])
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	dir := t.TempDir()
	// Cancel once some bytes reached the partial download.
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if fi, err := os.Stat(filepath.Join(dir, "setup.exe.part")); err == nil && fi.Size() > 0 {
				break
			}
		}
		cancel()
	}()
	_, err := newDownloader().Fetch(ctx, []httpdp.Source{{srv.URL}}, testPkg, 1, m, dir)
	if err != context.Canceled {
		t.Fatalf("error %v, want context.Canceled itself", err)
	}
	// What arrived stays for the next Fetch.
	fi, err := os.Stat(filepath.Join(dir, "setup.exe.part"))
	if err != nil || fi.Size() == 0 || fi.Size() > 70000 {
		t.Fatalf("partial download: %v, %v", fi, err)
	}
	res, err := newDownloader().Fetch(context.Background(), []httpdp.Source{{serve(t, inner).URL}}, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	if fr := fileResult(t, res, "setup.exe"); fr.Resumed != fi.Size() {
		t.Errorf("resumed %d, want %d", fr.Resumed, fi.Size())
	}
}

func TestFetchStalledDP(t *testing.T) {
	files := fetchFiles()[:1]
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	release := make(chan struct{})
	stall := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "307207")
		w.Write(files[0].data[:1000])
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) })
	srcs := []httpdp.Source{{stall.URL}, {serve(t, httpdp.NewServer(lib, nil)).URL}}
	d := newDownloader()
	d.MaxAttempts = 1
	d.IdleTimeout = 100 * time.Millisecond
	dir := t.TempDir()
	start := time.Now()
	res, err := d.Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Error(), "stalled") {
		t.Errorf("failures %v, want one stall", res.Failures)
	}
	if fr := fileResult(t, res, "setup.exe"); fr.Resumed != 1000 {
		t.Errorf("the stalled DP's bytes were not reused: %+v", fr)
	}
}

func TestFetchRetriesTransientFailure(t *testing.T) {
	files := fetchFiles()[:1]
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	inner := httpdp.NewServer(lib, nil)
	var calls atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	other := serve(t, http.NotFoundHandler())
	dir := t.TempDir()
	res, err := newDownloader().Fetch(context.Background(), []httpdp.Source{{srv.URL}, {other.URL}}, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	if len(res.Failures) != 1 || res.Failures[0].Status != 503 || fileResult(t, res, "setup.exe").Source != srv.URL {
		t.Errorf("result %+v", res)
	}
}

func TestFetchWithCredential(t *testing.T) {
	files := fetchFiles()
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	srv := serve(t, httpdp.NewServer(lib, &httpdp.Options{
		Authorize: func(r *http.Request, id consign.ObjectID) error {
			if r.Header.Get("Authorization") != "Bearer dev-1" {
				return httpdp.ErrUnauthenticated
			}
			return nil
		},
	}))
	srcs := []httpdp.Source{{srv.URL}}
	_, err := newDownloader().Fetch(context.Background(), srcs, testPkg, 1, m, t.TempDir())
	var se *httpdp.SourceError
	if !errors.Is(err, consign.ErrPermissionDenied) || !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("without a credential: %v", err)
	}
	if !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("the server's error code is not reported: %v", err)
	}
	d := newDownloader()
	d.Header = func(r *http.Request) { r.Header.Set("Authorization", "Bearer dev-1") }
	dir := t.TempDir()
	if _, err := d.Fetch(context.Background(), srcs, testPkg, 1, m, dir); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
}

func TestFetchPartNameCollision(t *testing.T) {
	files := []testFile{
		{"a", pattern("a", 3000)},
		{"a.part", pattern("a.part", 2000)},
		{"A.PART~/x", pattern("x", 10)},
	}
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, files)
	srcs := []httpdp.Source{{serve(t, httpdp.NewServer(lib, nil)).URL}}
	dir := t.TempDir()
	d := newDownloader()
	if _, err := d.Fetch(context.Background(), srcs, testPkg, 1, m, dir); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
	res, err := d.Fetch(context.Background(), srcs, testPkg, 1, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 0 || res.Reused != totalSize(files) || len(res.Failures) != 0 {
		t.Errorf("second fetch %+v", res)
	}
	checkFiles(t, dir, files)
}

func TestFetchNoSources(t *testing.T) {
	files := []testFile{{"a.txt", []byte("a")}, {"empty", nil}}
	m := manifestOf(files)
	res, err := newDownloader().Fetch(context.Background(), nil, testPkg, 1, m, t.TempDir())
	var fe *httpdp.FileError
	if !errors.As(err, &fe) || fe.Path != "a.txt" || len(fe.Errs) != 0 {
		t.Fatalf("error %v", err)
	}
	if len(res.Files) != 1 || res.Files[0].Path != "empty" {
		t.Errorf("files %+v", res.Files)
	}
}

// NoSync (simulations only) skips the syncs, not the checks: the files end
// up the same, verified.
func TestFetchNoSync(t *testing.T) {
	files := fetchFiles()
	lib, err := fslibrary.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := publish(t, lib, testPkg, 3, files)
	src := httpdp.Source{BaseURL: serve(t, httpdp.NewServer(lib, nil)).URL}
	dir := filepath.Join(t.TempDir(), "cache", "CEN00001.3")
	d := newDownloader()
	d.NoSync = true
	if _, err := d.Fetch(context.Background(), []httpdp.Source{src}, testPkg, 3, m, dir); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
}
