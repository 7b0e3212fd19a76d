package httpmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/signing"
	pkg "github.com/consign/consign/package"
)

// batchEnv is a site with devices 1..n and one advertisement of a program
// without content to All Systems, and a Server over it.
func batchEnv(t testing.TB, n int) (*Server, *delivery.Site, consign.ObjectID) {
	t.Helper()
	ctx := context.Background()
	site, err := delivery.Open(ctx, memstore.New(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]*collection.Device, n)
	for i := range ds {
		ds[i] = &collection.Device{ResourceID: uint32(i + 1), Name: fmt.Sprintf("PC%04d", i+1), SMSUniqueIdentifier: fmt.Sprintf("GUID:%d", i+1)}
	}
	if err := site.PutDevices(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	p, err := site.CreatePackage(ctx, pkg.NewPackage("", "Script"))
	if err != nil {
		t.Fatal(err)
	}
	if err := site.CreateProgram(ctx, pkg.NewProgram(p.ID, "Run", "cmd /c echo")); err != nil {
		t.Fatal(err)
	}
	ad, err := site.CreateAdvertisement(ctx, advertisement.New("", "Script", p.ID, "Run", collection.AllSystemsID, time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := signing.GenerateKeyring(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(site, Options{Keyring: ring, TokenKeys: [][]byte{bytes.Repeat([]byte{3}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	return s, site, ad.ID
}

// upload is what one device sends in the coalescing test: fresh messages,
// one repeated within the upload, and (for some) one for an advertisement
// that does not exist.
func upload(rid uint32, ad consign.ObjectID, round, fresh int, unknown bool) ([]advertisement.Message, delivery.ReportResult) {
	now := time.Now()
	var msgs []advertisement.Message
	for k := range fresh {
		msgs = append(msgs, advertisement.Message{ID: fmt.Sprintf("%d-%d-%d", rid, round, k), AdvertisementID: ad,
			Event: advertisement.EventReceived, Time: now.Add(time.Duration(k) * time.Millisecond)})
	}
	msgs = append(msgs, msgs[0])
	want := delivery.ReportResult{Accepted: fresh, Duplicates: 1}
	if unknown {
		msgs = append(msgs, advertisement.Message{ID: "u", AdvertisementID: "CEN0FFFF", Event: advertisement.EventReceived, Time: now})
		want.Unknown = 1
	}
	return msgs, want
}

// Concurrent uploads of many devices are coalesced into few Site writes,
// and each caller gets exactly its own counts; resends count as
// duplicates.
func TestCoalescing(t *testing.T) {
	const n = 200
	s, site, ad := batchEnv(t, n)
	ctx := context.Background()
	run := func(round int, mk func(rid uint32) ([]advertisement.Message, delivery.ReportResult)) (writes int64) {
		t.Helper()
		start := make(chan struct{})
		rev := site.Revision()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			rid := uint32(i + 1)
			msgs, want := mk(rid)
			wg.Go(func() {
				job, err := s.prepareStatus(rid, msgs)
				if err != nil {
					errs <- err
					return
				}
				<-start
				if err := s.submit(ctx, job); err != nil {
					errs <- err
					return
				}
				if job.err != nil || job.res != want {
					errs <- fmt.Errorf("round %d device %d: %+v %v, want %+v", round, rid, job.res, job.err, want)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		return site.Revision() - rev
	}
	uploads := map[uint32][]advertisement.Message{}
	writes := run(1, func(rid uint32) ([]advertisement.Message, delivery.ReportResult) {
		msgs, want := upload(rid, ad, 1, int(rid%3)+1, rid%2 == 0)
		uploads[rid] = msgs
		return msgs, want
	})
	t.Logf("%d uploads in %d writes", n, writes)
	if writes >= n/2 {
		t.Errorf("%d uploads took %d writes: not coalesced", n, writes)
	}
	// Every device resends its upload (replies lost): all duplicates.
	run(2, func(rid uint32) ([]advertisement.Message, delivery.ReportResult) {
		msgs := uploads[rid]
		want := delivery.ReportResult{Duplicates: len(msgs)}
		if rid%2 == 0 {
			want = delivery.ReportResult{Duplicates: len(msgs) - 1, Unknown: 1}
		}
		return msgs, want
	})
	for rid := uint32(1); rid <= n; rid++ {
		st, err := site.ClientStatus(ad, rid)
		if err != nil || st.LastEvent != advertisement.EventReceived {
			t.Fatalf("device %d status %+v %v", rid, st, err)
		}
	}
}

// Uploads resending messages this Server never saw (taken in through the
// Site directly, as through another management point) get exact counts;
// and a batch that fails validation falls back to one report per upload,
// so only the bad upload fails.
func TestCoalescingFallbacks(t *testing.T) {
	const n = 40
	s, site, ad := batchEnv(t, n)
	ctx := context.Background()
	// Devices report through the Site directly: this Server has no memory
	// of these IDs.
	pre := map[uint32][]advertisement.Message{}
	for rid := uint32(1); rid <= n; rid++ {
		msgs, _ := upload(rid, ad, 1, 2, false)
		pre[rid] = msgs[:2]
		if _, err := site.Report(ctx, rid, pre[rid]); err != nil {
			t.Fatal(err)
		}
	}
	// Device n is deleted after its upload was validated.
	jobs := make([]*statusJob, n)
	for i := range jobs {
		rid := uint32(i + 1)
		fresh, _ := upload(rid, ad, 2, 3, false)
		job, err := s.prepareStatus(rid, append(pre[rid], fresh[:3]...))
		if err != nil {
			t.Fatal(err)
		}
		jobs[i] = job
	}
	var wg sync.WaitGroup
	for _, job := range jobs[:n-1] {
		wg.Go(func() {
			if err := s.submit(ctx, job); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, j := range jobs[:n-1] {
		if j.err != nil {
			t.Fatalf("device %d: %v", j.rid, j.err)
		}
		if want := (delivery.ReportResult{Accepted: 3, Duplicates: 2}); j.res != want {
			t.Errorf("device %d: counts %+v, want %+v", j.rid, j.res, want)
		}
	}

	// The fallback: device n is gone, the others are taken in exactly.
	if err := site.DeleteDevice(ctx, uint32(n)); err != nil {
		t.Fatal(err)
	}
	last := make([]*statusJob, 0, 10)
	wants := map[uint32]delivery.ReportResult{}
	for rid := uint32(n - 9); rid <= n; rid++ {
		msgs, want := upload(rid, ad, 3, 2, false)
		job, err := s.prepareStatus(rid, msgs)
		if err != nil {
			t.Fatal(err)
		}
		wants[rid] = want
		last = append(last, job)
	}
	for _, job := range last {
		wg.Go(func() {
			if err := s.submit(ctx, job); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, j := range last {
		switch {
		case j.rid == n && !errors.Is(j.err, consign.ErrNotFound):
			t.Errorf("deleted device: %v, want not found", j.err)
		case j.rid != n && (j.err != nil || j.res != wants[j.rid]):
			t.Errorf("device %d: %+v %v, want %+v", j.rid, j.res, j.err, wants[j.rid])
		}
	}
}

// Field paths from the Site become the wire's.
func TestFieldNames(t *testing.T) {
	for _, c := range []struct {
		f    func(string) string
		in   string
		want string
	}{
		{statusField, "msgs[3].Message.Event", "messages[3].Event"},
		{statusField, "msgs[12].RunFirst", "messages[12].RunFirst"},
		{statusField, "msgs[0].ResourceID", "messages[0].ResourceID"},
		{deviceField, "device.Device.Name", "device.Name"},
		{deviceField, "devices[0].Device.Properties[\"X\"]", "device.Properties[\"X\"]"},
		{deviceField, "device.SMSUniqueIdentifier", "device.SMSUniqueIdentifier"},
		{scanField, "scans[0].States[2].Update", "states[2].Update"},
		{scanField, "scans[0].ScanTime", "scanTime"},
	} {
		if got := c.f(c.in); got != c.want {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
	}
}
