package httpmp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

// The whole device conversation through the Client over loopback HTTP:
// register → inventory → policy (ETag, 304, a verifying envelope) → a long
// poll woken by a new advertisement → locate (signed manifest, sources)
// and a download through the DP with the device's token → status
// (idempotent resend) → scan.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{waitTimeout: 300 * time.Millisecond})
	ctx := e.ctx
	c, reg := e.register("PC01")
	if reg.ResourceID == 0 || reg.Token == "" || len(reg.Keys) != 1 || reg.PollInterval != httpmp.DefaultPollInterval {
		t.Fatalf("registration = %+v", reg)
	}
	rid := reg.ResourceID

	// Registering again by the same SMSUniqueIdentifier gives the same
	// device back.
	if _, again := e.register("PC01"); again.ResourceID != rid {
		t.Errorf("second registration got ResourceID %d, want %d", again.ResourceID, rid)
	}

	// Inventory: the site takes the new discovery data.
	d := newDevice("PC01")
	d.IPAddresses = []string{"10.1.2.99"}
	created := time.Date(2009, 2, 12, 10, 0, 0, 0, time.UTC)
	d.Properties = map[string]any{"Decommissioned": 0, "CreationDate": created, "MACAddresses": []string{"00:11:22:33:44:55"}}
	d.Inventory["SMS_G_System_COMPUTER_SYSTEM"][0]["NumberOfProcessors"] = 4
	d.Inventory["SMS_G_System_WORKSTATION_STATUS"] = []collection.Instance{{"LastHardwareScan": created}}
	if err := c.PutInventory(ctx, d); err != nil {
		t.Fatalf("PutInventory: %v", err)
	}
	got, err := e.site.Device(rid)
	if err != nil || got.IPAddresses[0] != "10.1.2.99" {
		t.Fatalf("device after inventory = %+v, %v", got, err)
	}
	// JSON numbers and times come back with their schema types.
	if v, ok := got.Properties["CreationDate"].(time.Time); !ok || !v.Equal(created) {
		t.Errorf("CreationDate = %#v", got.Properties["CreationDate"])
	}
	if v := got.Inventory["SMS_G_System_COMPUTER_SYSTEM"][0]["NumberOfProcessors"]; v != int64(4) {
		t.Errorf("NumberOfProcessors = %#v", v)
	}

	verifier, err := signing.NewVerifier(reg.Keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := strconv.FormatUint(uint64(rid), 10)
	policyOf := func(env *signing.Envelope) httpmp.PolicyPayload {
		t.Helper()
		body, err := verifier.Verify(*env, signing.KindPolicy, subject)
		if err != nil {
			t.Fatalf("policy does not verify: %v", err)
		}
		var p httpmp.PolicyPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Policy before any advertisement: none offered.
	env1, etag1, err := c.Policy(ctx, "")
	if err != nil || env1 == nil || etag1 == "" {
		t.Fatalf("Policy = %v, %q, %v", env1, etag1, err)
	}
	if p := policyOf(env1); p.ResourceID != rid || len(p.Offers) != 0 {
		t.Fatalf("first policy = %+v", p)
	}
	if env, etag, err := c.Policy(ctx, etag1); err != nil || env != nil || etag != etag1 {
		t.Fatalf("Policy(current etag) = %v, %q, %v; want not modified", env, etag, err)
	}
	// A stale etag makes Wait answer at once; the timeout answers false.
	if changed, err := c.Wait(ctx, `"stale"`); err != nil || !changed {
		t.Fatalf("Wait(stale) = %v, %v", changed, err)
	}
	if changed, err := c.Wait(ctx, etag1); err != nil || changed {
		t.Fatalf("Wait(current) = %v, %v; want false at the timeout", changed, err)
	}

	// A long poll is woken by the new advertisement (the Notifier is the
	// Site's Transport). The wait is long enough that only a push ends it.
	e2 := newEnvWait(t, e, 10*time.Second)
	woke := make(chan error, 1)
	start := time.Now()
	go func() {
		changed, err := e2.Wait(ctx, etag1)
		if err == nil && !changed {
			err = errors.New("not changed")
		}
		woke <- err
	}()
	waitFor(t, func() bool { return e.notifier.Waiting() == 1 })
	ad := e.advertise()
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("the push took %v", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not woken by the new advertisement")
	}

	env2, etag2, err := c.Policy(ctx, etag1)
	if err != nil || env2 == nil || etag2 == etag1 {
		t.Fatalf("policy after the advertisement = %v, %q, %v", env2, etag2, err)
	}
	if env2.Serial <= env1.Serial {
		t.Errorf("serial %d after %d: not increasing", env2.Serial, env1.Serial)
	}
	p := policyOf(env2)
	if len(p.Offers) != 1 || p.Offers[0].Advertisement.ID != ad.ID || p.Offers[0].Program == nil || p.Offers[0].Package == nil {
		t.Fatalf("policy offers = %+v", p.Offers)
	}
	offer := p.Offers[0]

	// Locate: the signed manifest matches the package hash in policy, and
	// the DP's content server is the source.
	loc, err := c.Locate(ctx, httpmp.LocateRequest{PackageID: e.app.ID, Version: offer.Package.SourceVersion, AdvertisementID: ad.ID})
	if err != nil {
		t.Fatalf("Locate: %v", err)
	}
	if loc.Result.Action != distpoint.Download || len(loc.Result.Locations) != 1 || loc.Result.Locations[0].DP.NALPath != "DP01" {
		t.Errorf("locate result = %+v", loc.Result)
	}
	if len(loc.Sources) != 1 || loc.Sources[0].BaseURL != e.dp.URL {
		t.Errorf("sources = %+v, want the DP's content server", loc.Sources)
	}
	mbody, err := verifier.Verify(loc.Manifest, signing.KindManifest, string(e.app.ID)+"/1")
	if err != nil {
		t.Fatalf("manifest does not verify: %v", err)
	}
	var m pkg.Manifest
	if err := json.Unmarshal(mbody, &m); err != nil {
		t.Fatal(err)
	}
	if m.Hash() != offer.Package.SourceHash {
		t.Fatalf("manifest hash differs from the policy's SourceHash")
	}

	// The DP serves the content to this device's token.
	dir := t.TempDir()
	dl := &httpdp.Downloader{Client: e.dp.Client(), Header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+reg.Token) }}
	if _, err := dl.Fetch(ctx, loc.Sources, e.app.ID, 1, m, dir); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "setup.exe")); err != nil || string(b) != "MZ the installer" {
		t.Fatalf("downloaded setup.exe = %q, %v", b, err)
	}

	// Status: counts, and a resend counts as duplicates.
	now := time.Now()
	msgs := []advertisement.Message{
		message("m1", ad.ID, advertisement.EventReceived, now),
		message("m2", ad.ID, advertisement.EventStarted, now.Add(time.Second)),
		message("m3", ad.ID, advertisement.EventSucceeded, now.Add(2*time.Second)),
		message("m4", "CEN0FFFF", advertisement.EventReceived, now),
	}
	if r, err := c.Report(ctx, msgs); err != nil || r != (httpmp.StatusReply{Accepted: 3, Unknown: 1}) {
		t.Fatalf("Report = %+v, %v", r, err)
	}
	if r, err := c.Report(ctx, msgs); err != nil || r != (httpmp.StatusReply{Duplicates: 3, Unknown: 1}) {
		t.Fatalf("Report again = %+v, %v; want duplicates", r, err)
	}
	sum, err := e.site.AdvertisementSummary(ad.ID)
	if err != nil || sum.Counts.Succeeded != 1 {
		t.Fatalf("summary = %+v, %v", sum, err)
	}

	// The device's own status is now in its policy.
	env3, _, err := c.Policy(ctx, etag2)
	if err != nil || env3 == nil {
		t.Fatalf("policy after status = %v, %v", env3, err)
	}
	if p := policyOf(env3); p.Offers[0].Status == nil || p.Offers[0].Status.LastEvent != advertisement.EventSucceeded {
		t.Errorf("status in policy = %+v", p.Offers[0].Status)
	}

	// Scan: the site's compliance follows.
	src, err := jsoncatalog.Open("../../updates/jsoncatalog/testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.site.SyncUpdates(ctx, src, updates.Filter{}); err != nil {
		t.Fatal(err)
	}
	kb, err := e.site.UpdateByUniqueID("b27624d8-e185-5d0a-b700-3e2db8c29def")
	if err != nil {
		t.Fatal(err)
	}
	scan := httpmp.ScanUpload{ScanTime: now, States: []updates.UpdateState{{Update: kb.CIID, State: updates.Required}}}
	if r, err := c.ReportScan(ctx, scan); err != nil || !r.Accepted {
		t.Fatalf("ReportScan = %+v, %v", r, err)
	}
	if r, err := c.ReportScan(ctx, httpmp.ScanUpload{ScanTime: now.Add(-time.Hour)}); err != nil || r.Accepted {
		t.Errorf("an older scan = %+v, %v; want not accepted (stale)", r, err)
	}
	if s, err := e.site.UpdateCompliance(kb.CIID); err != nil || s.Required != 1 {
		t.Errorf("compliance = %+v, %v", s, err)
	}
	_, err = c.ReportScan(ctx, httpmp.ScanUpload{ScanTime: now, States: []updates.UpdateState{{Update: 4242, State: updates.Required}}})
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "states[0].Update" {
		t.Errorf("scan of an unknown update: %v, want a 400 naming states[0].Update", err)
	}

	// Keys: the trust set.
	keys, err := c.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != e.ring.Active().ID {
		t.Errorf("Keys = %+v, %v", keys, err)
	}
}

// newEnvWait returns a Client with c's env's token that waits up to d: a
// second management point over the same site and Notifier, so one test can
// use two wait timeouts.
func newEnvWait(t *testing.T, e *env, d time.Duration) *httpmp.Client {
	t.Helper()
	mp, err := httpmp.NewServer(e.site, httpmp.Options{Keyring: e.ring, TokenKeys: [][]byte{e.tokenKey}, Notifier: e.notifier, WaitTimeout: d})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mp)
	t.Cleanup(func() { mp.Close(); ts.Close() })
	c := httpmp.NewClient(ts.URL, ts.Client())
	c2 := e.client()
	reg, err := c2.Register(e.ctx, newDevice("PC01"), "")
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(reg.Token)
	return c
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The policy envelope is cached: at an unchanged site the same bytes come
// back (not re-signed), and a change elsewhere in the site that leaves the
// device's payload alone does not re-sign either.
func TestPolicyCache(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.register("PC01")
	c2, _ := e.register("PC02")
	env1, etag1, err := c.Policy(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	env2, etag2, err := c.Policy(e.ctx, "")
	if err != nil || etag2 != etag1 || env2.Serial != env1.Serial {
		t.Fatalf("second fetch: serial %d etag %s, want %d %s", env2.Serial, etag2, env1.Serial, etag1)
	}
	// PC02's inventory moves the site revision but not PC01's policy.
	rev := e.site.Revision()
	if err := c2.PutInventory(e.ctx, newDevice("PC02")); err != nil {
		t.Fatal(err)
	}
	if e.site.Revision() == rev {
		t.Fatal("inventory did not move the revision")
	}
	env3, etag3, err := c.Policy(e.ctx, etag1)
	if err != nil || env3 != nil || etag3 != etag1 {
		t.Fatalf("after an unrelated change: %v %q %v, want not modified", env3, etag3, err)
	}
	// An advertisement changes it.
	e.advertise()
	env4, etag4, err := c.Policy(e.ctx, etag1)
	if err != nil || env4 == nil || etag4 == etag1 || env4.Serial <= env1.Serial {
		t.Fatalf("after an advertisement: %v %q %v", env4, etag4, err)
	}
}

// An envelope is re-signed (new serial, new expiry, new ETag) at the
// latest half its TTL after it was signed, even when nothing changed, so a
// device that keeps polling never holds a policy about to expire.
func TestPolicyResignedPastHalfTTL(t *testing.T) {
	e := newEnv(t, envOptions{})
	clock := &testClock{now: time.Now()}
	mp, err := httpmp.NewServer(e.site, httpmp.Options{Keyring: e.ring, TokenKeys: [][]byte{e.tokenKey}, PolicyTTL: time.Hour, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mp)
	defer ts.Close()
	c := httpmp.NewClient(ts.URL, ts.Client())
	if _, err := c.Register(e.ctx, newDevice("PC01"), ""); err != nil {
		t.Fatal(err)
	}
	env1, etag1, err := c.Policy(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := env1.Expires.Sub(env1.Issued); got != time.Hour {
		t.Errorf("TTL = %v, want 1h", got)
	}
	if env, _, err := c.Policy(e.ctx, etag1); err != nil || env != nil {
		t.Fatalf("at the same time: %v %v, want not modified", env, err)
	}
	clock.Add(31 * time.Minute)
	env2, etag2, err := c.Policy(e.ctx, etag1)
	if err != nil || env2 == nil || etag2 == etag1 {
		t.Fatalf("past half the TTL: %v %q %v, want a new envelope", env2, etag2, err)
	}
	if env2.Serial <= env1.Serial || !env2.Expires.After(env1.Expires) || string(env2.Payload) != string(env1.Payload) {
		t.Errorf("re-signed envelope: serial %d→%d, expires %v→%v, payload equal %v", env1.Serial, env2.Serial, env1.Expires, env2.Expires, string(env2.Payload) == string(env1.Payload))
	}
}

// A long poll ends when its client goes away, leaving no waiter (and so
// no goroutine) behind.
func TestWaitClientGoesAway(t *testing.T) {
	e := newEnv(t, envOptions{waitTimeout: time.Minute})
	c, _ := e.register("PC01")
	_, etag, err := c.Policy(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx, etag)
		done <- err
	}()
	waitFor(t, func() bool { return e.notifier.Waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Wait after cancel: %v, want context.Canceled and ErrUnavailable", err)
	}
	waitFor(t, func() bool { return e.notifier.Waiting() == 0 })

	// Close ends a long poll at once with changed false.
	go func() {
		changed, err := c.Wait(e.ctx, etag)
		if err == nil && changed {
			err = errors.New("changed")
		}
		done <- err
	}()
	waitFor(t, func() bool { return e.notifier.Waiting() == 1 })
	e.mp.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Wait ended by Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the long poll")
	}
}

// The management point speaks HTTP/2 without TLS (h2c) as well as
// HTTP/1.1.
func TestHTTP2(t *testing.T) {
	e := newEnv(t, envOptions{})
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	seen := make(chan int, 16)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.ProtoMajor
		e.mp.ServeHTTP(w, r)
	}))
	ts.Config.Protocols = &protos
	ts.Start()
	defer ts.Close()
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	c := httpmp.NewClient(ts.URL, hc)
	reg, err := c.Register(e.ctx, newDevice("PC01"), "")
	if err != nil {
		t.Fatal(err)
	}
	e.advertise()
	env, etag, err := c.Policy(e.ctx, "")
	if err != nil || env == nil {
		t.Fatal(err)
	}
	if env, _, err := c.Policy(e.ctx, etag); err != nil || env != nil {
		t.Errorf("304 over h2c: %v %v", env, err)
	}
	if r, err := c.Report(e.ctx, []advertisement.Message{message("x", e.app.ID, advertisement.EventReceived, time.Now())}); err != nil || r.Unknown != 1 {
		t.Errorf("Report over h2c = %+v, %v", r, err)
	}
	close(seen)
	n := 0
	for p := range seen {
		if p != 2 {
			t.Errorf("a request over HTTP/%d", p)
		}
		n++
	}
	if n != 4 || reg.ResourceID == 0 {
		t.Errorf("%d requests seen", n)
	}
}
