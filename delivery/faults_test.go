package delivery_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	pkg "github.com/consign/consign/package"
)

// flakyStore fails the Nth Apply like a store whose connection dropped:
// with ErrUnavailable (the write had no effect), or, with lostCommit, after
// committing it, with ErrCommitUnknown (the connection dropped after
// COMMIT was sent).
type flakyStore struct {
	*memstore.Store
	failAt, calls atomic.Int64
	lostCommit    bool
}

func (f *flakyStore) Apply(ctx context.Context, w []delivery.Write) (int64, error) {
	if f.calls.Add(1) != f.failAt.Load() {
		return f.Store.Apply(ctx, w)
	}
	if !f.lostCommit {
		return 0, &consign.Error{Code: consign.ErrUnavailable, Op: "Apply", Err: errors.New("connection reset")}
	}
	if _, err := f.Store.Apply(ctx, w); err != nil {
		return 0, err
	}
	return 0, delivery.ErrCommitUnknown
}

// A store failure leaves the Site exactly as it was, and the same workflow
// succeeds once the store is back.
func TestStoreFailureChangesNothing(t *testing.T) {
	e := newEnv(t)
	fs := &flakyStore{Store: e.store}
	site, err := delivery.Open(e.ctx, fs, e.tr, &delivery.Options{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.site = site
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	before := must(e.site.AdvertisementSummary(res.Advertisement.ID))

	fs.failAt.Store(fs.calls.Load() + 1)
	msgs := []advertisement.Message{{ID: "m", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventSucceeded, Time: t0}}
	if _, err := e.site.Report(e.ctx, 1, msgs); !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("Report during an outage: err = %v, want ErrUnavailable", err)
	}
	if after := must(e.site.AdvertisementSummary(res.Advertisement.ID)); after != before {
		t.Errorf("a failed write changed the summary: %+v -> %+v", before, after)
	}
	if _, err := e.site.CreatePackage(e.ctx, pkg.NewPackage("", "after outage")); err != nil {
		t.Fatal(err)
	}
	if r := must(e.site.Report(e.ctx, 1, msgs)); r.Accepted != 1 {
		t.Errorf("the resent batch after the outage: %+v, want it accepted (the failed attempt stored nothing)", r)
	}
	if n := must(e.site.AdvertisementSummary(res.Advertisement.ID)).Counts.Succeeded; n != 1 {
		t.Errorf("succeeded = %d, want 1", n)
	}
}

// A write whose outcome is unknown is reported as such — not as "nothing
// was written" — and the Site catches up with what the store holds before
// its next workflow: resending the batch finds it already taken in.
func TestCommitOutcomeUnknown(t *testing.T) {
	e := newEnv(t)
	fs := &flakyStore{Store: e.store, lostCommit: true}
	site, err := delivery.Open(e.ctx, fs, e.tr, &delivery.Options{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.site = site
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	fs.failAt.Store(fs.calls.Load() + 1)
	msgs := []advertisement.Message{{ID: "m", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventSucceeded, Time: t0}}
	_, err = e.site.Report(e.ctx, 1, msgs)
	if !errors.Is(err, delivery.ErrCommitUnknown) || errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("Report whose commit was lost: err = %v, want ErrCommitUnknown and not ErrUnavailable", err)
	}
	if _, err := e.site.CreatePackage(e.ctx, pkg.NewPackage("", "next")); err != nil {
		t.Fatal(err)
	}
	if r := must(e.site.Report(e.ctx, 1, msgs)); r.Duplicates != 1 {
		t.Errorf("resending after the lost commit: %+v, want the message found already taken in", r)
	}
	if n := must(e.site.AdvertisementSummary(res.Advertisement.ID)).Counts.Succeeded; n != 1 {
		t.Errorf("succeeded = %d, want 1", n)
	}
}
