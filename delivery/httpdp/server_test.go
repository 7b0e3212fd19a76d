package httpdp_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/distpoint"
)

const testPkg consign.ObjectID = "CEN00001"

// serverFiles is the content most server tests publish as testPkg v1.
func serverFiles() []testFile {
	return []testFile{
		{"setup.exe", pattern("setup", 1000)},
		{"Bin/Tool.dll", pattern("tool", 300)},
		{"docs/read me.txt", []byte("hello, world\n")},
		{"empty.dat", nil},
	}
}

// backends returns the libraries every server test runs against: the file
// system library (seekable blobs) and the in-memory one whose blobs cannot
// seek.
func backends(t *testing.T) map[string]func(t *testing.T) distpoint.Library {
	return map[string]func(t *testing.T) distpoint.Library{
		"fslibrary": func(t *testing.T) distpoint.Library {
			l, err := fslibrary.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"noseek": func(t *testing.T) distpoint.Library { return newMemLib() },
	}
}

// errJSON is the decoded JSON error body.
type errJSON struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeErr(t *testing.T, resp *http.Response, body []byte) errJSON {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json (body %q)", ct, body)
	}
	var e errJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body %q lacks code or message", body)
	}
	return e
}

func get(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// rawGet sends target exactly as given on the request line, bypassing
// url.URL, and returns the response.
func rawGet(t *testing.T, srv *httptest.Server, target string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: dp\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func fileURL(srv *httptest.Server, path string) string {
	return srv.URL + "/v1/content/" + string(testPkg) + "/1/files/" + path
}

func TestServerManifest(t *testing.T) {
	lib := newMemLib()
	m := publish(t, lib, testPkg, 1, serverFiles())
	srv := serve(t, httpdp.NewServer(lib, nil))
	url := srv.URL + "/v1/content/CEN00001/1/manifest"

	resp, body := get(t, "GET", url, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET manifest: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got struct {
		Files []struct {
			Path   string `json:"path"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("manifest %s: %v", body, err)
	}
	want := m.Sorted().Files
	if len(got.Files) != len(want) {
		t.Fatalf("manifest has %d files, want %d", len(got.Files), len(want))
	}
	for i, f := range want {
		g := got.Files[i]
		if g.Path != f.Path || g.Size != f.Size || g.SHA256 != hex.EncodeToString(f.SHA256[:]) {
			t.Errorf("file %d: got %+v, want %s %d %x", i, g, f.Path, f.Size, f.SHA256)
		}
	}
	sum := m.Hash()
	tag := `"` + hex.EncodeToString(sum[:]) + `"`
	if resp.Header.Get("ETag") != tag {
		t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), tag)
	}

	resp, body = get(t, "HEAD", url, nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("ETag") != tag {
		t.Errorf("HEAD manifest: %d, %d body bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	resp, _ = get(t, "GET", url, map[string]string{"If-None-Match": tag})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
}

func TestServerRanges(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			lib := open(t)
			publish(t, lib, testPkg, 1, serverFiles())
			srv := serve(t, httpdp.NewServer(lib, nil))
			data := pattern("setup", 1000)
			sum := sha256.Sum256(data)
			tag := `"` + hex.EncodeToString(sum[:]) + `"`
			type part struct{ first, last int }
			tests := []struct {
				name    string
				header  map[string]string
				status  int
				want    []byte // single-part body
				parts   []part // multipart/byteranges parts, in order
				content string // Content-Range
			}{
				{name: "whole", status: 200, want: data},
				{name: "single", header: map[string]string{"Range": "bytes=10-19"}, status: 206, want: data[10:20], content: "bytes 10-19/1000"},
				{name: "open-ended", header: map[string]string{"Range": "bytes=990-"}, status: 206, want: data[990:], content: "bytes 990-999/1000"},
				{name: "suffix", header: map[string]string{"Range": "bytes=-5"}, status: 206, want: data[995:], content: "bytes 995-999/1000"},
				{name: "past end clipped", header: map[string]string{"Range": "bytes=998-5000"}, status: 206, want: data[998:], content: "bytes 998-999/1000"},
				{name: "multi", header: map[string]string{"Range": "bytes=0-4,100-109"}, status: 206, parts: []part{{0, 4}, {100, 109}}},
				{name: "multi backwards", header: map[string]string{"Range": "bytes=900-909,0-9,500-501"}, status: 206, parts: []part{{900, 909}, {0, 9}, {500, 501}}},
				{name: "if-range match", header: map[string]string{"Range": "bytes=500-", "If-Range": tag}, status: 206, want: data[500:], content: "bytes 500-999/1000"},
				{name: "if-range other", header: map[string]string{"Range": "bytes=500-", "If-Range": `"0000"`}, status: 200, want: data},
				{name: "unsatisfiable", header: map[string]string{"Range": "bytes=1000-"}, status: 416},
				{name: "too many ranges", header: map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", 40) + "1-1"}, status: 200, want: data},
				{name: "if-none-match", header: map[string]string{"If-None-Match": tag}, status: 304},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := get(t, "GET", fileURL(srv, "setup.exe"), tt.header)
					if resp.StatusCode != tt.status {
						t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
					}
					if resp.StatusCode < 300 && resp.Header.Get("ETag") != tag {
						t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), tag)
					}
					if resp.Header.Get("Last-Modified") != "" {
						t.Errorf("Last-Modified %q, want none", resp.Header.Get("Last-Modified"))
					}
					if tt.want != nil && !bytes.Equal(body, tt.want) {
						t.Errorf("body: %d bytes, want %d", len(body), len(tt.want))
					}
					if tt.content != "" && resp.Header.Get("Content-Range") != tt.content {
						t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), tt.content)
					}
					if tt.parts == nil {
						return
					}
					mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
					if err != nil || mt != "multipart/byteranges" {
						t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
					}
					mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
					for i, p := range tt.parts {
						mp, err := mr.NextPart()
						if err != nil {
							t.Fatalf("part %d: %v", i, err)
						}
						got, _ := io.ReadAll(mp)
						if !bytes.Equal(got, data[p.first:p.last+1]) {
							t.Errorf("part %d: got %x, want bytes %d-%d", i, got, p.first, p.last)
						}
						if cr := fmt.Sprintf("bytes %d-%d/1000", p.first, p.last); mp.Header.Get("Content-Range") != cr {
							t.Errorf("part %d: Content-Range %q, want %q", i, mp.Header.Get("Content-Range"), cr)
						}
					}
					if _, err := mr.NextPart(); err != io.EOF {
						t.Errorf("more parts than %d: %v", len(tt.parts), err)
					}
				})
			}
		})
	}
}

func TestServerHEADAndTypes(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	srv := serve(t, httpdp.NewServer(lib, nil))
	opens := lib.opens.Load()
	resp, body := get(t, "HEAD", fileURL(srv, "setup.exe"), nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 1000 {
		t.Fatalf("HEAD: %d, body %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
	}
	// HEAD of a non-seekable blob needs no read beyond opening it.
	if n := lib.opens.Load() - opens; n != 1 {
		t.Errorf("HEAD opened the blob %d times", n)
	}
	resp, body = get(t, "GET", fileURL(srv, "empty.dat"), nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("empty file: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get(t, "GET", fileURL(srv, "docs/read%20me.txt"), nil)
	if resp.StatusCode != 200 || string(body) != "hello, world\n" {
		t.Errorf("escaped space: %d %q", resp.StatusCode, body)
	}
}

func TestServerMethodNotAllowed(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	srv := serve(t, httpdp.NewServer(lib, nil))
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"} {
		for _, url := range []string{fileURL(srv, "setup.exe"), srv.URL + "/v1/content/CEN00001/1/manifest", srv.URL + "/nowhere"} {
			resp, body := get(t, method, url, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, url, resp.StatusCode)
				continue
			}
			if resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: Allow %q", method, resp.Header.Get("Allow"))
			}
			if e := decodeErr(t, resp, body); e.Error.Code != "method_not_allowed" {
				t.Errorf("%s: code %q", method, e.Error.Code)
			}
		}
	}
	if n := lib.calls.Load(); n != 0 {
		t.Errorf("the library was read %d times for refused methods", n)
	}
}

func TestServerBadPaths(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	// A blob stored but in no manifest: nothing may serve it.
	secret := testFile{"secret.txt", []byte("top secret")}
	publish(t, lib, "CEN00099", 1, []testFile{secret})
	srv := serve(t, httpdp.NewServer(lib, nil))
	const base = "/v1/content/CEN00001/1/files/"
	tests := []struct {
		target string
		status int
		field  string // "" for a plain-text 400 from net/http
	}{
		{base + "../../CEN00099/1/files/secret.txt", 400, "path"},
		{base + "..", 400, "path"},
		{base + "Bin/../setup.exe", 400, "path"},
		{base + "%2e%2e/%2e%2e/etc/passwd", 400, "path"},
		{base + "..%2fsecret.txt", 400, "path"},
		{base + "Bin%2FTool.dll", 400, "path"},
		{base + "%2Fetc%2Fpasswd", 400, "path"},
		{base + "/etc/passwd", 400, "path"},
		{base + "Bin//Tool.dll", 400, "path"},
		{base + "./setup.exe", 400, "path"},
		{base + "Bin/Tool.dll/", 400, "path"},
		{base, 400, "path"},
		{base + "Bin%5CTool.dll", 400, "path"},
		{base + `Bin\Tool.dll`, 400, "path"},
		{base + "..%5C..%5Csecret.txt", 400, "path"},
		{base + "setup.exe%00.txt", 400, "path"},
		{base + "C:/Windows/win.ini", 400, "path"},
		{base + "C:%5CWindows", 400, "path"},
		{base + "setup.exe%20", 400, "path"},
		{base + "setup.exe.", 400, "path"},
		{base + "a%0Ab", 400, "path"},
		{base + "%zz", 400, ""},
		{base + "setup%2", 400, ""},
		{"/v1/content/..%2F..%2F/1/files/setup.exe", 400, "packageID"},
		{"/v1/content/CEN00001/..%2f1/files/setup.exe", 400, "version"},
		{"/v1/content/CEN00001/1/../1/files/setup.exe", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp, body := rawGet(t, srv, tt.target)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if bytes.Contains(body, secret.data) {
				t.Fatalf("served the secret")
			}
			if tt.field == "" {
				return
			}
			e := decodeErr(t, resp, body)
			if e.Error.Code != "invalid" || e.Error.Field != tt.field {
				t.Errorf("error %+v, want code invalid, field %q", e.Error, tt.field)
			}
		})
	}
}

func TestServerMalformedIDs(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	srv := serve(t, httpdp.NewServer(lib, nil))
	tests := []struct {
		id, version, field string
	}{
		{"CEN0001", "1", "packageID"},
		{"CEN000001", "1", "packageID"},
		{"CEN0000G", "1", "packageID"},
		{"CE-00001", "1", "packageID"},
		{"%00EN00001", "1", "packageID"},
		{"CEN00001%00", "1", "packageID"},
		{"", "1", "packageID"},
		{"CEN00001", "0", "version"},
		{"CEN00001", "01", "version"},
		{"CEN00001", "-1", "version"},
		{"CEN00001", "+1", "version"},
		{"CEN00001", "4294967296", "version"},
		{"CEN00001", "1.0", "version"},
		{"CEN00001", "0x1", "version"},
		{"CEN00001", "", "version"},
	}
	for _, tt := range tests {
		for _, rest := range []string{"manifest", "files/setup.exe"} {
			target := "/v1/content/" + tt.id + "/" + tt.version + "/" + rest
			resp, body := rawGet(t, srv, target)
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d, want 400 (%s)", target, resp.StatusCode, body)
				continue
			}
			if e := decodeErr(t, resp, body); e.Error.Code != "invalid" || e.Error.Field != tt.field {
				t.Errorf("%s: error %+v, want field %s", target, e.Error, tt.field)
			}
		}
	}
	if n := lib.calls.Load(); n != 0 {
		t.Errorf("the library was read %d times for malformed requests", n)
	}
	// Lower case package IDs are folded, as ParseObjectID does.
	if resp, _ := get(t, "GET", srv.URL+"/v1/content/cen00001/1/files/setup.exe", nil); resp.StatusCode != 200 {
		t.Errorf("lower-case package ID: %d", resp.StatusCode)
	}
}

func TestServerNotFound(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	gone := testFile{"gone.bin", pattern("gone", 50)}
	publish(t, lib, "CEN00002", 1, []testFile{gone})
	lib.dropBlob(manifestOf([]testFile{gone}).Files[0].SHA256)
	srv := serve(t, httpdp.NewServer(lib, nil))
	for _, path := range []string{
		"/v1/content/CEN00009/1/manifest",
		"/v1/content/CEN00001/2/manifest",
		"/v1/content/CEN00001/2/files/setup.exe",
		"/v1/content/CEN00001/1/files/setup.msi",
		"/v1/content/CEN00001/1/files/Bin",
		"/v1/content/CEN00002/1/files/gone.bin",
		"/v1/content/CEN00001/1/other",
		"/v1/content/CEN00001/1/manifest/x",
		"/v1/content/CEN00001/1",
		"/v1/content/",
		"/",
		"/v2/content/CEN00001/1/manifest",
	} {
		resp, body := get(t, "GET", srv.URL+path, nil)
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404 (%s)", path, resp.StatusCode, body)
			continue
		}
		if e := decodeErr(t, resp, body); e.Error.Code != "not_found" {
			t.Errorf("%s: code %q", path, e.Error.Code)
		}
	}
}

func TestServerCaseInsensitivePaths(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	srv := serve(t, httpdp.NewServer(lib, nil))
	for path, want := range map[string][]byte{
		"SETUP.EXE":          pattern("setup", 1000),
		"Setup.Exe":          pattern("setup", 1000),
		"bin/tool.DLL":       pattern("tool", 300),
		"BIN/TOOL.DLL":       pattern("tool", 300),
		"Docs/Read%20Me.TXT": []byte("hello, world\n"),
	} {
		resp, body := get(t, "GET", fileURL(srv, path), nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger used by server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServerAuthorize(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	publish(t, lib, "CEN00002", 1, serverFiles())
	var logs syncBuffer
	var seen sync.Map
	const good, other = "Bearer device-1-s3cret", "Bearer device-2-t0ken"
	srv := serve(t, httpdp.NewServer(lib, &httpdp.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Authorize: func(r *http.Request, id consign.ObjectID) error {
			seen.Store(id, true)
			switch auth := r.Header.Get("Authorization"); {
			case auth == good && id == testPkg:
				return nil
			case auth == good || auth == other:
				// An embedder's error that carelessly quotes the credential.
				return fmt.Errorf("device with %q: package %s not targeted: %w", auth, id, consign.ErrPermissionDenied)
			default:
				return fmt.Errorf("credential %q unknown: %w", auth, httpdp.ErrUnauthenticated)
			}
		},
	}))
	tests := []struct {
		name, auth, path string
		status           int
		code             string
	}{
		{"allowed", good, "/v1/content/CEN00001/1/files/setup.exe", 200, ""},
		{"allowed lower case", good, "/v1/content/cen00001/1/manifest", 200, ""},
		{"other package", good, "/v1/content/CEN00002/1/files/setup.exe", 403, "permission_denied"},
		{"other device", other, "/v1/content/CEN00001/1/files/setup.exe", 403, "permission_denied"},
		{"no credential", "", "/v1/content/CEN00001/1/files/setup.exe", 401, "unauthenticated"},
		{"bad credential", "Bearer forged-k3y", "/v1/content/CEN00001/1/manifest", 401, "unauthenticated"},
		{"denied before not found", "", "/v1/content/CEN00001/7/files/nothing", 401, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lib.calls.Load()
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			resp, body := get(t, "GET", srv.URL+tt.path, h)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				return
			}
			if e := decodeErr(t, resp, body); e.Error.Code != tt.code {
				t.Errorf("code %q, want %q", e.Error.Code, tt.code)
			}
			if n := lib.calls.Load() - before; n != 0 {
				t.Errorf("the library was read %d times for a refused request", n)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if bytes.Contains(body, []byte("s3cret")) || bytes.Contains(body, []byte("t0ken")) || bytes.Contains(body, []byte("k3y")) {
				t.Errorf("the reply echoes a credential: %s", body)
			}
		})
	}
	if _, ok := seen.Load(testPkg); !ok {
		t.Error("Authorize never saw the upper-case package ID")
	}
	out := logs.String()
	for _, secret := range []string{"s3cret", "t0ken", "k3y"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a credential (%s):\n%s", secret, out)
		}
	}
	if strings.Count(out, "status=403") != 2 || strings.Count(out, "status=401") != 3 {
		t.Errorf("want 2 logged 403s and 3 logged 401s:\n%s", out)
	}
}

func TestServerLibraryFailures(t *testing.T) {
	tests := []struct {
		name             string
		versionErr, open error
		status           int
		code             string
	}{
		{"version unavailable", consign.Errorf(consign.ErrUnavailable, "Version", "", "disk gone"), nil, 503, "unavailable"},
		{"version broken", errors.New("corrupt manifest at /srv/dp/x.json"), nil, 500, "internal"},
		{"version says invalid", consign.Errorf(consign.ErrInvalid, "Version", "", "bad"), nil, 500, "internal"},
		{"open unavailable", nil, consign.Errorf(consign.ErrUnavailable, "OpenBlob", "", "share offline"), 503, "unavailable"},
		{"open broken", nil, errors.New("permission denied reading /srv/dp/blobs"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := newMemLib()
			publish(t, lib, testPkg, 1, serverFiles())
			lib.versionErr, lib.openErr = tt.versionErr, tt.open
			var logs syncBuffer
			srv := serve(t, httpdp.NewServer(lib, &httpdp.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
			resp, body := get(t, "GET", fileURL(srv, "setup.exe"), nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if e := decodeErr(t, resp, body); e.Error.Code != tt.code {
				t.Errorf("code %q, want %q", e.Error.Code, tt.code)
			}
			if bytes.Contains(body, []byte("/srv/dp")) {
				t.Errorf("the reply leaks internals: %s", body)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("not logged as an error:\n%s", logs.String())
			}
		})
	}
}

func TestServerStoredSizeDiffers(t *testing.T) {
	lib := newMemLib()
	lib.seekable = true
	m := publish(t, lib, testPkg, 1, serverFiles())
	sum := m.Sorted().Files[3].SHA256 // setup.exe
	lib.replaceBlob(sum, pattern("setup", 999))
	srv := serve(t, httpdp.NewServer(lib, nil))
	resp, body := get(t, "GET", fileURL(srv, "setup.exe"), nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500 (%s)", resp.StatusCode, body)
	}
	decodeErr(t, resp, body)
}

func TestServerUnderPrefix(t *testing.T) {
	lib := newMemLib()
	publish(t, lib, testPkg, 1, serverFiles())
	mux := http.NewServeMux()
	mux.Handle("/dp1/", http.StripPrefix("/dp1", httpdp.NewServer(lib, nil)))
	srv := serve(t, mux)
	resp, body := get(t, "GET", srv.URL+"/dp1/v1/content/CEN00001/1/files/docs/read%20me.txt", nil)
	if resp.StatusCode != 200 || string(body) != "hello, world\n" {
		t.Fatalf("under a prefix: %d %q", resp.StatusCode, body)
	}
}
