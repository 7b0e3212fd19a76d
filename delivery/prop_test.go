package delivery_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
	pkg "github.com/consign/consign/package"
)

var propQueries = []string{
	`select * from SMS_R_System where OperatingSystemNameandVersion like "%Workstation 6.1%"`,
	`select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/KIOSKS"`,
	`select * from SMS_R_System where Client = 1 and Name like "PC0[1-4]"`,
	`select * from SMS_R_System where not (Name like "%5")`,
}

// siteMachine drives a Site with random workflows and checks, after each,
// that what the Site derives incrementally (targeting, policy, summaries)
// equals a brute-force recomputation.
type siteMachine struct {
	e    *env
	ads  []consign.ObjectID
	cols []consign.ObjectID
	msg  int
}

func (m *siteMachine) putDevice(t *rapid.T) {
	id := rapid.Uint32Range(1, 8).Draw(t, "device")
	os := rapid.SampledFrom([]string{win7, xp}).Draw(t, "os")
	ou := rapid.SampledFrom([]string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/KIOSKS"}).Draw(t, "ou")
	d := device(id, fmt.Sprintf("PC%02d", id), os, ou)
	d.Client = rapid.Bool().Draw(t, "client")
	if err := m.e.site.PutDevices(m.e.ctx, d); err != nil {
		t.Fatal(err)
	}
}

func (m *siteMachine) deleteDevice(t *rapid.T) {
	id := rapid.Uint32Range(1, 8).Draw(t, "device")
	if _, err := m.e.site.Device(id); err != nil {
		t.Skip("no such device")
	}
	if err := m.e.site.DeleteDevice(m.e.ctx, id); err != nil {
		t.Fatal(err)
	}
}

func (m *siteMachine) createCollection(t *rapid.T) {
	c := &collection.Collection{Name: "c"}
	for i := range rapid.IntRange(0, 2).Draw(t, "rules") {
		r := collection.QueryRule{RuleName: fmt.Sprint("r", i), Query: rapid.SampledFrom(propQueries).Draw(t, "query")}
		if len(m.cols) > 0 && rapid.Bool().Draw(t, "limited") {
			r.LimitToCollectionID = rapid.SampledFrom(m.cols).Draw(t, "limit")
		}
		c.QueryRules = append(c.QueryRules, r)
	}
	for i, rid := range rapid.SliceOfNDistinct(rapid.Uint32Range(1, 9), 0, 2, rapid.ID).Draw(t, "direct") {
		c.DirectRules = append(c.DirectRules, collection.DirectRule{RuleName: fmt.Sprint("d", i), ResourceID: rid})
	}
	parent := consign.ObjectID("")
	if len(m.cols) > 0 && rapid.Bool().Draw(t, "sub") {
		parent = rapid.SampledFrom(m.cols).Draw(t, "parent")
	}
	nc, err := m.e.site.CreateCollection(m.e.ctx, c, parent)
	if err != nil {
		t.Fatal(err)
	}
	m.cols = append(m.cols, nc.ID)
}

func (m *siteMachine) deleteCollection(t *rapid.T) {
	if len(m.cols) == 0 {
		t.Skip("no collection")
	}
	i := rapid.IntRange(0, len(m.cols)-1).Draw(t, "i")
	err := m.e.site.DeleteCollection(m.e.ctx, m.cols[i])
	if errors.Is(err, consign.ErrFailedPrecondition) {
		return // advertised to or limiting another: refused, nothing changed
	}
	if err != nil {
		t.Fatal(err)
	}
	m.cols = slices.Delete(m.cols, i, i+1)
}

func (m *siteMachine) link(t *rapid.T) {
	if len(m.cols) < 2 {
		t.Skip("too few collections")
	}
	parent := rapid.SampledFrom(m.cols).Draw(t, "parent")
	child := rapid.SampledFrom(m.cols).Draw(t, "child")
	if err := m.e.site.LinkCollection(m.e.ctx, parent, child); err != nil && !errors.Is(err, consign.ErrInvalid) {
		t.Fatal(err)
	}
}

func (m *siteMachine) toggleSubcollections(t *rapid.T) {
	if len(m.ads) == 0 {
		t.Skip("no advertisement")
	}
	a, err := m.e.site.Advertisement(rapid.SampledFrom(m.ads).Draw(t, "ad"))
	if err != nil {
		t.Fatal(err)
	}
	a.IncludeSubcollections = !a.IncludeSubcollections
	if err := m.e.site.UpdateAdvertisement(m.e.ctx, a); err != nil {
		t.Fatal(err)
	}
}

func (m *siteMachine) advertise(t *rapid.T) {
	targets := append([]consign.ObjectID{collection.AllSystemsID}, m.cols...)
	p, err := m.e.site.CreatePackage(m.e.ctx, pkg.NewPackage("", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.e.site.CreateProgram(m.e.ctx, withPkg(newProgram("Install"), p.ID)); err != nil {
		t.Fatal(err)
	}
	ad := advertisement.New("", "ad", p.ID, "Install", rapid.SampledFrom(targets).Draw(t, "target"), t0)
	ad.PresentTimeIsGMT = true
	ad.IncludeSubcollections = rapid.Bool().Draw(t, "include")
	ad.ASAP = rapid.Bool().Draw(t, "mandatory")
	a, err := m.e.site.CreateAdvertisement(m.e.ctx, ad)
	if err != nil {
		t.Fatal(err)
	}
	m.ads = append(m.ads, a.ID)
}

func (m *siteMachine) report(t *rapid.T) {
	if len(m.ads) == 0 {
		t.Skip("no advertisement")
	}
	id := rapid.Uint32Range(1, 8).Draw(t, "device")
	if _, err := m.e.site.Device(id); err != nil {
		t.Skip("no such device")
	}
	ev := rapid.SampledFrom([]advertisement.Event{advertisement.EventReceived, advertisement.EventStarted,
		advertisement.EventSucceeded, advertisement.EventFailed, advertisement.EventRetrying, advertisement.EventRejected}).Draw(t, "event")
	m.msg++
	msg := advertisement.Message{ID: fmt.Sprint("m", m.msg), AdvertisementID: rapid.SampledFrom(m.ads).Draw(t, "ad"), Event: ev,
		Time: t0.Add(time.Duration(m.msg) * time.Second)}
	if _, err := m.e.site.Report(m.e.ctx, id, []advertisement.Message{msg}); err != nil {
		t.Fatal(err)
	}
}

func (m *siteMachine) deleteAdvertisement(t *rapid.T) {
	if len(m.ads) == 0 {
		t.Skip("no advertisement")
	}
	i := rapid.IntRange(0, len(m.ads)-1).Draw(t, "i")
	if err := m.e.site.DeleteAdvertisement(m.e.ctx, m.ads[i]); err != nil {
		t.Fatal(err)
	}
	m.ads = slices.Delete(m.ads, i, i+1)
}

// targets is the brute-force set of devices an advertisement reaches.
func targets(t *rapid.T, s *delivery.Site, ad *advertisement.Advertisement) map[uint32]bool {
	cols := []consign.ObjectID{ad.CollectionID}
	if ad.IncludeSubcollections {
		for i := 0; i < len(cols); i++ {
			for _, c := range s.Subcollections(cols[i]) {
				if !slices.Contains(cols, c) {
					cols = append(cols, c)
				}
			}
		}
	}
	out := map[uint32]bool{}
	for _, c := range cols {
		ms, err := s.Members(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ms {
			out[id] = true
		}
	}
	return out
}

func (m *siteMachine) check(t *rapid.T) {
	s := m.e.site
	for _, ad := range s.Advertisements() {
		want := targets(t, s, ad)
		var recount advertisement.Summary
		reported := 0
		for id := uint32(1); id <= 8; id++ {
			cs, err := s.ClientStatus(ad.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if cs != (advertisement.ClientStatus{}) {
				recount.Add(cs)
				if want[id] {
					reported++
				}
			}
			pol, err := s.Policy(m.e.ctx, id, nil)
			if err != nil {
				continue // device does not exist
			}
			_, got := offerFor(pol, ad.ID)
			if got != want[id] {
				t.Fatalf("device %d: offer for %s = %v, but membership says %v", id, ad.ID, got, want[id])
			}
		}
		sum, err := s.AdvertisementSummary(ad.ID)
		if err != nil {
			t.Fatal(err)
		}
		recount.Targeted = len(want)
		if sum.Targeted != len(want) || sum.NotReported != len(want)-reported || sum.Counts != recount {
			t.Fatalf("%s: incremental summary %+v (not reported %d) != recomputed %+v (not reported %d)", ad.ID, sum.Counts, sum.NotReported, recount, len(want)-reported)
		}
	}
}

func TestSiteIncrementalStateMatchesRecomputation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := &env{t: t, ctx: t.Context(), clock: &fakeClock{now: t0}, tr: &recordingTransport{}}
		e.store = memstore.New()
		e.site = e.open()
		m := &siteMachine{e: e}
		rt.Repeat(map[string]func(*rapid.T){
			"putDevice":            m.putDevice,
			"deleteDevice":         m.deleteDevice,
			"createCollection":     m.createCollection,
			"advertise":            m.advertise,
			"report":               m.report,
			"deleteAdvertisement":  m.deleteAdvertisement,
			"deleteCollection":     m.deleteCollection,
			"link":                 m.link,
			"toggleSubcollections": m.toggleSubcollections,
			"":                     m.check,
		})
		// A Site reopened over the same store rebuilds the same state.
		reopened := e.open()
		for _, ad := range e.site.Advertisements() {
			a, _ := e.site.AdvertisementSummary(ad.ID)
			b, err := reopened.AdvertisementSummary(ad.ID)
			if err != nil || a != b {
				rt.Fatalf("%s: summary before reopen %+v, after %+v (%v)", ad.ID, a, b, err)
			}
		}
		for id := uint32(1); id <= 8; id++ {
			a, errA := e.site.Policy(e.ctx, id, nil)
			b, errB := reopened.Policy(e.ctx, id, nil)
			if (errA == nil) != (errB == nil) || errA == nil && len(a.Offers) != len(b.Offers) {
				rt.Fatalf("device %d: policy before reopen has %v offers (%v), after %v (%v)", id, offersOf(a), errA, offersOf(b), errB)
			}
		}
	})
}

func offersOf(p *delivery.Policy) []consign.ObjectID {
	if p == nil {
		return nil
	}
	var ids []consign.ObjectID
	for _, o := range p.Offers {
		ids = append(ids, o.Advertisement.ID)
	}
	return ids
}
