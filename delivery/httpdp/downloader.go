package httpdp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// Source is one distribution point to download from.
type Source struct {
	// BaseURL is the root of the DP's content server, e.g.
	// "http://dp1.example.com:8080"; content URLs are BaseURL followed by
	// "/v1/content/...". A path in BaseURL is kept (for a Server mounted
	// below a prefix). The scheme must be http or https.
	BaseURL string
}

// Downloader fetches package content from DPs: the client side of the
// Server. The zero value is ready to use.
type Downloader struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Header, if not nil, is called on every request before it is sent,
	// to attach the device's credential.
	Header func(*http.Request)
	// MaxAttempts bounds the requests to one source for one file; failures
	// that are not worth repeating (4xx, content that is not the
	// manifest's) move to the next source at once. Zero or less means 3.
	MaxAttempts int
	// RetryDelay is the wait before the second request to a source for a
	// file; it doubles for each further one, up to 2 s. Zero means 100 ms.
	RetryDelay time.Duration
	// IdleTimeout abandons a request (a transient failure) that receives
	// no response or no body bytes for this long. Zero means 30 s.
	IdleTimeout time.Duration
	// Progress, if not nil, is called after each file is in place, in
	// manifest path order, from the goroutine that called Fetch.
	Progress func(FileResult)
	// NoSync skips making each file and its folder durable before it is
	// put in place. It is UNSAFE on a device — after a power cut a file
	// that was reported in place may be empty — and meant only for
	// simulations that run many devices over one disk.
	NoSync bool
}

// Result describes what a Fetch did.
type Result struct {
	// Files lists the files in place, in manifest path order (m.Sorted()).
	// Files no source could serve are missing; see the error.
	Files []FileResult
	// Downloaded is the number of bytes received from DPs, including bytes
	// later discarded (content that failed verification).
	Downloaded int64
	// Resumed is the number of bytes reused from partial downloads: the
	// sum of FileResult.Resumed.
	Resumed int64
	// Reused is the number of bytes of files that were already in place
	// and matched the manifest.
	Reused int64
	// Failures lists every failed request (and every source skipped as
	// unreachable), in order. A Fetch that succeeded may have some: the
	// sources that failed before another served the file.
	Failures []*SourceError
}

// FailuresBySource counts r.Failures per source BaseURL.
func (r Result) FailuresBySource() map[string]int {
	n := make(map[string]int)
	for _, f := range r.Failures {
		n[f.Source]++
	}
	return n
}

// FileResult describes one file in place.
type FileResult struct {
	// Path and Size are the manifest's.
	Path string
	Size int64
	// Source is the BaseURL of the DP that served the file's last bytes,
	// or "" when no request was needed (the file or a complete partial
	// download was already on disk).
	Source string
	// Received is the number of bytes received for this file in this
	// Fetch, from all sources, including bytes discarded.
	Received int64
	// Resumed is the number of bytes of a partial download (left by an
	// earlier Fetch or by a source that failed in this one) that the file
	// kept: the bytes already on disk when the request that completed the
	// file was sent.
	Resumed int64
	// Reused is true when the file was already in place and matched.
	Reused bool
}

// Defaults for the zero values of Downloader's fields.
const (
	defaultMaxAttempts = 3
	defaultRetryDelay  = 100 * time.Millisecond
	maxRetryDelay      = 2 * time.Second
	defaultIdleTimeout = 30 * time.Second
	copyBufferSize     = 256 << 10
	maxErrorBody       = 4 << 10
)

// earlierFetch stands, among the sources that supplied a partial file's
// bytes, for bytes found on disk: an earlier Fetch left them.
const earlierFetch = ""

// Fetch downloads the files of version of package pkgID, as listed by m,
// into dir (created if needed), trying sources in order for each file,
// and returns what it did. m is the manifest the caller trusts: every file
// is verified against its size and SHA-256 before it is renamed into
// place. Files already in dir that match are kept; other files in dir are
// left alone.
//
// Before anything is written, pkgID, version, every source URL and m are
// validated (an error matching consign.ErrInvalid) and every path must
// stay inside dir. When ctx is cancelled Fetch returns ctx.Err() itself;
// partial downloads stay on disk for the next Fetch to resume. A file no
// source could serve gives a *FileError; Fetch still fetches the other
// files and returns every FileError (joined with errors.Join when there
// are several). Local I/O failures stop the Fetch and are returned wrapped
// with the file's path.
func (d *Downloader) Fetch(ctx context.Context, sources []Source, pkgID consign.ObjectID, version uint32, m pkg.Manifest, dir string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	bases, err := checkFetch(sources, pkgID, version, m)
	if err != nil {
		return Result{}, err
	}
	files := m.Sorted().Files
	jobs, err := planJobs(files)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("httpdp: Fetch: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, fmt.Errorf("httpdp: Fetch: %w", err)
	}
	defer root.Close()

	f := &fetch{
		d:       d,
		ctx:     ctx,
		root:    root,
		bases:   bases,
		pkgID:   pkgID,
		version: version,
		dead:    make([]bool, len(bases)),
		buf:     make([]byte, copyBufferSize),
	}
	var res Result
	var fileErrs []error
	for _, job := range jobs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		fr, failures, err := f.file(job)
		res.Failures = append(res.Failures, failures...)
		res.Downloaded += fr.Received
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return res, ctxErr
			}
			var fe *FileError
			if errors.As(err, &fe) {
				fileErrs = append(fileErrs, err)
				continue
			}
			return res, err
		}
		res.Files = append(res.Files, fr)
		res.Resumed += fr.Resumed
		if fr.Reused {
			res.Reused += fr.Size
		}
		if d.Progress != nil {
			d.Progress(fr)
		}
	}
	switch len(fileErrs) {
	case 0:
		return res, nil
	case 1:
		return res, fileErrs[0]
	default:
		return res, errors.Join(fileErrs...)
	}
}

// checkFetch validates Fetch's arguments and returns the sources' base
// URLs without a trailing slash.
func checkFetch(sources []Source, pkgID consign.ObjectID, version uint32, m pkg.Manifest) ([]string, error) {
	var p consign.Problems
	if err := pkgID.Validate(); err != nil {
		p.AddValue("pkgID", string(pkgID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	p.Check(version >= 1, "version", "at least 1 (the first SourceVersion)")
	bases := make([]string, len(sources))
	for i, s := range sources {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			p.AddValue(fmt.Sprintf("sources[%d].BaseURL", i), s.BaseURL, "an absolute http or https URL without query or fragment")
			continue
		}
		bases[i] = strings.TrimRight(s.BaseURL, "/")
	}
	p.Merge(m.Validate())
	return bases, p.Err()
}

// job is one file to fetch: its manifest entry and the local names
// (relative to the root, in the OS's form) of the file and its partial
// download.
type job struct {
	file  pkg.File
	local string
	part  string
}

// planJobs maps the manifest paths onto local names, refusing any that
// would not stay inside the folder, and picks for each file a partial
// download name that is no other file's path or folder (ignoring case).
func planJobs(files []pkg.File) ([]job, error) {
	taken := make(map[string]bool, len(files))
	for _, f := range files {
		key := strings.ToUpper(f.Path)
		taken[key] = true
		for d := path.Dir(key); d != "."; d = path.Dir(d) {
			taken[d] = true
		}
	}
	var p consign.Problems
	jobs := make([]job, len(files))
	for i, f := range files {
		part := f.Path + ".part"
		for taken[strings.ToUpper(part)] {
			part += "~"
		}
		local, localPart := filepath.FromSlash(f.Path), filepath.FromSlash(part)
		if !filepath.IsLocal(local) || !filepath.IsLocal(localPart) {
			p.AddValue(fmt.Sprintf("Manifest.Files[%d].Path", i), f.Path, "a path that stays inside the download folder on this system")
			continue
		}
		jobs[i] = job{file: f, local: local, part: localPart}
	}
	return jobs, p.Err()
}

// fetch is the state of one Fetch call.
type fetch struct {
	d       *Downloader
	ctx     context.Context
	root    *os.Root
	bases   []string
	pkgID   consign.ObjectID
	version uint32
	dead    []bool // sources that could not be reached at all
	buf     []byte
}

// outcome classifies one request.
type outcome int

const (
	done      outcome = iota // the file is complete and verified
	transient                // worth asking the same source again
	permanent                // move on to the next source
	mismatch                 // complete but wrong; the partial file was discarded
)

// partial is a partial download being completed.
type partial struct {
	f       *os.File
	n       int64     // bytes in f
	h       hash.Hash // over f's first n bytes
	sources map[string]bool
}

// reset discards the partial download.
func (p *partial) reset() error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	p.n = 0
	p.h.Reset()
	clear(p.sources)
	return nil
}

// file fetches one file. The error is a *FileError when no source could
// serve it, ctx's error, or a local failure.
func (f *fetch) file(j job) (FileResult, []*SourceError, error) {
	fr := FileResult{Path: j.file.Path, Size: j.file.Size}
	if dir := filepath.Dir(j.local); dir != "." {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			return fr, nil, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
	}
	ok, err := f.inPlace(j)
	if err != nil {
		return fr, nil, err
	}
	if ok {
		fr.Reused = true
		if err := f.root.Remove(j.part); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fr, nil, fmt.Errorf("httpdp: %s: removing stale partial download: %w", j.file.Path, err)
		}
		return fr, nil, nil
	}

	p, err := f.openPartial(j)
	if err != nil {
		return fr, nil, err
	}
	defer func() {
		if p.f != nil {
			p.f.Close()
		}
	}()
	if p.n == j.file.Size {
		if [32]byte(p.h.Sum(nil)) == j.file.SHA256 {
			fr.Resumed = p.n
			return fr, nil, f.commit(j, p)
		}
		if err := p.reset(); err != nil {
			return fr, nil, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
	}

	var failures []*SourceError
	maxAttempts := f.d.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	for i, base := range f.bases {
		if f.dead[i] {
			failures = append(failures, &SourceError{Source: base, Path: j.file.Path,
				Err: consign.Errorf(consign.ErrUnavailable, "", "", "skipped: could not be reached earlier in this fetch")})
			continue
		}
		reached := false
	attempts:
		for attempt := 1; attempt <= maxAttempts; attempt++ {
			if attempt > 1 {
				if err := sleep(f.ctx, f.retryDelay(attempt-1)); err != nil {
					return fr, failures, err
				}
			}
			resumed := p.n
			res, serr, received, err := f.request(j, base, p)
			fr.Received += received
			if err != nil {
				return fr, failures, err
			}
			if serr != nil && (serr.Status != 0 || received > 0) || res == done {
				reached = true
			}
			switch res {
			case done:
				fr.Source, fr.Resumed = base, resumed
				return fr, failures, f.commit(j, p)
			case transient:
				failures = append(failures, serr)
			case permanent:
				failures = append(failures, serr)
				break attempts
			case mismatch:
				failures = append(failures, serr)
				// Blame this source only if it supplied every byte;
				// otherwise ask it again for the whole file.
				if !mismatchFromOthers(serr) {
					break attempts
				}
			}
		}
		if !reached {
			f.dead[i] = true
		}
	}
	errs := make([]error, len(failures))
	for i, e := range failures {
		errs[i] = e
	}
	return fr, failures, &FileError{Path: j.file.Path, Errs: errs}
}

// inPlace reports whether the file is already in place with the right
// content.
func (f *fetch) inPlace(j job) (bool, error) {
	fi, err := f.root.Stat(j.local)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != j.file.Size {
		return false, nil
	}
	file, err := f.root.Open(j.local)
	if err != nil {
		return false, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	defer file.Close()
	h := sha256.New()
	if _, err := copyCtx(f.ctx, h, file, f.buf); err != nil {
		if ctxErr := f.ctx.Err(); ctxErr != nil {
			return false, ctxErr
		}
		return false, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	return [32]byte(h.Sum(nil)) == j.file.SHA256, nil
}

// openPartial opens (or creates) the partial download and hashes what it
// holds, re-read from disk, so the whole file gets verified. A partial
// file longer than the file is discarded.
func (f *fetch) openPartial(j job) (*partial, error) {
	file, err := f.root.OpenFile(j.part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	p := &partial{f: file, h: sha256.New(), sources: make(map[string]bool)}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	if fi.Size() > j.file.Size {
		if err := p.reset(); err != nil {
			file.Close()
			return nil, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
		return p, nil
	}
	n, err := copyCtx(f.ctx, p.h, io.NewSectionReader(file, 0, fi.Size()), f.buf)
	if err != nil {
		file.Close()
		if ctxErr := f.ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("httpdp: %s: reading partial download: %w", j.file.Path, err)
	}
	p.n = n
	if n > 0 {
		p.sources[earlierFetch] = true
	}
	return p, nil
}

// commit makes the verified partial download durable and renames it into
// place.
func (f *fetch) commit(j job, p *partial) error {
	file := p.f
	p.f = nil
	if !f.d.NoSync {
		if err := file.Sync(); err != nil {
			file.Close()
			return fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	if err := f.root.Rename(j.part, j.local); err != nil {
		return fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	if runtime.GOOS == "windows" || f.d.NoSync {
		return nil // directories cannot be synced on Windows
	}
	dir, err := f.root.Open(filepath.Dir(j.local))
	if err != nil {
		return fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("httpdp: %s: syncing its folder: %w", j.file.Path, err)
	}
	return nil
}

// errStalled cancels a request that received nothing for IdleTimeout.
var errStalled = errors.New("stalled")

// request asks base for the rest of the file and appends what it sends to
// p. err is ctx's error or a local failure; otherwise res says what
// happened and serr describes a failure.
func (f *fetch) request(j job, base string, p *partial) (res outcome, serr *SourceError, received int64, err error) {
	fail := func(o outcome, status int, cause error) (outcome, *SourceError, int64, error) {
		return o, &SourceError{Source: base, Path: j.file.Path, Status: status, Err: cause}, received, nil
	}
	idle := f.d.IdleTimeout
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	rctx, cancel := context.WithCancelCause(f.ctx)
	defer cancel(nil)
	timer := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer timer.Stop()
	stalled := func() bool { return f.ctx.Err() == nil && context.Cause(rctx) == errStalled }

	req, err := http.NewRequestWithContext(rctx, http.MethodGet, f.fileURL(base, j.file.Path), nil)
	if err != nil {
		return fail(permanent, 0, consign.Errorf(consign.ErrInvalid, "", "", "building the request: %v", err))
	}
	tag := etag(j.file.SHA256)
	if p.n > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(p.n, 10)+"-")
		req.Header.Set("If-Range", tag)
	}
	if f.d.Header != nil {
		f.d.Header(req)
	}
	client := f.d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := f.ctx.Err(); ctxErr != nil {
			return 0, nil, 0, ctxErr
		}
		if stalled() {
			return fail(transient, 0, consign.Errorf(consign.ErrUnavailable, "", "", "no response for %v", idle))
		}
		return fail(transient, 0, consign.Errorf(consign.ErrUnavailable, "", "", "%v", err))
	}
	defer resp.Body.Close()

	remaining := j.file.Size - p.n
	switch st := resp.StatusCode; {
	case st == http.StatusPartialContent:
		if p.n == 0 {
			return fail(permanent, st, consign.Errorf(consign.ErrInvalid, "", "", "partial content that was not asked for"))
		}
		first, last, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || first != p.n || last != j.file.Size-1 || total != j.file.Size {
			return fail(permanent, st, consign.Errorf(consign.ErrInvalid, "", "",
				"Content-Range %q does not answer bytes=%d- of a %d-byte file", resp.Header.Get("Content-Range"), p.n, j.file.Size))
		}
	case st == http.StatusOK:
		remaining = j.file.Size
	case st == http.StatusNotFound || st == http.StatusGone:
		return fail(permanent, st, consign.Errorf(consign.ErrNotFound, "", "", "%s", errorMessage(resp)))
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return fail(permanent, st, consign.Errorf(consign.ErrPermissionDenied, "", "", "%s", errorMessage(resp)))
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
		return fail(transient, st, consign.Errorf(consign.ErrUnavailable, "", "", "%s", errorMessage(resp)))
	default:
		return fail(permanent, st, fmt.Errorf("unexpected response: %s", errorMessage(resp)))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != remaining {
		// Not this file, or not the rest of it: nothing is written.
		return fail(permanent, resp.StatusCode, consign.Errorf(consign.ErrInvalid, "", "",
			"body of %d bytes where %d were expected", resp.ContentLength, remaining))
	}
	if resp.StatusCode == http.StatusOK && p.n > 0 {
		// The whole file, not the rest: start again.
		if err := p.reset(); err != nil {
			return 0, nil, 0, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
	}

	// Copy the body, hashing exactly what reaches the file.
	p.sources[base] = true
	var got int64
	for {
		want := remaining - got + 1 // one more, to notice a body too long
		buf := f.buf
		if int64(len(buf)) > want {
			buf = buf[:want]
		}
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(idle)
			received += int64(n)
			if got+int64(n) > remaining {
				if err := p.reset(); err != nil {
					return 0, nil, 0, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
				}
				return fail(permanent, resp.StatusCode, consign.Errorf(consign.ErrInvalid, "", "", "body longer than the %d bytes expected", remaining))
			}
			wn, werr := p.f.WriteAt(buf[:n], p.n)
			p.h.Write(buf[:wn])
			p.n += int64(wn)
			got += int64(wn)
			if werr != nil {
				return 0, nil, 0, fmt.Errorf("httpdp: %s: %w", j.file.Path, werr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctxErr := f.ctx.Err(); ctxErr != nil {
				return 0, nil, 0, ctxErr
			}
			if stalled() {
				return fail(transient, resp.StatusCode, consign.Errorf(consign.ErrUnavailable, "", "",
					"transfer stalled for %v after %d of %d bytes", idle, got, remaining))
			}
			return fail(transient, resp.StatusCode, consign.Errorf(consign.ErrUnavailable, "", "",
				"transfer cut after %d of %d bytes: %v", got, remaining, rerr))
		}
	}
	if got < remaining {
		return fail(transient, resp.StatusCode, consign.Errorf(consign.ErrUnavailable, "", "",
			"transfer cut after %d of %d bytes", got, remaining))
	}
	if sum := [32]byte(p.h.Sum(nil)); sum != j.file.SHA256 {
		others := len(p.sources) > 1
		hm := &distpoint.HashMismatchError{WantSHA256: j.file.SHA256, WantSize: j.file.Size, GotSHA256: sum, GotSize: p.n}
		if err := p.reset(); err != nil {
			return 0, nil, 0, fmt.Errorf("httpdp: %s: %w", j.file.Path, err)
		}
		var cause error = hm
		if others {
			cause = &mixedMismatch{hm}
		}
		return fail(mismatch, resp.StatusCode, cause)
	}
	return done, nil, received, nil
}

// mixedMismatch is a hash mismatch of a file whose bytes came from more
// than one source (or partly from an earlier Fetch), so the source that
// sent the last bytes is not necessarily the one at fault.
type mixedMismatch struct {
	*distpoint.HashMismatchError
}

// Error says that the bytes came from several sources.
func (e *mixedMismatch) Error() string {
	return e.HashMismatchError.Error() + " (the bytes came from more than one download; retrying from the start)"
}

// Unwrap returns the hash mismatch.
func (e *mixedMismatch) Unwrap() error { return e.HashMismatchError }

// mismatchFromOthers reports whether serr's mismatch involved bytes from
// other sources.
func mismatchFromOthers(serr *SourceError) bool {
	var mm *mixedMismatch
	return errors.As(serr.Err, &mm)
}

// fileURL is the URL of a file on base.
func (f *fetch) fileURL(base, p string) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(pathPrefix)
	b.WriteString(url.PathEscape(string(f.pkgID)))
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(uint64(f.version), 10))
	b.WriteString("/files")
	for elem := range strings.SplitSeq(p, "/") {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(elem))
	}
	return b.String()
}

// retryDelay is the wait before retry number n (1 for the first retry).
func (f *fetch) retryDelay(n int) time.Duration {
	d := f.d.RetryDelay
	if d <= 0 {
		d = defaultRetryDelay
	}
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// sleep waits for d or until ctx is done, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// copyCtx copies src to dst through buf, checking ctx between chunks.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, false
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// errorMessage summarises an error response: the message of a JSON error
// body when there is one, else the status text.
func errorMessage(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error.Message != "" {
		if eb.Error.Code != "" {
			return eb.Error.Code + ": " + eb.Error.Message
		}
		return eb.Error.Message
	}
	return http.StatusText(resp.StatusCode)
}
