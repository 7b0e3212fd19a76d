package httpdp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// Options configures a Server. The zero value (or a nil *Options) serves
// every package to everyone and logs nothing.
type Options struct {
	// Authorize decides whether r may read packageID's content. It runs
	// before the Library is read; nil allows everything. Return nil to
	// allow, ErrUnauthenticated for 401, consign.ErrPermissionDenied for
	// 403, consign.ErrNotFound for 404, consign.ErrUnavailable for 503;
	// any other error gives 500. Its error is logged (with credential
	// header values redacted) but never sent to the client.
	Authorize func(r *http.Request, packageID consign.ObjectID) error
	// Logger receives one record per failed request; nil logs nothing.
	Logger *slog.Logger
	// Challenge is the WWW-Authenticate value sent with a 401; empty
	// means "Bearer".
	Challenge string
}

// Server is an http.Handler serving one distribution point's Library,
// read-only (see the package comment for the protocol). Create one with
// NewServer. It expects request paths that start with /v1/content/: mount
// it at the root, at "/v1/content/" in a ServeMux, or below a prefix
// removed with http.StripPrefix.
type Server struct {
	lib       distpoint.Library
	authorize func(*http.Request, consign.ObjectID) error
	log       *slog.Logger
	challenge string
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server over lib, which must not be nil. opts may be
// nil.
func NewServer(lib distpoint.Library, opts *Options) *Server {
	s := &Server{lib: lib, challenge: "Bearer"}
	if opts != nil {
		s.authorize = opts.Authorize
		s.log = opts.Logger
		if opts.Challenge != "" {
			s.challenge = opts.Challenge
		}
	}
	return s
}

// pathPrefix starts every content URL.
const pathPrefix = "/v1/content/"

// maxRanges is the most byte ranges a request may ask for; a request
// with more is served the whole file, as RFC 9110 allows. Serving many
// small ranges out of order can cost a full read of the blob per range
// when the Library's reader cannot seek.
const maxRanges = 32

// target is a parsed request path.
type target struct {
	pkgID    consign.ObjectID
	version  uint32
	manifest bool   // the manifest, rather than a file
	path     string // the file's path, for !manifest
}

// errNoRoute is a path that is no content URL (404).
var errNoRoute = errors.New("no such resource")

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.reply(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed, "", "only GET and HEAD are allowed", nil)
		return
	}
	t, err := parseTarget(r.URL.EscapedPath())
	if err != nil {
		var ve *consign.ValidationError
		if errors.As(err, &ve) {
			s.reply(w, r, http.StatusBadRequest, codeInvalid, ve.Field, ve.Error(), nil)
		} else {
			s.reply(w, r, http.StatusNotFound, codeNotFound, "", "no such resource: content URLs are /v1/content/{packageID}/{version}/manifest and /v1/content/{packageID}/{version}/files/{path}", nil)
		}
		return
	}
	ctx := r.Context()
	if s.authorize != nil {
		if err := s.authorize(r, t.pkgID); err != nil {
			s.fail(w, r, "authorize", err)
			return
		}
	}
	m, err := s.lib.Version(ctx, t.pkgID, t.version)
	if err != nil {
		if errors.Is(err, consign.ErrNotFound) {
			s.reply(w, r, http.StatusNotFound, codeNotFound, "",
				fmt.Sprintf("package %s version %d is not on this distribution point", t.pkgID, t.version), nil)
			return
		}
		s.fail(w, r, "Version", err)
		return
	}
	m = m.Sorted()
	if t.manifest {
		s.serveManifest(w, r, m)
		return
	}
	f, ok := lookup(m, t.path)
	if !ok {
		s.reply(w, r, http.StatusNotFound, codeNotFound, "path",
			fmt.Sprintf("package %s version %d has no file %q", t.pkgID, t.version, t.path), nil)
		return
	}
	s.serveFile(w, r, f)
}

// serveManifest writes m as JSON through http.ServeContent, so HEAD,
// If-None-Match and ranges work as for files.
func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request, m pkg.Manifest) {
	body, err := encodeManifest(m)
	if err != nil {
		s.fail(w, r, "encode manifest", err)
		return
	}
	sum := m.Hash()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", etag(sum))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// serveFile writes the bytes of f with range support.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, f pkg.File) {
	ctx := r.Context()
	rc, err := s.lib.OpenBlob(ctx, f.SHA256)
	if err != nil {
		if errors.Is(err, consign.ErrNotFound) {
			// The manifest names content this DP lost: the client should
			// go to another DP, and the DP needs a refresh.
			s.reply(w, r, http.StatusNotFound, codeNotFound, "path",
				fmt.Sprintf("the content of %q is missing on this distribution point", f.Path), err)
			return
		}
		s.fail(w, r, "OpenBlob", err)
		return
	}
	var content io.ReadSeeker
	if rs, ok := rc.(io.ReadSeeker); ok {
		size, err := rs.Seek(0, io.SeekEnd)
		if err == nil && size != f.Size {
			err = fmt.Errorf("stored content of %q is %d bytes, manifest says %d", f.Path, size, f.Size)
		}
		if err == nil {
			_, err = rs.Seek(0, io.SeekStart)
		}
		if err != nil {
			rc.Close()
			s.fail(w, r, "OpenBlob", err)
			return
		}
		content = rs
	} else {
		content = &blobReader{ctx: ctx, lib: s.lib, sum: f.SHA256, size: f.Size, rc: rc}
	}
	defer func() {
		if c, ok := content.(io.Closer); ok {
			c.Close()
		}
	}()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", etag(f.SHA256))
	if rg := r.Header.Get("Range"); strings.Count(rg, ",") >= maxRanges {
		r2 := new(http.Request)
		*r2 = *r
		r2.Header = r.Header.Clone()
		r2.Header.Del("Range")
		r = r2
	}
	http.ServeContent(w, r, "", time.Time{}, content)
}

// etag is the strong entity tag of content with SHA-256 sum.
func etag(sum [32]byte) string { return `"` + hex.EncodeToString(sum[:]) + `"` }

// lookup finds path in m (sorted), exactly or else ignoring case the way
// the manifest does (pkg.Manifest.Validate keeps folded paths unique).
func lookup(m pkg.Manifest, path string) (pkg.File, bool) {
	i := sort.Search(len(m.Files), func(i int) bool { return m.Files[i].Path >= path })
	if i < len(m.Files) && m.Files[i].Path == path {
		return m.Files[i], true
	}
	folded := strings.ToUpper(path)
	for _, f := range m.Files {
		if strings.ToUpper(f.Path) == folded {
			return f, true
		}
	}
	return pkg.File{}, false
}

// parseTarget parses an escaped request path. It returns a
// *consign.ValidationError for malformed input (400) and errNoRoute for a
// path that is no content URL (404).
func parseTarget(escaped string) (target, error) {
	rest, ok := strings.CutPrefix(escaped, pathPrefix)
	if !ok {
		return target{}, errNoRoute
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 3 {
		return target{}, errNoRoute
	}
	var t target
	switch {
	case segs[2] == "manifest" && len(segs) == 3:
		t.manifest = true
	case segs[2] == "files":
	default:
		return target{}, errNoRoute
	}
	fields := []string{"packageID", "version"}
	decoded := make([]string, len(segs))
	for i, seg := range segs {
		field := "path"
		if i < len(fields) {
			field = fields[i]
		}
		d, err := url.PathUnescape(seg)
		if err != nil {
			return target{}, &consign.ValidationError{Field: field, Value: seg, Rule: "valid percent-encoding"}
		}
		if rule := segmentRule(d); rule != "" {
			return target{}, &consign.ValidationError{Field: field, Value: d, Rule: rule}
		}
		decoded[i] = d
	}
	id, err := consign.ParseObjectID(decoded[0])
	if err != nil {
		return target{}, &consign.ValidationError{Field: "packageID", Value: decoded[0],
			Rule: "a package ID: site code (3 letters or digits) followed by 5 hexadecimal digits"}
	}
	t.pkgID = id
	v, ok := parseVersion(decoded[1])
	if !ok {
		return target{}, &consign.ValidationError{Field: "version", Value: decoded[1],
			Rule: "a decimal SourceVersion from 1 to 4294967295, without sign or leading zeros"}
	}
	t.version = v
	if t.manifest {
		return t, nil
	}
	p := strings.Join(decoded[3:], "/") // "" when there is no element
	if rule := filePathRule(p); rule != "" {
		return target{}, &consign.ValidationError{Field: "path", Value: p, Rule: rule}
	}
	t.path = p
	return t, nil
}

// segmentRule returns the rule a decoded path element breaks, or "". The
// manifest's own rules (filePathRule) catch the rest; these are the ones
// that would change how the path splits or could reach a file system.
func segmentRule(d string) string {
	switch {
	case strings.Contains(d, "/"):
		return "no encoded slash (%2F) inside a path element"
	case strings.ContainsRune(d, 0):
		return "no NUL characters"
	case strings.Contains(d, `\`):
		return "forward slashes only, no backslashes"
	}
	return ""
}

// filePathRule applies the manifest's path rules (pkg.Manifest.Validate)
// to p, so that the server accepts exactly the paths a manifest can hold.
func filePathRule(p string) string {
	err := pkg.Manifest{Files: []pkg.File{{Path: p}}}.Validate()
	if err == nil {
		return ""
	}
	var ve *consign.ValidationError
	if errors.As(err, &ve) {
		return ve.Rule
	}
	return err.Error()
}

// parseVersion parses a canonical decimal SourceVersion.
func parseVersion(s string) (uint32, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// manifestJSON is the wire form of a manifest.
type manifestJSON struct {
	Files []fileJSON `json:"files"`
}

type fileJSON struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func encodeManifest(m pkg.Manifest) ([]byte, error) {
	mj := manifestJSON{Files: make([]fileJSON, len(m.Files))}
	for i, f := range m.Files {
		mj.Files[i] = fileJSON{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:])}
	}
	return json.Marshal(mj)
}

// fail maps an internal or Authorize error to a status and writes it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	err = fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", s.challenge)
		s.reply(w, r, http.StatusUnauthorized, codeUnauthenticated, "", "a valid device credential is required", err)
	case errors.Is(err, consign.ErrPermissionDenied):
		s.reply(w, r, http.StatusForbidden, codePermissionDenied, "", "not allowed to read this package's content", err)
	case errors.Is(err, consign.ErrNotFound):
		s.reply(w, r, http.StatusNotFound, codeNotFound, "", "no such package content", err)
	case errors.Is(err, consign.ErrUnavailable):
		s.reply(w, r, http.StatusServiceUnavailable, codeUnavailable, "", "the distribution point's content is unavailable; try another or later", err)
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client went away; nobody reads the reply, and reply logs it
		// at debug level only.
		s.reply(w, r, http.StatusServiceUnavailable, codeUnavailable, "", "request cancelled", err)
	default:
		s.reply(w, r, http.StatusInternalServerError, codeInternal, "", "internal error", err)
	}
}

// reply writes a JSON error and logs it with cause (which may be nil).
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, code, field, msg string, cause error) {
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		level = slog.LevelWarn
	}
	if r.Context().Err() != nil {
		level = slog.LevelDebug // the client is gone: not the DP's problem
	}
	if cause == nil {
		cause = errors.New(msg)
	}
	s.logf(r, level, status, cause)
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Field: field, Message: msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(body, '\n'))
	}
}

// logf logs a failed request without secrets: no header values, no query
// string, credential header values redacted from the error text.
func (s *Server) logf(r *http.Request, level slog.Level, status int, err error) {
	if s.log == nil || !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "httpdp: request failed",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("remote", r.RemoteAddr),
		slog.Int("status", status),
		slog.String("err", redact(r, err.Error())),
	)
}

// credentialHeaders are the headers whose values must never reach a log.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// redact removes from s every value of r's credential headers, and the
// credential part of "Scheme credential" values on their own.
func redact(r *http.Request, s string) string {
	for _, name := range credentialHeaders {
		for _, v := range r.Header.Values(name) {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			s = strings.ReplaceAll(s, v, "[redacted]")
			if _, cred, ok := strings.Cut(v, " "); ok {
				if cred = strings.TrimSpace(cred); len(cred) >= 4 {
					s = strings.ReplaceAll(s, cred, "[redacted]")
				}
			}
		}
	}
	return s
}

// blobReader gives io.Seeker to a blob reader that lacks it, for
// http.ServeContent: it tracks the position asked for and, on the next
// Read, skips forward by reading or, to go back, opens the blob again. It
// never reads past size, the manifest's size of the blob; content shorter
// than that gives io.ErrUnexpectedEOF.
type blobReader struct {
	ctx  context.Context
	lib  distpoint.Library
	sum  [32]byte
	size int64

	rc  io.ReadCloser // nil after a failed reopen
	pos int64         // rc's position
	off int64         // the position asked for
}

// Read implements io.Reader.
func (b *blobReader) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.off < b.pos {
		if b.rc != nil {
			b.rc.Close()
			b.rc = nil
		}
		rc, err := b.lib.OpenBlob(b.ctx, b.sum)
		if err != nil {
			return 0, err
		}
		b.rc, b.pos = rc, 0
	}
	if b.off > b.pos {
		n, err := io.CopyN(io.Discard, b.rc, b.off-b.pos)
		b.pos += n
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	if rem := b.size - b.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.rc.Read(p)
	b.pos += int64(n)
	b.off += int64(n)
	if err == io.EOF {
		if b.off < b.size {
			return n, io.ErrUnexpectedEOF
		}
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

// Seek implements io.Seeker; it only records the position.
func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	default:
		return 0, errors.New("httpdp: blob seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("httpdp: blob seek: negative position")
	}
	b.off = abs
	return abs, nil
}

// Close closes the current reader.
func (b *blobReader) Close() error {
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}
