package httpdp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	pkg "github.com/consign/consign/package"
)

// Example serves a package from two distribution points and downloads it
// as a device agent would: the first DP in content-location order is down,
// so every file comes from the second, verified against the manifest the
// agent trusts. A second Fetch finds everything in place.
func Example() {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "httpdp-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	// The DP's content library, with version 1 of CEN00012 on it.
	lib, err := fslibrary.Open(filepath.Join(work, "dp"))
	if err != nil {
		log.Fatal(err)
	}
	content := map[string][]byte{
		"setup.exe":       bytes.Repeat([]byte("MZ setup "), 5000),
		"config/app.json": []byte(`{"mode":"silent"}`),
	}
	var m pkg.Manifest
	for path, data := range content {
		sum := sha256.Sum256(data)
		if err := lib.PutBlob(ctx, sum, int64(len(data)), bytes.NewReader(data)); err != nil {
			log.Fatal(err)
		}
		m.Files = append(m.Files, pkg.File{Path: path, Size: int64(len(data)), SHA256: sum})
	}
	if err := lib.Publish(ctx, "CEN00012", 1, m); err != nil {
		log.Fatal(err)
	}

	// The DP content server: devices present a token.
	dp := httptest.NewServer(httpdp.NewServer(lib, &httpdp.Options{
		Authorize: func(r *http.Request, id consign.ObjectID) error {
			if r.Header.Get("Authorization") != "Bearer device-42" {
				return httpdp.ErrUnauthenticated
			}
			return nil
		},
	}))
	defer dp.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	// The agent's side.
	d := &httpdp.Downloader{
		Header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer device-42") },
	}
	sources := []httpdp.Source{{BaseURL: down.URL}, {BaseURL: dp.URL}}
	name := map[string]string{down.URL: "DP 1", dp.URL: "DP 2"}
	cache := filepath.Join(work, "cache", "CEN00012.1")
	res, err := d.Fetch(ctx, sources, "CEN00012", 1, m, cache)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Files {
		fmt.Printf("%s: %d bytes from %s\n", f.Path, f.Size, name[f.Source])
	}
	fmt.Printf("downloaded %d bytes; %d failed requests, all to DP 1: %v\n",
		res.Downloaded, len(res.Failures), res.FailuresBySource()[down.URL] == len(res.Failures))
	fmt.Println("failures are unavailability:", errors.Is(res.Failures[0], consign.ErrUnavailable))

	res, err = d.Fetch(ctx, sources, "CEN00012", 1, m, cache)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("again: downloaded %d bytes, reused %d\n", res.Downloaded, res.Reused)
	// Output:
	// config/app.json: 17 bytes from DP 2
	// setup.exe: 45000 bytes from DP 2
	// downloaded 45017 bytes; 4 failed requests, all to DP 1: true
	// failures are unavailability: true
	// again: downloaded 0 bytes, reused 45017
}
