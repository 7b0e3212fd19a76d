package httpmp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
)

// forgeToken makes a token the way the package documents it, with any key:
// what an attacker who guessed the format (but not the key) would send.
func forgeToken(key []byte, rid uint32, issued int64, uid string) string {
	const domain = "consign-httpmp-token-v1"
	m := hmac.New(sha256.New, key)
	var b []byte
	b = binary.BigEndian.AppendUint64(b, uint64(len(domain)))
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint32(b, rid)
	b = binary.BigEndian.AppendUint64(b, uint64(issued))
	b = binary.BigEndian.AppendUint64(b, uint64(len(uid)))
	b = append(b, uid...)
	m.Write(b)
	return "v1." + strconv.FormatUint(uint64(rid), 10) + "." + strconv.FormatInt(issued, 10) + "." +
		base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Every refusal: the right status and JSON error body, and nothing
// written to the site.
func TestSecurity(t *testing.T) {
	e := newEnv(t, envOptions{maxBody: 4096})
	ad := e.advertise()
	_, regA := e.register("PC01")
	_, regB := e.register("PC02")
	_, regGone := e.register("PC03")
	if err := e.site.DeleteDevice(e.ctx, regGone.ResourceID); err != nil {
		t.Fatal(err)
	}
	a, b := regA.Token, regB.Token
	ridA := regA.ResourceID
	now := time.Now()
	status := func(msgs ...advertisement.Message) []byte {
		return mustJSON(t, httpmp.StatusUpload{Messages: msgs})
	}
	goodMsg := message("ok1", ad.ID, advertisement.EventReceived, now)
	otherRID := goodMsg
	otherRID.ResourceID = regB.ResourceID
	badEvent := message("bad", ad.ID, advertisement.Event(999), now)
	invB := newDevice("PC02")
	invOtherRID := newDevice("PC01")
	invOtherRID.ResourceID = regB.ResourceID
	// A's token with B's ResourceID put in: the MAC no longer matches.
	parts := strings.Split(a, ".")
	swapped := strings.Join([]string{parts[0], strconv.FormatUint(uint64(regB.ResourceID), 10), parts[2], parts[3]}, ".")
	big := status(message(strings.Repeat("x", 5000), ad.ID, advertisement.EventReceived, now))

	// The documented token format, made with the site's key, is accepted:
	// so the forged case below fails for the key alone.
	if st, body, _ := e.raw("GET", httpmp.RouteKeys, forgeToken(e.tokenKey, ridA, now.Unix(), "GUID:PC01"), "", nil); st != 200 {
		t.Fatalf("a token made as documented: %d %s", st, body)
	}

	cases := []struct {
		name        string
		method      string
		path        string
		token       string
		ctype       string
		body        []byte
		header      http.Header
		wantStatus  int
		wantCode    string
		wantField   string
		noLength    bool // send the body chunked (no Content-Length)
		wantAllow   string
		wantWWWAuth bool
	}{
		{name: "no token", method: "GET", path: httpmp.RoutePolicy, wantStatus: 401, wantCode: "unauthenticated", wantWWWAuth: true},
		{name: "garbled token", method: "GET", path: httpmp.RoutePolicy, token: "garbage", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "token with bad base64", method: "GET", path: httpmp.RoutePolicy, token: parts[0] + "." + parts[1] + "." + parts[2] + ".!!!", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "forged token (guessed key)", method: "GET", path: httpmp.RoutePolicy, token: forgeToken(bytes.Repeat([]byte{8}, 32), ridA, now.Unix(), "GUID:PC01"), wantStatus: 401, wantCode: "unauthenticated"},
		{name: "another device's ResourceID in a token", method: "GET", path: httpmp.RoutePolicy, token: swapped, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "deleted device's token", method: "GET", path: httpmp.RoutePolicy, token: regGone.Token, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "deleted device reports", method: "POST", path: httpmp.RouteStatus, token: regGone.Token, ctype: "application/json", body: status(goodMsg), wantStatus: 401, wantCode: "unauthenticated"},
		{name: "keys need a token", method: "GET", path: httpmp.RouteKeys, wantStatus: 401, wantCode: "unauthenticated"},

		{name: "status for another ResourceID", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: status(goodMsg, otherRID), wantStatus: 403, wantCode: "forbidden", wantField: "messages[1].ResourceID"},
		{name: "inventory for another SMSUniqueIdentifier", method: "PUT", path: httpmp.RouteInventory, token: a, ctype: "application/json", body: mustJSON(t, httpmp.InventoryUpload{Device: invB}), wantStatus: 403, wantCode: "forbidden", wantField: "device.SMSUniqueIdentifier"},
		{name: "inventory for another ResourceID", method: "PUT", path: httpmp.RouteInventory, token: a, ctype: "application/json", body: mustJSON(t, httpmp.InventoryUpload{Device: invOtherRID}), wantStatus: 403, wantCode: "forbidden", wantField: "device.ResourceID"},
		{name: "locate an untargeted package", method: "POST", path: httpmp.RouteLocate, token: a, ctype: "application/json", body: mustJSON(t, httpmp.LocateRequest{PackageID: e.other.ID, Version: 1}), wantStatus: 403, wantCode: "forbidden", wantField: "packageId"},
		{name: "locate through an advertisement not offered", method: "POST", path: httpmp.RouteLocate, token: a, ctype: "application/json", body: mustJSON(t, httpmp.LocateRequest{PackageID: e.app.ID, Version: 1, AdvertisementID: "CEN0FFFF"}), wantStatus: 403, wantCode: "forbidden", wantField: "advertisementId"},
		{name: "locate a stale version", method: "POST", path: httpmp.RouteLocate, token: a, ctype: "application/json", body: mustJSON(t, httpmp.LocateRequest{PackageID: e.app.ID, Version: 7}), wantStatus: 409, wantCode: "conflict"},

		{name: "oversized body", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: big, wantStatus: 413, wantCode: "too_large"},
		{name: "oversized body, chunked", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: big, noLength: true, wantStatus: 413, wantCode: "too_large"},
		{name: "malformed JSON", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: []byte(`{"messages":[`), wantStatus: 400, wantCode: "invalid"},
		{name: "syntax error", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: []byte(`{"messages":[}`), wantStatus: 400, wantCode: "invalid"},
		{name: "unknown field", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: []byte(`{"messages":[],"admin":true}`), wantStatus: 400, wantCode: "invalid", wantField: "admin"},
		{name: "wrong type", method: "POST", path: httpmp.RouteLocate, token: a, ctype: "application/json", body: []byte(`{"packageId":"CEN00001","version":"1"}`), wantStatus: 400, wantCode: "invalid", wantField: "version"},
		{name: "trailing data", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: []byte(`{"messages":[]} {}`), wantStatus: 400, wantCode: "invalid"},
		{name: "empty body", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", wantStatus: 400, wantCode: "invalid"},
		{name: "invalid message", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "application/json", body: status(goodMsg, badEvent), wantStatus: 400, wantCode: "invalid", wantField: "messages[1].Event"},
		{name: "invalid locate request", method: "POST", path: httpmp.RouteLocate, token: a, ctype: "application/json", body: []byte(`{"packageId":"../../etc","version":0}`), wantStatus: 400, wantCode: "invalid", wantField: "packageId"},
		{name: "wrong content type", method: "POST", path: httpmp.RouteStatus, token: a, ctype: "text/plain", body: status(goodMsg), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "no content type", method: "POST", path: httpmp.RouteStatus, token: a, body: status(goodMsg), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "wrong method", method: "DELETE", path: httpmp.RoutePolicy, token: a, wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "GET"},
		{name: "GET on a POST route", method: "GET", path: httpmp.RouteStatus, token: a, wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "no such route", method: "GET", path: "/v1/admin", token: a, wantStatus: 404, wantCode: "not_found"},
		{name: "register without a device", method: "POST", path: httpmp.RouteRegister, ctype: "application/json", body: []byte(`{}`), wantStatus: 400, wantCode: "invalid", wantField: "device"},
		{name: "register without SMSUniqueIdentifier", method: "POST", path: httpmp.RouteRegister, ctype: "application/json", body: []byte(`{"device":{"Name":"X"}}`), wantStatus: 400, wantCode: "invalid", wantField: "device.SMSUniqueIdentifier"},
		{name: "register with a bad property", method: "POST", path: httpmp.RouteRegister, ctype: "application/json", body: []byte(`{"device":{"Name":"X","SMSUniqueIdentifier":"GUID:X","Properties":{"Decommissioned":"yes"}}}`), wantStatus: 400, wantCode: "invalid", wantField: `device.Properties["Decommissioned"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rev := e.site.Revision()
			var body *bytes.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			var req *http.Request
			var err error
			if body != nil {
				req, err = http.NewRequest(tc.method, e.ts.URL+tc.path, body)
			} else {
				req, err = http.NewRequest(tc.method, e.ts.URL+tc.path, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.noLength {
				req.ContentLength = -1
				req.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(tc.body)})
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, buf.Bytes())
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			eb := errorBody(t, buf.Bytes())
			if eb.Code != tc.wantCode || eb.Field != tc.wantField {
				t.Errorf("error body %+v, want code %q field %q", eb, tc.wantCode, tc.wantField)
			}
			if tc.wantAllow != "" && resp.Header.Get("Allow") != tc.wantAllow {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), tc.wantAllow)
			}
			if tc.wantWWWAuth && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if got := e.site.Revision(); got != rev {
				t.Errorf("the site changed (revision %d → %d) for a refused request", rev, got)
			}
		})
	}
	if st, err := e.site.ClientStatus(ad.ID, ridA); err == nil && st.LastEvent != 0 {
		t.Errorf("a refused status upload was taken in: %+v", st)
	}

	// Refusals are logged with route, resource ID and reason, never with a
	// credential.
	logs := e.logs.String()
	for _, secret := range []string{a, b, regGone.Token, swapped, parts[3]} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a token reached the log")
		}
	}
	if !strings.Contains(logs, "route=/v1/status") || !strings.Contains(logs, "resourceId="+strconv.FormatUint(uint64(ridA), 10)) ||
		!strings.Contains(logs, "does not verify") {
		t.Errorf("refusals not logged with route, resource ID and reason:\n%s", logs)
	}
}

// The DP content server asks the management point: only a device whose
// policy offers the package gets its content.
func TestAuthorizeContent(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.advertise()
	_, reg := e.register("PC01")
	get := func(pkgID, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", e.dp.URL+"/v1/content/"+pkgID+"/1/manifest", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := e.dp.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(string(e.app.ID), reg.Token); s != 200 {
		t.Errorf("offered package: %d", s)
	}
	if s := get(string(e.other.ID), reg.Token); s != 403 {
		t.Errorf("package not offered: %d, want 403", s)
	}
	if s := get(string(e.app.ID), ""); s != 401 {
		t.Errorf("no token: %d, want 401", s)
	}
	if s := get(string(e.app.ID), reg.Token+"x"); s != 401 {
		t.Errorf("bad token: %d, want 401", s)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+reg.Token)
	if err := e.mp.AuthorizeContent(req, e.other.ID); !errors.Is(err, consign.ErrPermissionDenied) {
		t.Errorf("AuthorizeContent(other) = %v", err)
	}
	req.Header.Set("Authorization", "Bearer nope")
	if err := e.mp.AuthorizeContent(req, e.app.ID); !errors.Is(err, httpdp.ErrUnauthenticated) {
		t.Errorf("AuthorizeContent(bad token) = %v", err)
	}
}

// Token keys rotate: the first key makes tokens, every key verifies, and
// a key removed revokes its tokens.
func TestTokenRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	e := newEnv(t, envOptions{tokenKeys: [][]byte{oldKey}})
	_, reg := e.register("PC01")
	serve := func(keys ...[]byte) *httptest.Server {
		mp, err := httpmp.NewServer(e.site, httpmp.Options{Keyring: e.ring, TokenKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(mp)
		t.Cleanup(ts.Close)
		return ts
	}
	keysWith := func(ts *httptest.Server, token string) error {
		c := httpmp.NewClient(ts.URL, ts.Client())
		c.SetToken(token)
		_, err := c.Keys(context.Background())
		return err
	}
	rotating := serve(newKey, oldKey)
	if err := keysWith(rotating, reg.Token); err != nil {
		t.Errorf("old token while both keys verify: %v", err)
	}
	c := httpmp.NewClient(rotating.URL, rotating.Client())
	reg2, err := c.Register(context.Background(), newDevice("PC01"), "")
	if err != nil {
		t.Fatal(err)
	}
	retired := serve(newKey)
	if err := keysWith(retired, reg.Token); !errors.Is(err, httpdp.ErrUnauthenticated) {
		t.Errorf("token of a removed key: %v, want unauthenticated", err)
	}
	if err := keysWith(retired, reg2.Token); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
}

// With an enrollment secret, only a client presenting it registers.
func TestEnrollment(t *testing.T) {
	e := newEnv(t, envOptions{enrollment: enrollment})
	c := e.client()
	for _, secret := range []string{"", "wrong", enrollment + "x"} {
		rev := e.site.Revision()
		_, err := c.Register(e.ctx, newDevice("PC01"), secret)
		var he *httpmp.Error
		if !errors.As(err, &he) || he.Status != 401 || !errors.Is(err, httpdp.ErrUnauthenticated) {
			t.Errorf("secret %q: %v, want 401", secret, err)
		}
		if e.site.Revision() != rev {
			t.Errorf("secret %q: the site changed", secret)
		}
	}
	reg, err := c.Register(e.ctx, newDevice("PC01"), enrollment)
	if err != nil || reg.Token == "" {
		t.Fatalf("with the secret: %v", err)
	}
	if strings.Contains(e.logs.String(), enrollment) {
		t.Error("the enrollment secret reached the log")
	}
}

// Client errors match the consign codes an agent branches on.
func TestClientErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.register("PC01")
	_, err := c.Report(e.ctx, []advertisement.Message{{ID: "x"}})
	var ve *consign.ValidationError
	if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, "messages[0].") {
		t.Errorf("invalid message: %v", err)
	}
	_, err = c.Locate(e.ctx, httpmp.LocateRequest{PackageID: e.other.ID, Version: 1})
	if !errors.Is(err, consign.ErrPermissionDenied) {
		t.Errorf("untargeted locate: %v", err)
	}
	c.SetToken("nope")
	if _, _, err := c.Policy(e.ctx, ""); !errors.Is(err, httpdp.ErrUnauthenticated) {
		t.Errorf("bad token: %v", err)
	}
	down := httpmp.NewClient("http://127.0.0.1:1", nil)
	if _, err := down.Keys(e.ctx); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("unreachable: %v", err)
	}
	// A 5xx without a JSON body (a proxy's error page) is retryable.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = httpmp.NewClient(proxy.URL, proxy.Client()).Keys(e.ctx)
	var he *httpmp.Error
	if !errors.Is(err, consign.ErrUnavailable) || !errors.As(err, &he) || he.Body.Code != "unavailable" || he.Body.Message != "bad gateway" {
		t.Errorf("502: %v", err)
	}
}

// NewServer names every bad option.
func TestNewServerOptions(t *testing.T) {
	_, err := httpmp.NewServer(nil, httpmp.Options{TokenKeys: [][]byte{[]byte("short")}, WaitTimeout: -1, PolicyTTL: time.Millisecond})
	for _, f := range []string{"site", "Options.Keyring", "Options.TokenKeys[0]", "Options.WaitTimeout", "Options.PolicyTTL"} {
		if !strings.Contains(err.Error(), "invalid "+f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("not ErrInvalid: %v", err)
	}
}
