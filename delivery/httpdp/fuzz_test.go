package httpdp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/consign/consign/delivery/httpdp"
)

// FuzzServerPath sends arbitrary request-targets through net/http's own
// request parsing to the Server: it never answers 500 or worse, and never
// serves bytes other than those of a file that the requested version's
// manifest lists at the requested path (ignoring case).
func FuzzServerPath(f *testing.F) {
	for _, seed := range []string{
		"/v1/content/CEN00001/1/files/setup.exe",
		"/v1/content/CEN00001/1/files/Bin/Tool.dll",
		"/v1/content/cen00001/1/files/BIN/tool.dll",
		"/v1/content/CEN00001/1/files/docs/read%20me.txt",
		"/v1/content/CEN00001/1/manifest",
		"/v1/content/CEN00001/1/files/../secret.bin",
		"/v1/content/CEN00001/1/files/%2e%2e%2fsecret.bin",
		"/v1/content/CEN00001/1/files/Bin%2F..%2F..%2Fsecret.bin",
		"/v1/content/CEN00001/1/files//etc/passwd",
		"/v1/content/CEN00001/1/files/Bin%5CTool.dll",
		"/v1/content/CEN00001/1/files/setup.exe%00",
		"/v1/content/CEN00001/01/files/setup.exe",
		"/v1/content/CEN00001/4294967295/files/setup.exe",
		"/v1/content/CEN0000G/1/manifest",
		"/v1/content/%43EN00001/1/files/setup.exe",
		"/v1/content/CEN00001/1/files/setup.exe?x=1#y",
		"http://dp/v1/content/CEN00001/1/files/setup.exe",
		"*",
		"/",
	} {
		f.Add(seed)
	}
	lib := newMemLib()
	files := serverFiles()
	publish(f, lib, testPkg, 1, files)
	// Stored, but in no manifest: never to be served.
	secret := []byte("the secret blob, stored but never published")
	if err := lib.PutBlob(context.Background(), sha256.Sum256(secret), int64(len(secret)), bytes.NewReader(secret)); err != nil {
		f.Fatal(err)
	}
	h := httpdp.NewServer(lib, nil)

	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: dp\r\n\r\n")))
		if err != nil {
			return // net/http answers these itself with 400
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d: %s", target, rec.Code, rec.Body.Bytes())
		}
		body := rec.Body.Bytes()
		if bytes.Contains(body, secret) {
			t.Fatalf("%q: served the unpublished blob", target)
		}
		if rec.Code != http.StatusOK && rec.Code != http.StatusPartialContent {
			if rec.Code != http.StatusNotModified && rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%q: status %d without a JSON error body", target, rec.Code)
			}
			return
		}
		p := req.URL.Path
		if strings.EqualFold(p, "/v1/content/CEN00001/1/manifest") {
			return
		}
		rest, ok := strings.CutPrefix(strings.ToUpper(p), "/V1/CONTENT/CEN00001/1/FILES/")
		if !ok || !strings.HasPrefix(p, "/v1/content/") {
			t.Fatalf("%q: served %d bytes for path %q", target, len(body), p)
		}
		for _, f := range files {
			if strings.ToUpper(f.path) == rest {
				if !bytes.Equal(body, f.data) {
					t.Fatalf("%q: served bytes other than %s's", target, f.path)
				}
				return
			}
		}
		t.Fatalf("%q: served %d bytes for %q, which the manifest does not list", target, len(body), rest)
	})
}
