package delivery_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/delivery"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// Two Site processes over one store, the second one stale: a deletion and a
// creation that depends on the deleted object conflict, whichever commits
// first, and no orphan is left.
func TestDependentWritesRaceWithDeletes(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	p := must(e.site.CreatePackage(e.ctx, newPackage()))
	if err := e.site.CreateProgram(e.ctx, withPkg(newProgram("Install"), p.ID)); err != nil {
		t.Fatal(err)
	}
	ad := func() *advertisement.Advertisement {
		a := advertisement.New("", "ad", p.ID, "Install", col.ID, t0)
		a.PresentTimeIsGMT = true
		return a
	}

	// A deletes the collection; B, which has not seen that, advertises to
	// it: B must fail once it catches up.
	b := e.open()
	if err := e.site.DeleteCollection(e.ctx, col.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateAdvertisement(e.ctx, ad()); !containsField(err, "Advertisement.CollectionID") {
		t.Errorf("advertising to a collection another Site deleted: err = %v", err)
	}

	// B advertises to a new collection; A, stale, deletes it: A must be
	// refused once it sees the advertisement.
	col2 := must(e.site.CreateCollection(e.ctx, &collection.Collection{Name: "c2"}, ""))
	b = e.open()
	if _, err := b.CreateAdvertisement(e.ctx, func() *advertisement.Advertisement { a := ad(); a.CollectionID = col2.ID; return a }()); err != nil {
		t.Fatal(err)
	}
	if err := e.site.DeleteCollection(e.ctx, col2.ID); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("deleting a collection another Site just advertised to: err = %v, want ErrFailedPrecondition", err)
	}
	// Whatever happened, a fresh Site sees no advertisement without its
	// collection.
	fresh := e.open()
	for _, a := range fresh.Advertisements() {
		if _, err := fresh.Collection(a.CollectionID); err != nil {
			t.Errorf("advertisement %s targets missing collection %s", a.ID, a.CollectionID)
		}
	}
}

// A Site opens over a store holding tombstones of objects it never loaded.
func TestReopenAfterDeletes(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	other := must(e.site.CreateCollection(e.ctx, &collection.Collection{Name: "gone"}, col.ID))
	if err := e.site.DeleteCollection(e.ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.site.DeleteAdvertisement(e.ctx, res.Advertisement.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.site.DeleteDevice(e.ctx, 6); err != nil {
		t.Fatal(err)
	}
	s := e.open()
	if got := len(s.Collections()); got != len(e.site.Collections()) {
		t.Errorf("reopened site has %d collections, want %d", got, len(e.site.Collections()))
	}
}

// Every value a device validates with survives a reopen: DateTime arrays,
// NULL elements, and wql.Values given directly.
func TestDeviceValuesSurviveStorage(t *testing.T) {
	e := newEnv(t)
	d := device(1, "PC01", win7, "X")
	d.Properties = map[string]any{"AgentTime": []time.Time{t0, t0.Add(time.Hour)}, "AgentName": []any{"Heartbeat Discovery", nil}}
	if err := e.site.PutDevices(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.open().Device(1); err != nil {
		t.Errorf("device with a DateTime array and a NULL element does not reopen: %v", err)
	}
	v := device(2, "PC02", win7, "X")
	v.Properties = map[string]any{"AgentName": wql.Array(wql.Str("x"))}
	if err := e.site.PutDevices(e.ctx, v); err != nil {
		t.Fatal(err)
	}
	if got, err := e.open().Device(2); err != nil || fmt.Sprint(got.Properties["AgentName"]) != "[x]" {
		t.Errorf("a wql.Value property after reopening: %+v, %v", got, err)
	}
	if _, err := e.site.CreateCollection(e.ctx, &collection.Collection{ID: "SMS00002", Name: "x"}, ""); !containsField(err, "Collection.ID") {
		t.Errorf("a collection with the built-in SMS prefix: err = %v", err)
	}
}

// Message IDs are per device: two devices may both send message "1".
func TestMessageIDsArePerDevice(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed)
	for rid := uint32(1); rid <= 2; rid++ {
		r := must(e.site.Report(e.ctx, rid, []advertisement.Message{{ID: "1", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventSucceeded, Time: t0}}))
		if r.Accepted != 1 {
			t.Errorf("device %d: %+v, want its message accepted", rid, r)
		}
	}
	// After the device is deleted and rediscovered, its old IDs are
	// forgotten.
	if err := e.site.DeleteDevice(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.site.PutDevices(e.ctx, device(1, "PC01", win7, "X")); err != nil {
		t.Fatal(err)
	}
	if r := must(e.site.Report(e.ctx, 1, []advertisement.Message{{ID: "1", AdvertisementID: res.Advertisement.ID, Event: advertisement.EventStarted, Time: t0}})); r.Accepted != 1 {
		t.Errorf("rediscovered device: %+v, want its message accepted", r)
	}
}

func TestProgramChangesKeepInvariants(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	a := must(e.site.CreatePackage(e.ctx, newPackage()))
	b := must(e.site.CreatePackage(e.ctx, newPackage()))
	if err := e.site.CreateProgram(e.ctx, withPkg(newProgram("Runtime"), a.ID)); err != nil {
		t.Fatal(err)
	}
	dependent := withPkg(newProgram("App"), b.ID)
	dependent.Dependency = &pkg.ProgramRef{PackageID: a.ID, Program: "Runtime"}
	if err := e.site.CreateProgram(e.ctx, dependent); err != nil {
		t.Fatal(err)
	}
	// A package whose program another package's program runs first cannot
	// go.
	if err := e.site.DeletePackage(e.ctx, a.ID); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("deleting a package another package depends on: err = %v", err)
	}
	// An on-logoff advertisement pins its program to "no user logged on".
	logoff := withPkg(newProgram("Logoff"), b.ID)
	logoff.Logon = pkg.NoUserLoggedOn
	if err := e.site.CreateProgram(e.ctx, logoff); err != nil {
		t.Fatal(err)
	}
	ad := advertisement.New("", "logoff", b.ID, "Logoff", col.ID, t0)
	ad.PresentTimeIsGMT, ad.OnLogoff = true, true
	if _, err := e.site.CreateAdvertisement(e.ctx, ad); err != nil {
		t.Fatal(err)
	}
	logoff.Logon = pkg.UserLoggedOn
	logoff.RunMode = pkg.RunWithUserRights
	if err := e.site.UpdateProgram(e.ctx, logoff); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("a program change that invalidates its advertisement: err = %v", err)
	}
}

// DistributeSoftware reports the problems of every part at once, even when
// the package itself is invalid.
func TestDistributeSoftwareReportsEverything(t *testing.T) {
	e := newEnv(t)
	e.seed()
	badPkg := newPackage()
	badPkg.Name = ""
	badProg := newProgram("Install")
	badProg.CommandLine = ""
	ad := advertisement.New("", "", "", "", "", t0)
	_, err := e.site.DistributeSoftware(e.ctx, delivery.DistributeRequest{
		NewPackage: badPkg, NewPrograms: []*pkg.Program{badProg}, ProgramName: "Install",
		DistributionPoints: []string{"nowhere"}, CollectionID: "CEN0FFFF", Advertisement: ad,
	})
	for _, f := range []string{"Package.Name", "NewPrograms[0].Program.CommandLine", "DistributionPoints[0]", "CollectionID", "Advertisement.Name"} {
		if !containsField(err, f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

// The 15-assignment limit is per program, across its advertisements (§1.9).
func TestAssignmentLimitIsPerProgram(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	res := e.distribute(col.ID, advertisement.RerunIfFailed) // one assignment: ASAP
	more := advertisement.New("", "rerun", res.Package.ID, "Install", col.ID, t0)
	more.PresentTimeIsGMT = true
	for i := range 14 {
		more.Schedules = append(more.Schedules, schedule.Token{Type: schedule.NonRecurring, Start: t0.Add(time.Duration(i+1) * time.Hour), IsGMT: true})
	}
	a := must(e.site.CreateAdvertisement(e.ctx, more))
	a.Schedules = append(a.Schedules, schedule.Token{Type: schedule.NonRecurring, Start: t0.Add(20 * time.Hour), IsGMT: true})
	if err := e.site.UpdateAdvertisement(e.ctx, a); !containsField(err, "Advertisement.Schedules") {
		t.Errorf("a 16th assignment for the program: err = %v", err)
	}
}
