package httpmp_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/updates"
)

// fuzzRoutes are the routes FuzzDecode drives, with their methods.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", httpmp.RouteRegister},
	{"PUT", httpmp.RouteInventory},
	{"GET", httpmp.RoutePolicy},
	{"GET", httpmp.RouteWait},
	{"POST", httpmp.RouteLocate},
	{"POST", httpmp.RouteStatus},
	{"POST", httpmp.RouteScan},
	{"GET", httpmp.RouteKeys},
}

// The request decoding of every route, fed arbitrary bytes as the body
// (and the query and If-None-Match of the GET routes): never a 5xx, never
// a panic, and every refusal a JSON ErrorReply.
func FuzzDecode(f *testing.F) {
	e := newEnv(f, envOptions{waitTimeout: 10 * time.Millisecond, maxBody: 64 << 10})
	ad := e.advertise()
	_, reg := e.register("PC01")
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	seeds := [][]byte{
		[]byte(`{"device":{"Name":"PC09","SMSUniqueIdentifier":"GUID:PC09","Properties":{"Decommissioned":1,"CreationDate":"2009-02-12T10:00:00Z","MACAddresses":["a"]},"Inventory":{"SMS_G_System_COMPUTER_SYSTEM":[{"NumberOfProcessors":2.0}]}}}`),
		mustJSON(f, httpmp.InventoryUpload{Device: newDevice("PC01")}),
		mustJSON(f, httpmp.LocateRequest{PackageID: e.app.ID, Version: 1, AdvertisementID: ad.ID}),
		mustJSON(f, httpmp.StatusUpload{Messages: []advertisement.Message{message("f1", ad.ID, advertisement.EventStarted, now)}}),
		mustJSON(f, httpmp.ScanUpload{ScanTime: now, States: []updates.UpdateState{{Update: 1, State: 9}}}),
		[]byte(`{"messages":[{"ID":"x","AdvertisementID":"CEN00003","Event":1e400,"Time":"x"}]}`),
		[]byte(`{"device":{"Inventory":{"NoSuchClass":[{"a":[1,"b",{}]}]}}}`),
		[]byte(`{"device":{"Properties":{"IPAddresses":[1,2],"AgentTime":["2009-02-12T10:00:00Z", 3]}}}`),
		[]byte(`[]`), []byte(`null`), []byte(`"`), []byte(`{"packageId":"CEN00001","version":-1}`),
		[]byte(`{"states":[{"Update":4294967296}]}`),
	}
	for i := range fuzzRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		target := rt.path
		if rt.method == "GET" {
			target += "?etag=" + url.QueryEscape(string(body))
		}
		req := httptest.NewRequest(rt.method, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if rt.path != httpmp.RouteRegister {
			req.Header.Set("Authorization", "Bearer "+reg.Token)
		}
		if rt.method == "GET" && json.Valid(body) {
			req.Header.Set("If-None-Match", string(bytes.ReplaceAll(body, []byte("\n"), nil)))
		}
		w := httptest.NewRecorder()
		e.mp.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", rt.method, rt.path, w.Code, w.Body.Bytes())
		}
		if w.Code >= 400 {
			var r httpmp.ErrorReply
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Error.Code == "" {
				t.Fatalf("%s %s: %d with a body that is no ErrorReply: %q", rt.method, rt.path, w.Code, w.Body.Bytes())
			}
		}
		if w.Code == http.StatusOK && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: 200 with invalid JSON", rt.method, rt.path)
		}
	})
}
