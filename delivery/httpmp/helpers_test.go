package httpmp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

const win7 = "Microsoft Windows NT Workstation 6.1"

// enrollment is the test site's enrollment secret.
const enrollment = "s3cret-enrollment"

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
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

// env is a site with a management point and one DP content server on
// 127.0.0.1: package "App" (two files) is on DP01 with program "Install"
// and collection "Windows 7" (a WQL query on the OS); package "Other" is
// on DP01 too but advertised to nobody.
type env struct {
	t        testing.TB
	ctx      context.Context
	store    *memstore.Store
	site     *delivery.Site
	ring     *signing.Keyring
	notifier *httpmp.Notifier
	mp       *httpmp.Server
	ts       *httptest.Server
	dp       *httptest.Server
	logs     *syncBuffer
	app      *pkg.Package
	other    *pkg.Package
	col      *collection.Collection
	src      fstest.MapFS
	tokenKey []byte
}

type envOptions struct {
	enrollment  string
	waitTimeout time.Duration
	tokenKeys   [][]byte
	maxBody     int64
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, store: memstore.New(), notifier: httpmp.NewNotifier(), logs: &syncBuffer{},
		src: fstest.MapFS{
			"setup.exe":       {Data: []byte("MZ the installer")},
			"data/readme.txt": {Data: []byte(strings.Repeat("read me ", 500))},
		}}
	lib, err := fslibrary.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.site, err = delivery.Open(ctx, e.store, e.notifier, &delivery.Options{
		Libraries: func(nal string) (distpoint.Library, error) {
			if nal == "DP01" {
				return lib, nil
			}
			return nil, fmt.Errorf("no DP %s", nal)
		},
		Sources: func(*pkg.Package) (fs.FS, error) { return e.src, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: "DP01", Name: "DP01", SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}); err != nil {
		t.Fatal(err)
	}
	lan := distpoint.Boundary{Name: "HQ LAN", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), Speed: distpoint.Fast}
	if err := e.site.AddBoundary(ctx, &lan); err != nil {
		t.Fatal(err)
	}
	e.app = e.newPackage("App")
	e.other = e.newPackage("Other")
	if r, err := e.site.DistributeContent(ctx); err != nil || r.Err() != nil {
		t.Fatalf("DistributeContent: %v %v", err, r.Err())
	}
	e.col, err = e.site.CreateCollection(ctx, &collection.Collection{Name: "Windows 7",
		QueryRules: []collection.QueryRule{{RuleName: "w7", Query: `select * from SMS_R_System where OperatingSystemNameandVersion like "%Workstation 6.1%"`}}}, "")
	if err != nil {
		t.Fatal(err)
	}

	e.ring, err = signing.GenerateKeyring(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.tokenKey = bytes.Repeat([]byte{7}, 32)
	keys := o.tokenKeys
	if keys == nil {
		keys = [][]byte{e.tokenKey}
	}
	e.dp = httptest.NewUnstartedServer(nil)
	e.mp, err = httpmp.NewServer(e.site, httpmp.Options{
		Keyring:    e.ring,
		TokenKeys:  keys,
		Enrollment: o.enrollment,
		Notifier:   e.notifier,
		ContentSource: func(dp distpoint.DistributionPoint) (httpdp.Source, bool) {
			if dp.NALPath == "DP01" {
				return httpdp.Source{BaseURL: e.dp.URL}, true
			}
			return httpdp.Source{}, false
		},
		WaitTimeout:  o.waitTimeout,
		MaxBodyBytes: o.maxBody,
		Logger:       newLogger(e.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.dp.Config.Handler = httpdp.NewServer(lib, &httpdp.Options{Authorize: e.mp.AuthorizeContent})
	e.dp.Start()
	e.ts = httptest.NewServer(e.mp)
	t.Cleanup(func() {
		e.mp.Close()
		e.ts.Close()
		e.dp.Close()
	})
	return e
}

// newPackage creates a package over the env's source files, with a program
// "Install", on DP01 (copied by the next DistributeContent).
func (e *env) newPackage(name string) *pkg.Package {
	e.t.Helper()
	m, err := source.ManifestFromFS(e.ctx, e.src)
	if err != nil {
		e.t.Fatal(err)
	}
	p := pkg.NewPackage("", name)
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\`+name, m
	p, err = e.site.CreatePackage(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.site.CreateProgram(e.ctx, pkg.NewProgram(p.ID, "Install", "setup.exe /s")); err != nil {
		e.t.Fatal(err)
	}
	if err := e.site.AddPackageToDistributionPoints(e.ctx, p.ID, "DP01"); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// advertise advertises App's Install program to the Windows 7 collection,
// mandatory as soon as possible.
func (e *env) advertise() *advertisement.Advertisement {
	e.t.Helper()
	ad := advertisement.New("", "App for Windows 7", e.app.ID, "Install", e.col.ID, time.Now().Add(-time.Hour))
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	ad, err := e.site.CreateAdvertisement(e.ctx, ad)
	if err != nil {
		e.t.Fatal(err)
	}
	return ad
}

// client returns a Client for the env's management point.
func (e *env) client() *httpmp.Client {
	return httpmp.NewClient(e.ts.URL, e.ts.Client())
}

func newDevice(name string) *collection.Device {
	return &collection.Device{
		Name: name, NetbiosName: name, SMSUniqueIdentifier: "GUID:" + name,
		OperatingSystemNameandVersion: win7, Client: true, Active: true,
		ResourceDomainORWorkgroup: "CONTOSO", SystemOUName: []string{"CONTOSO.COM"},
		IPAddresses: []string{"10.1.2.3"},
		Inventory: map[string][]collection.Instance{
			"SMS_G_System_COMPUTER_SYSTEM": {{"SystemType": "x64-based PC"}},
		},
	}
}

// register registers a device named name and returns a Client holding its
// token, and the registration.
func (e *env) register(name string) (*httpmp.Client, httpmp.Registration) {
	e.t.Helper()
	c := e.client()
	reg, err := c.Register(e.ctx, newDevice(name), "")
	if err != nil {
		e.t.Fatalf("Register %s: %v", name, err)
	}
	return c, reg
}

// raw sends a request with the given token (none when "") and returns the
// status, the body and the response headers.
func (e *env) raw(method, path, token, contentType string, body []byte) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// errorBody decodes an ErrorReply, failing the test when b is not one.
func errorBody(t testing.TB, b []byte) httpmp.ErrorBody {
	t.Helper()
	var r httpmp.ErrorReply
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Error.Code == "" || r.Error.Message == "" {
		t.Fatalf("not an error reply (%v): %s", err, b)
	}
	return r.Error
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// message returns a status message for ad with the given ID and event.
func message(id string, ad consign.ObjectID, ev advertisement.Event, at time.Time) advertisement.Message {
	return advertisement.Message{ID: id, AdvertisementID: ad, Event: ev, Time: at}
}

// newLogger logs everything, as text, to w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
