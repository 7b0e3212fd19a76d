package httpmp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consign/consign/delivery/httpmp"
)

// BenchmarkPolicyVsBare measures policy requests per second through the
// management point (token check, device and policy caches, the signed
// envelope) against a bare net/http handler writing the same bytes and
// headers, both on 127.0.0.1 with the same client, the same requests and
// the same concurrency (2 × GOMAXPROCS). The target is a ratio
// (mp-req/s ÷ bare-req/s) of at least 0.5. Run it for a few seconds:
//
//	go test -run '^$' -bench PolicyVsBare -benchtime 20000x ./delivery/httpmp
func BenchmarkPolicyVsBare(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.advertise()
	_, reg := e.register("PC01")
	status, body, hdr := e.raw("GET", httpmp.RoutePolicy, reg.Token, "", nil)
	if status != http.StatusOK {
		b.Fatalf("policy: %d %s", status, body)
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", hdr.Get("ETag"))
		h.Set("Cache-Control", hdr.Get("Cache-Control"))
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
	defer bare.Close()
	workers := 2 * runtime.GOMAXPROCS(0)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer hc.CloseIdleConnections()

	// run sends n policy requests to url from the workers and returns how
	// long they took.
	run := func(url string, n int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+reg.Token)
					resp, err := hc.Do(req)
					if err != nil {
						failed.Store(err.Error())
						return
					}
					got, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || got != int64(len(body)) {
						failed.Store(resp.Status)
						return
					}
				}
			})
		}
		wg.Wait()
		if f := failed.Load(); f != nil {
			b.Fatalf("%s: %v", url, f)
		}
		return time.Since(start)
	}
	mpURL, bareURL := e.ts.URL+httpmp.RoutePolicy, bare.URL+httpmp.RoutePolicy
	run(mpURL, 4*workers) // warm up the connections of both
	run(bareURL, 4*workers)
	b.ResetTimer()
	// Two halves each, interleaved, so drift in the machine's load hits
	// both alike.
	half := max(b.N/2, 1)
	var mp, bareT time.Duration
	mp += run(mpURL, half)
	bareT += run(bareURL, half)
	mp += run(mpURL, half)
	bareT += run(bareURL, half)
	b.StopTimer()
	n := float64(2 * half)
	b.ReportMetric(n/mp.Seconds(), "mp-req/s")
	b.ReportMetric(n/bareT.Seconds(), "bare-req/s")
	b.ReportMetric(bareT.Seconds()/mp.Seconds(), "ratio")
}
