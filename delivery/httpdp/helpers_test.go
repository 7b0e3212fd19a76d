package httpdp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// memLib is an in-memory distpoint.Library for tests. Its OpenBlob gives a
// reader that cannot seek unless seekable is set, so the Server's seeking
// wrapper is exercised. Faults can be injected.
type memLib struct {
	mu       sync.Mutex
	blobs    map[[32]byte][]byte
	versions map[string]pkg.Manifest
	seekable bool
	// versionErr and openErr, when set, are returned by Version and
	// OpenBlob.
	versionErr, openErr error
	calls               atomic.Int64 // Version and OpenBlob calls
	opens               atomic.Int64 // OpenBlob calls
}

var _ distpoint.Library = (*memLib)(nil)

func newMemLib() *memLib {
	return &memLib{blobs: make(map[[32]byte][]byte), versions: make(map[string]pkg.Manifest)}
}

func vkey(id consign.ObjectID, v uint32) string { return fmt.Sprintf("%s.%d", id, v) }

func (l *memLib) HasBlob(ctx context.Context, sum [32]byte) (int64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.blobs[sum]
	return int64(len(b)), ok, nil
}

func (l *memLib) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(data)) != size || sha256.Sum256(data) != sum {
		return &distpoint.HashMismatchError{WantSHA256: sum, WantSize: size, GotSHA256: sha256.Sum256(data), GotSize: int64(len(data))}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blobs[sum] = data
	return nil
}

func (l *memLib) OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error) {
	l.calls.Add(1)
	l.opens.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.openErr != nil {
		return nil, l.openErr
	}
	b, ok := l.blobs[sum]
	if !ok {
		return nil, consign.Errorf(consign.ErrNotFound, "OpenBlob", "", "blob not stored")
	}
	if l.seekable {
		return nopSeekCloser{bytes.NewReader(b)}, nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

func (l *memLib) Publish(ctx context.Context, id consign.ObjectID, v uint32, m pkg.Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range m.Files {
		if _, ok := l.blobs[f.SHA256]; !ok {
			return consign.Errorf(consign.ErrNotFound, "Publish", f.Path, "blob missing")
		}
	}
	l.versions[vkey(id, v)] = m.Sorted()
	return nil
}

func (l *memLib) Version(ctx context.Context, id consign.ObjectID, v uint32) (pkg.Manifest, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.versionErr != nil {
		return pkg.Manifest{}, l.versionErr
	}
	m, ok := l.versions[vkey(id, v)]
	if !ok {
		return pkg.Manifest{}, consign.Errorf(consign.ErrNotFound, "Version", vkey(id, v), "not published")
	}
	return pkg.Manifest{Files: slices.Clone(m.Files)}, nil
}

func (l *memLib) Versions(ctx context.Context, id consign.ObjectID) ([]uint32, error) {
	return nil, errors.New("memLib: Versions not used")
}

func (l *memLib) Remove(ctx context.Context, id consign.ObjectID, v uint32) error {
	return errors.New("memLib: Remove not used")
}

func (l *memLib) GC(ctx context.Context) (int, error) { return 0, errors.New("memLib: GC not used") }

func (l *memLib) Verify(ctx context.Context, id consign.ObjectID, v uint32) ([]distpoint.Mismatch, error) {
	return nil, errors.New("memLib: Verify not used")
}

// replaceBlob changes the stored bytes of sum behind the library's back,
// as a tampered or damaged DP would serve them.
func (l *memLib) replaceBlob(sum [32]byte, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blobs[sum] = data
}

func (l *memLib) dropBlob(sum [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.blobs, sum)
}

// tb is what helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// testFile is one file of test content.
type testFile struct {
	path string
	data []byte
}

// pattern returns n bytes derived from seed, different for each seed.
func pattern(seed string, n int) []byte {
	b := make([]byte, n)
	h := sha256.Sum256([]byte(seed))
	for i := range b {
		if i%32 == 0 && i > 0 {
			h = sha256.Sum256(h[:])
		}
		b[i] = h[i%32]
	}
	return b
}

func manifestOf(files []testFile) pkg.Manifest {
	var m pkg.Manifest
	for _, f := range files {
		m.Files = append(m.Files, pkg.File{Path: f.path, Size: int64(len(f.data)), SHA256: sha256.Sum256(f.data)})
	}
	return m
}

// publish puts files into lib and publishes them as id version v.
func publish(t tb, lib distpoint.Library, id consign.ObjectID, v uint32, files []testFile) pkg.Manifest {
	t.Helper()
	ctx := context.Background()
	m := manifestOf(files)
	for i, f := range files {
		if err := lib.PutBlob(ctx, m.Files[i].SHA256, m.Files[i].Size, bytes.NewReader(f.data)); err != nil {
			t.Fatalf("PutBlob(%s): %v", f.path, err)
		}
	}
	if err := lib.Publish(ctx, id, v, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return m
}

// serve starts an HTTP server on 127.0.0.1 for h, closed when t ends.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// checkFiles fails t unless dir holds exactly files' bytes at their paths
// and no partial downloads.
func checkFiles(t tb, dir string, files []testFile) {
	t.Helper()
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.path)))
		if err != nil {
			t.Fatalf("reading %s: %v", f.path, err)
		}
		if !bytes.Equal(got, f.data) {
			t.Fatalf("%s: got %d bytes (sha256 %x), want %d bytes (sha256 %x)", f.path, len(got), sha256.Sum256(got), len(f.data), sha256.Sum256(f.data))
		}
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".part" {
			isFile := false
			for _, f := range files {
				if filepath.Join(dir, filepath.FromSlash(f.path)) == p {
					isFile = true
				}
			}
			if !isFile {
				return fmt.Errorf("partial download left behind: %s", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cutter wraps a handler so that response bodies stop part way and the
// connection is closed, as when a DP dies mid-transfer. allow is called
// once per response with its Content-Length and returns how many body
// bytes may be sent (at least that many: no cut).
type cutter struct {
	h     http.Handler
	allow func(r *http.Request, contentLength int64) int64
	// ranges records the Range header of every request.
	mu     sync.Mutex
	ranges []string
	// sent counts the body bytes written.
	sent atomic.Int64
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	c.mu.Unlock()
	c.h.ServeHTTP(&cutWriter{ResponseWriter: w, c: c, r: r, left: -1}, r)
}

func (c *cutter) rangeHeaders() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ranges)
}

var errCut = errors.New("test: connection cut")

type cutWriter struct {
	http.ResponseWriter
	c           *cutter
	r           *http.Request
	wroteHeader bool
	left        int64 // body bytes still allowed; -1 before WriteHeader
	cut         bool
}

func (w *cutWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	cl, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	if err != nil {
		cl = -1
	}
	w.left = w.c.allow(w.r, cl)
	w.ResponseWriter.WriteHeader(code)
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.cut {
		return 0, errCut
	}
	if int64(len(p)) <= w.left {
		w.left -= int64(len(p))
		n, err := w.ResponseWriter.Write(p)
		w.c.sent.Add(int64(n))
		return n, err
	}
	n, _ := w.ResponseWriter.Write(p[:w.left])
	w.c.sent.Add(int64(n))
	w.left = 0
	w.cut = true
	rc := http.NewResponseController(w.ResponseWriter)
	rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
	return n, errCut
}

// halfCut lets each response send half of its body.
func halfCut(r *http.Request, cl int64) int64 {
	if cl < 0 {
		return 1 << 62
	}
	return cl / 2
}

// budgetCut returns an allow func that lets all responses together send
// budget body bytes, then cuts.
func budgetCut(budget int64) func(*http.Request, int64) int64 {
	var mu sync.Mutex
	return func(r *http.Request, cl int64) int64 {
		mu.Lock()
		defer mu.Unlock()
		if cl < 0 {
			cl = 1 << 62
		}
		n := min(cl, budget)
		budget -= n
		if n < cl {
			budget = 0
		}
		return n
	}
}

// newDownloader returns a Downloader with fast retries for tests.
func newDownloader() *httpdp.Downloader {
	return &httpdp.Downloader{MaxAttempts: 2, RetryDelay: time.Millisecond, IdleTimeout: 5 * time.Second}
}
