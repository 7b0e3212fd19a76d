package delivery_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
)

func TestCollectionWorkflows(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	limited := must(e.site.CreateCollection(e.ctx, &collection.Collection{Name: "Kiosk Windows 7", QueryRules: []collection.QueryRule{{
		RuleName: "kiosks", Query: `select * from SMS_R_System where Name like "PC0[1-2]"`, LimitToCollectionID: col.ID}}}, col.ID))
	if got := must(e.site.Members(limited.ID)); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("limited members = %v, want [1 2]", got)
	}
	if got := e.site.Subcollections(col.ID); !slices.Equal(got, []consign.ObjectID{limited.ID}) {
		t.Errorf("subcollections = %v", got)
	}

	// A limit loop is refused and named.
	c := must(e.site.Collection(col.ID))
	c.QueryRules[0].LimitToCollectionID = limited.ID
	if err := e.site.UpdateCollection(e.ctx, c); !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), string(col.ID)+" → "+string(limited.ID)) {
		t.Errorf("limit loop: err = %v", err)
	}
	// A link loop is refused.
	if err := e.site.LinkCollection(e.ctx, limited.ID, col.ID); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("link loop: err = %v", err)
	}
	// A bad query names the rule and where it broke.
	_, err := e.site.CreateCollection(e.ctx, &collection.Collection{Name: "bad", QueryRules: []collection.QueryRule{{
		RuleName: "typo", Query: `select * from SMS_R_System where OperatingSystemNameAndVersio = "x"`}}}, "")
	if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "OperatingSystemNameAndVersio") {
		t.Errorf("bad query: err = %v", err)
	}
	// Deleting a collection another one is limited to, or that is
	// advertised to, is refused; All Systems is read-only.
	if err := e.site.DeleteCollection(e.ctx, col.ID); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("delete limiting collection: err = %v", err)
	}
	if err := e.site.DeleteCollection(e.ctx, collection.AllSystemsID); !errors.Is(err, consign.ErrPermissionDenied) {
		t.Errorf("delete All Systems: err = %v", err)
	}
	if err := e.site.DeleteCollection(e.ctx, limited.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.site.DeleteCollection(e.ctx, col.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.site.Members(col.ID); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("deleted collection still has members: %v", err)
	}
}

// A rule that depends on the time changes membership only when the
// collection is evaluated: on its schedule, or when asked.
func TestEvaluateCollectionsOnSchedule(t *testing.T) {
	e := newEnv(t)
	d := device(1, "PC01", win7, "X")
	d.Properties = map[string]any{"LastLogonTimestamp": t0.Add(-20 * 24 * time.Hour)}
	if err := e.site.PutDevices(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	stale := must(e.site.CreateCollection(e.ctx, &collection.Collection{Name: "No logon for 30 days", QueryRules: []collection.QueryRule{{
		RuleName: "stale", Query: `select * from SMS_R_System where DATEDIFF(dd, SMS_R_System.LastLogonTimestamp, GETDATE()) > 30`}}}, ""))
	if got := must(e.site.Members(stale.ID)); len(got) != 0 {
		t.Fatalf("members = %v, want none yet", got)
	}
	if err := e.site.EvaluateCollections(e.ctx, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(15 * 24 * time.Hour))
	if got := must(e.site.Members(stale.ID)); len(got) != 0 {
		t.Errorf("membership changed without an evaluation: %v", got)
	}
	if err := e.site.EvaluateCollections(e.ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := must(e.site.Members(stale.ID)); !slices.Equal(got, []uint32{1}) {
		t.Errorf("after the daily evaluation members = %v, want [1]", got)
	}
}

func TestChannelTransport(t *testing.T) {
	tr := delivery.NewChannelTransport()
	ch := tr.Subscribe(1)
	if tr.Subscribe(1) != ch {
		t.Fatal("Subscribe returned a second channel for the same device")
	}
	for range 3 {
		if err := tr.Notify(t.Context(), []uint32{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
	default:
		t.Fatal("no signal after Notify")
	}
	select {
	case <-ch:
		t.Fatal("signals did not coalesce")
	default:
	}
}

// A site told of new policy notifies exactly the devices it concerns.
func TestNotifyReachesTargetedDevices(t *testing.T) {
	e := newEnv(t)
	tr := delivery.NewChannelTransport()
	site, err := delivery.Open(e.ctx, e.store, tr, &delivery.Options{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.site = site
	col := e.seed()
	in, out := tr.Subscribe(1), tr.Subscribe(5)
	drain := func(ch <-chan struct{}) {
		select {
		case <-ch:
		default:
		}
	}
	drain(in)
	drain(out)
	e.distribute(col.ID, advertisement.RerunIfFailed)
	select {
	case <-in:
	default:
		t.Error("member device 1 was not signalled")
	}
	select {
	case <-out:
		t.Error("non-member device 5 was signalled")
	default:
	}
}

// A Site that loaded collections and devices from its store can change
// them: it knows the revision of every record it loaded in bulk.
func TestChangeWhatWasLoaded(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	e.site.Close()
	e.site = e.open()
	c := must(e.site.Collection(col.ID))
	c.Comment = "changed after reopening"
	if err := e.site.UpdateCollection(e.ctx, c); err != nil {
		t.Fatalf("UpdateCollection after reopening: %v", err)
	}
	d := must(e.site.Device(1))
	d.Name = "RENAMED"
	if err := e.site.PutDevices(e.ctx, d); err != nil {
		t.Fatalf("PutDevices after reopening: %v", err)
	}
	if err := e.site.DeleteDevice(e.ctx, 2); err != nil {
		t.Fatalf("DeleteDevice after reopening: %v", err)
	}
	e.site.Close()
	e.site = e.open()
	if got := must(e.site.Collection(col.ID)).Comment; got != c.Comment {
		t.Errorf("comment %q after reopening again", got)
	}
	if got := must(e.site.Device(1)).Name; got != "RENAMED" {
		t.Errorf("device name %q after reopening again", got)
	}
	if _, err := e.site.Device(2); err == nil {
		t.Error("deleted device is back")
	}
}
