package httpmp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// A program that runs another first: the device may locate the other
// program's package, and report on it with RunFirst; a RunFirst that is
// not on the chain is refused.
func TestRunFirst(t *testing.T) {
	e := newEnv(t, envOptions{})
	main := pkg.NewProgram(e.app.ID, "Main", "main.exe")
	main.Dependency = &pkg.ProgramRef{PackageID: e.other.ID, Program: "Install"}
	if err := e.site.CreateProgram(e.ctx, main); err != nil {
		t.Fatal(err)
	}
	ad := advertisement.New("", "Main", e.app.ID, "Main", e.col.ID, time.Now().Add(-time.Hour))
	ad.PresentTimeIsGMT = true
	ad, err := e.site.CreateAdvertisement(e.ctx, ad)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.register("PC01")
	if _, err := c.Locate(e.ctx, httpmp.LocateRequest{PackageID: e.other.ID, Version: 1, AdvertisementID: ad.ID}); err != nil {
		t.Errorf("locate the run-first program's package: %v", err)
	}
	now := time.Now()
	first := message("rf1", ad.ID, advertisement.EventSucceeded, now)
	first.RunFirst = &pkg.ProgramRef{PackageID: e.other.ID, Program: "Install"}
	if r, err := c.Report(e.ctx, []advertisement.Message{first}); err != nil || r.Accepted != 1 {
		t.Errorf("report on the run-first program: %+v %v", r, err)
	}
	wrong := message("rf2", ad.ID, advertisement.EventSucceeded, now)
	wrong.RunFirst = &pkg.ProgramRef{PackageID: e.app.ID, Program: "Install"}
	_, err = c.Report(e.ctx, []advertisement.Message{wrong})
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "messages[0].RunFirst" {
		t.Errorf("RunFirst off the chain: %v, want 400 naming messages[0].RunFirst", err)
	}
}

// A panic in a handler is a 500 with a JSON body, logged with its stack.
func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.advertise()
	logs := &syncBuffer{}
	mp, err := httpmp.NewServer(e.site, httpmp.Options{Keyring: e.ring, TokenKeys: [][]byte{e.tokenKey},
		ContentSource: func(distpoint.DistributionPoint) (httpdp.Source, bool) { panic("boom") },
		Logger:        newLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mp)
	defer ts.Close()
	_, reg := e.register("PC01")
	c := httpmp.NewClient(ts.URL, ts.Client())
	c.SetToken(reg.Token)
	_, err = c.Locate(e.ctx, httpmp.LocateRequest{PackageID: e.app.ID, Version: 1})
	var he *httpmp.Error
	if !errors.As(err, &he) || he.Status != 500 || he.Body.Code != "internal" || !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("a panicking handler: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "panicked") || !strings.Contains(l, "boom") || !strings.Contains(l, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", l)
	}
	// The server keeps serving.
	if _, err := c.Keys(e.ctx); err != nil {
		t.Errorf("after the panic: %v", err)
	}
}

// IssueToken provisions a token for a device registered by other means.
func TestIssueToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.site.PutDevices(e.ctx, &collection.Device{ResourceID: 42, Name: "KIOSK", SMSUniqueIdentifier: "GUID:KIOSK"}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.mp.IssueToken(42)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.SetToken(tok)
	env, _, err := c.Policy(e.ctx, "")
	if err != nil || env.Subject != "42" {
		t.Fatalf("policy with an issued token: %v %v", env, err)
	}
	if _, err := e.mp.IssueToken(43); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("IssueToken(unknown) = %v", err)
	}
}

// Manifests are signed once per version and kept: a device still
// finishing the previous version gets its manifest after the package
// moved on; past half the TTL a manifest is re-signed with a higher
// serial.
func TestManifestCache(t *testing.T) {
	e := newEnv(t, envOptions{})
	ad := e.advertise()
	clock := &testClock{now: time.Now()}
	mp, err := httpmp.NewServer(e.site, httpmp.Options{Keyring: e.ring, TokenKeys: [][]byte{e.tokenKey}, PolicyTTL: time.Hour, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mp)
	defer ts.Close()
	_, reg := e.register("PC01")
	c := httpmp.NewClient(ts.URL, ts.Client())
	c.SetToken(reg.Token)
	req := httpmp.LocateRequest{PackageID: e.app.ID, Version: 1, AdvertisementID: ad.ID}
	r1, err := c.Locate(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Locate(e.ctx, req)
	if err != nil || r2.Manifest.Serial != r1.Manifest.Serial {
		t.Fatalf("second locate: serial %d, want %d (%v)", r2.Manifest.Serial, r1.Manifest.Serial, err)
	}
	m2 := editManifest(e.app.Manifest, func(m pkg.Manifest) pkg.Manifest {
		for i := range m.Files {
			if m.Files[i].Path == "setup.exe" {
				m.Files[i].Size = int64(len("MZ version 2"))
				m.Files[i].SHA256[0]++
			}
		}
		return m
	})
	if _, err := e.site.UpdatePackageSource(e.ctx, e.app.ID, m2); err != nil {
		t.Fatal(err)
	}
	r3, err := c.Locate(e.ctx, req)
	if err != nil || r3.Manifest.Serial != r1.Manifest.Serial {
		t.Errorf("the previous version after an update: %v, serial %d", err, r3.Manifest.Serial)
	}
	if _, err := c.Locate(e.ctx, httpmp.LocateRequest{PackageID: e.app.ID, Version: 2, AdvertisementID: ad.ID}); err != nil {
		t.Errorf("the new version: %v", err)
	}
	clock.Add(31 * time.Minute)
	r4, err := c.Locate(e.ctx, req)
	if err != nil || r4.Manifest.Serial <= r1.Manifest.Serial || !r4.Manifest.Expires.After(r1.Manifest.Expires) {
		t.Errorf("past half the TTL: %v, serial %d after %d", err, r4.Manifest.Serial, r1.Manifest.Serial)
	}
}

// Concurrent uploads over HTTP: every device gets its own counts.
func TestConcurrentReports(t *testing.T) {
	e := newEnv(t, envOptions{})
	ad := e.advertise()
	const n = 30
	clients := make([]*httpmp.Client, n)
	for i := range clients {
		clients[i], _ = e.register(fmt.Sprintf("PC%02d", i))
	}
	now := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			var msgs []advertisement.Message
			for k := range i%4 + 1 {
				msgs = append(msgs, message(fmt.Sprintf("%d-%d", i, k), ad.ID, advertisement.EventReceived, now))
			}
			msgs = append(msgs, msgs[0], message("u", "CEN0FFFF", advertisement.EventReceived, now))
			want := httpmp.StatusReply{Accepted: i%4 + 1, Duplicates: 1, Unknown: 1}
			for round := range 2 {
				r, err := c.Report(e.ctx, msgs)
				if err != nil || r != want {
					t.Errorf("device %d round %d: %+v %v, want %+v", i, round, r, err, want)
				}
				want = httpmp.StatusReply{Duplicates: len(msgs) - 1, Unknown: 1}
			}
		})
	}
	wg.Wait()
	sum, err := e.site.AdvertisementSummary(ad.ID)
	if err != nil || sum.Counts.Accepted != n {
		t.Errorf("summary %+v %v, want %d accepted", sum.Counts, err, n)
	}
}

// A reply the Client cannot read is a retryable failure.
func TestClientBadReply(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{not json"))
	}))
	defer ts.Close()
	_, err := httpmp.NewClient(ts.URL, ts.Client()).Report(t.Context(), nil)
	if !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("garbage reply: %v, want ErrUnavailable", err)
	}
	e := &httpmp.Error{Status: 403, Body: httpmp.ErrorBody{Code: "forbidden", Field: "packageId", Message: "no"}}
	if got := e.Error(); got != "httpmp: HTTP 403 forbidden (field packageId): no" {
		t.Errorf("Error() = %q", got)
	}
	for status, want := range map[int]error{400: consign.ErrInvalid, 401: httpdp.ErrUnauthenticated, 403: consign.ErrPermissionDenied,
		404: consign.ErrNotFound, 409: consign.ErrConflict, 413: consign.ErrInvalid, 415: consign.ErrInvalid, 429: consign.ErrUnavailable, 503: consign.ErrUnavailable} {
		if !errors.Is(&httpmp.Error{Status: status}, want) {
			t.Errorf("status %d does not match %v", status, want)
		}
	}
}

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// editManifest applies f to a copy of m.
func editManifest(m pkg.Manifest, f func(pkg.Manifest) pkg.Manifest) pkg.Manifest {
	cp := pkg.Manifest{Files: append([]pkg.File(nil), m.Files...)}
	return f(cp)
}
