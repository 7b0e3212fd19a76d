package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	pkg "github.com/consign/consign/package"
)

// Reopener opens a store again over the same underlying data: after the
// store open returned was closed, or alongside it (a second handle on one
// database, as a second site process would have).
type Reopener func(t *testing.T) delivery.Store

// RunPersistent runs Run, then the cases only a store that keeps its
// records can pass:
//
//   - Reopen: after Close and reopen, every record, revision, change and
//     tombstone is there, and the next write gets a higher revision.
//   - SiteReopen: a Site opened over the reopened store equals the Site
//     that wrote the records (policy, summaries, compliance, …); and again
//     with 3,000 devices, their memberships, status and scans; and again
//     opened from a checkpoint (Options.Checkpoint) taken before half of
//     the writes, which equals a Site that loads the whole store.
//   - Interrupted: an Apply or PutBatch cancelled while it runs either
//     commits whole or leaves nothing.
//   - TwoHandles: two Sites over two handles create objects concurrently,
//     competing for the same counter record; every loser gets a conflict
//     and retries, and nothing is lost.
//   - HighVolume: 100,000 records of binary data through PutBatch and
//     large Applies round-trip exactly, before and after reopening.
//
// open returns a new, empty store and a Reopener for it; like Run's open,
// it registers its own cleanup, which must tolerate closed stores.
func RunPersistent(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener)) {
	Run(t, func(t *testing.T) delivery.Store { s, _ := open(t); return s })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("SiteReopen", func(t *testing.T) { testSiteReopenAfterClose(t, open) })
	t.Run("SiteReopenThousands", func(t *testing.T) { testSiteReopenThousands(t, open, false) })
	t.Run("SiteReopenCheckpoint", func(t *testing.T) { testSiteReopenThousands(t, open, true) })
	t.Run("Interrupted", func(t *testing.T) { testInterrupted(t, open) })
	t.Run("TwoHandles", func(t *testing.T) {
		s, reopen := open(t)
		sitesConcurrent(t, s, reopen(t))
	})
	t.Run("HighVolume", func(t *testing.T) { testHighVolume(t, open) })
}

func closeStore(t *testing.T, s delivery.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testReopen(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener)) {
	ctx := context.Background()
	s, reopen := open(t)
	apply(t, s, put("package", "CEN00001", "a", map[string]string{"site": "CEN"}), put("package", "CEN00002", "b", nil))
	apply(t, s, put("device", "0000000001", "\x00\x01binary\xff", map[string]string{"name": "PC01"}), del("package", "CEN00002"))
	r := apply(t, s, expecting(put("package", "CEN00001", "a2", map[string]string{"site": "CEN"}), get(t, s, "package", "CEN00001").Revision))
	written := r
	if bw, ok := s.(delivery.BulkWriter); ok {
		recs := []delivery.Record{{Kind: "statusmsg", Key: "1/a", Data: []byte("x")}, {Kind: "statusmsg", Key: "1/b", Data: []byte("y")}}
		rb, err := bw.PutBatch(ctx, recs)
		if err != nil || rb <= r {
			t.Fatalf("PutBatch = %d, %v; want a revision above %d", rb, err, r)
		}
		r = rb
	}
	before := changes(t, s, 0, 0)
	closeStore(t, s)

	s2 := reopen(t)
	after := changes(t, s2, 0, 0)
	if !sameChanges(before, after) {
		t.Fatalf("the change feed differs after reopening:\n%s\n%s", describeChanges(before), describeChanges(after))
	}
	if got := get(t, s2, "package", "CEN00001"); string(got.Data) != "a2" || got.Revision != written {
		t.Errorf("after reopening: %+v", got)
	}
	wantAbsent(t, s2, "package", "CEN00002")
	if got := get(t, s2, "device", "0000000001"); !bytes.Equal(got.Data, []byte("\x00\x01binary\xff")) || got.Index["name"] != "PC01" {
		t.Errorf("binary record after reopening: %+v", got)
	}
	if next := apply(t, s2, put("package", "CEN00003", "c", nil)); next <= r {
		t.Errorf("the first write after reopening got revision %d; the last before was %d", next, r)
	}
}

func sameChanges(a, b []delivery.Change) bool {
	return slices.EqualFunc(a, b, func(x, y delivery.Change) bool { return x.Deleted == y.Deleted && same(x.Record, y.Record) })
}

func describeChanges(cs []delivery.Change) string {
	var b bytes.Buffer
	for _, c := range cs {
		fmt.Fprintf(&b, "  %d %s/%s deleted=%v %q\n", c.Record.Revision, c.Record.Kind, c.Record.Key, c.Deleted, c.Record.Data)
	}
	return b.String()
}

func testSiteReopenAfterClose(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener)) {
	s, reopen := open(t)
	first := openSite(t, s)
	ad, dep := siteScenario(t, first)
	want := siteSnapshot(first, ad, dep)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	second := openSite(t, reopen(t))
	compareSnapshots(t, "between the Site that wrote them and one opened after the store was closed and reopened", want, siteSnapshot(second, ad, dep))
}

// testInterrupted cancels large writes at random moments: each either
// commits whole or leaves nothing, and the store stays usable.
func testInterrupted(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener)) {
	s, _ := open(t)
	rng := rand.New(rand.NewPCG(5, 7))
	const n = 5000
	for round := range 6 {
		kind := fmt.Sprintf("interrupted%d", round)
		writes := make([]delivery.Write, n)
		recs := make([]delivery.Record, n)
		for i := range writes {
			key := fmt.Sprintf("%06d", i)
			writes[i] = put(kind, key, "data "+key, map[string]string{"n": key})
			recs[i] = delivery.Record{Kind: kind + "b", Key: key, Data: []byte("bulk " + key)}
		}
		ctx, cancel := context.WithCancel(context.Background())
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		timer := time.AfterFunc(delay, cancel)
		_, aerr := s.Apply(ctx, writes)
		var berr error
		bw, bulk := s.(delivery.BulkWriter)
		if bulk {
			_, berr = bw.PutBatch(ctx, recs)
		}
		timer.Stop()
		cancel()
		checkAllOrNothing(t, s, kind, n, aerr)
		if bulk {
			checkAllOrNothing(t, s, kind+"b", n, berr)
		}
	}
	// Still usable.
	apply(t, s, put("after", "k", "v", nil))
}

func checkAllOrNothing(t *testing.T, s delivery.Store, kind string, n int, err error) {
	t.Helper()
	recs, _, lerr := s.List(context.Background(), kind, delivery.Query{})
	if lerr != nil {
		t.Fatalf("List(%s): %v", kind, lerr)
	}
	switch {
	case err == nil && len(recs) != n:
		t.Errorf("%s: the write succeeded but %d of %d records are stored", kind, len(recs), n)
	case err != nil && len(recs) != 0:
		t.Errorf("%s: the write failed (%v) but left %d records", kind, err, len(recs))
	case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, consign.ErrUnavailable):
		t.Errorf("%s: a cancelled write returned %v; want context.Canceled", kind, err)
	}
}

// testHighVolume round-trips 100,000 binary records through PutBatch (or
// Apply when the store has no BulkWriter) and 20,000 conditional updates
// through one Apply.
func testHighVolume(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener)) {
	ctx := context.Background()
	s, reopen := open(t)
	const n, batch = 100_000, 10_000
	data := func(i, gen int) []byte {
		b := make([]byte, 16+i%200)
		for j := range b {
			b[j] = byte(i*31 + j*7 + gen)
		}
		return b
	}
	for lo := 0; lo < n; lo += batch {
		recs := make([]delivery.Record, 0, batch)
		for i := lo; i < lo+batch; i++ {
			recs = append(recs, delivery.Record{Kind: "scan", Key: fmt.Sprintf("%010d", i), Data: data(i, 0), Index: map[string]string{"shard": fmt.Sprint(i % 7)}})
		}
		if bw, ok := s.(delivery.BulkWriter); ok {
			if _, err := bw.PutBatch(ctx, recs); err != nil {
				t.Fatalf("PutBatch: %v", err)
			}
			continue
		}
		writes := make([]delivery.Write, len(recs))
		for i, r := range recs {
			writes[i] = delivery.Write{Op: delivery.Put, Record: r, Expect: delivery.AnyRevision}
		}
		apply(t, s, writes...)
	}
	// 20,000 conditional updates in one Apply.
	cur, _, err := s.List(ctx, "scan", delivery.Query{Limit: 20_000})
	if err != nil || len(cur) != 20_000 {
		t.Fatalf("List: %d records, %v", len(cur), err)
	}
	writes := make([]delivery.Write, len(cur))
	for i, r := range cur {
		r.Data = data(i, 1)
		writes[i] = delivery.Write{Op: delivery.Put, Record: r, Expect: r.Revision}
	}
	apply(t, s, writes...)

	check := func(s delivery.Store, when string) {
		t.Helper()
		all := changes(t, s, 0, 0)
		if len(all) != n {
			t.Fatalf("%s: the change feed has %d records, want %d", when, len(all), n)
		}
		seen := 0
		for _, c := range all {
			var i int
			if _, err := fmt.Sscanf(c.Record.Key, "%d", &i); err != nil {
				t.Fatalf("%s: unexpected key %q", when, c.Record.Key)
			}
			gen := 0
			if i < 20_000 {
				gen = 1
			}
			if !bytes.Equal(c.Record.Data, data(i, gen)) || c.Record.Index["shard"] != fmt.Sprint(i%7) {
				t.Fatalf("%s: record %s does not round-trip", when, c.Record.Key)
			}
			seen++
		}
		shard, _, err := s.List(ctx, "scan", delivery.Query{IndexName: "shard", IndexValue: "3"})
		if err != nil || len(shard) != n/7+1 && len(shard) != n/7 {
			t.Fatalf("%s: List by index: %d records, %v", when, len(shard), err)
		}
	}
	check(s, "before reopening")
	closeStore(t, s)
	check(reopen(t), "after reopening")
}

// testSiteReopenThousands builds a site of 3,000 devices in four query
// collections, an advertisement to one of them with status from 1,000
// devices, and scans for a deployment; after closing and reopening the
// store, a new Site shows the same memberships, policies and summaries.
//
// With checkpoint, the first Site keeps a checkpoint, written once the
// devices and collections are in; then a tenth of the devices move to
// another collection, ten are deleted, a collection is changed and one
// deleted, before the advertisement, status and scans. The Site opened
// from that checkpoint equals both the first Site and one that loads the
// whole store.
func testSiteReopenThousands(t *testing.T, open func(t *testing.T) (delivery.Store, Reopener), checkpoint bool) {
	ctx := context.Background()
	s, reopen := open(t)
	path := ""
	if checkpoint {
		path = filepath.Join(t.TempDir(), "site.checkpoint")
	}
	first := openSiteWith(t, s, path)
	const n = 3000
	var ds []*collection.Device
	for i := uint32(1); i <= n; i++ {
		os := []string{"Microsoft Windows NT Workstation 5.1", "Microsoft Windows NT Workstation 6.0", "Microsoft Windows NT Workstation 6.1"}[i%3]
		ds = append(ds, &collection.Device{ResourceID: i, Name: fmt.Sprintf("PC%05d", i), OperatingSystemNameandVersion: os, Client: true,
			SystemOUName: []string{"CONTOSO.COM/" + []string{"SALES", "IT", "HR", "ENG"}[i%4]}})
	}
	if err := first.PutDevices(ctx, ds...); err != nil {
		t.Fatalf("PutDevices: %v", err)
	}
	var cols []consign.ObjectID
	for i, q := range []string{
		`select * from SMS_R_System where OperatingSystemNameandVersion like "%6.1"`,
		`select * from SMS_R_System where OperatingSystemNameandVersion like "%5.1"`,
		`select * from SMS_R_System where SystemOUName = "CONTOSO.COM/IT"`,
		`select * from SMS_R_System where Name like "PC0%"`,
	} {
		c, err := first.CreateCollection(ctx, &collection.Collection{Name: fmt.Sprint("c", i), QueryRules: []collection.QueryRule{{RuleName: "r", Query: q}}}, "")
		if err != nil {
			t.Fatalf("CreateCollection: %v", err)
		}
		cols = append(cols, c.ID)
	}
	if checkpoint {
		if err := first.Checkpoint(ctx); err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		var moved []*collection.Device
		for i := uint32(1); i <= n; i += 10 { // to Windows 7, and so to cols[0]
			d := *ds[i-1]
			d.OperatingSystemNameandVersion = "Microsoft Windows NT Workstation 6.1"
			moved = append(moved, &d)
		}
		if err := first.PutDevices(ctx, moved...); err != nil {
			t.Fatalf("PutDevices: %v", err)
		}
		for i := uint32(n - 19); i <= n-10; i++ {
			if err := first.DeleteDevice(ctx, i); err != nil {
				t.Fatalf("DeleteDevice: %v", err)
			}
		}
		c, err := first.Collection(cols[2])
		if err != nil {
			t.Fatal(err)
		}
		c.QueryRules[0].Query = `select * from SMS_R_System where SystemOUName = "CONTOSO.COM/HR"`
		if err := first.UpdateCollection(ctx, c); err != nil {
			t.Fatalf("UpdateCollection: %v", err)
		}
		if err := first.DeleteCollection(ctx, cols[3]); err != nil {
			t.Fatalf("DeleteCollection: %v", err)
		}
		cols = cols[:3]
	}
	prog := pkg.NewProgram("", "Install", `\\FS01\apps\setup.exe /s`)
	prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
	ad := advertisement.New("", "App", "", "", "", siteEpoch.Add(-time.Hour))
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	res, err := first.DistributeSoftware(ctx, delivery.DistributeRequest{NewPackage: pkg.NewPackage("", "App"), NewPrograms: []*pkg.Program{prog},
		ProgramName: "Install", CollectionID: cols[0], Advertisement: ad})
	if err != nil {
		t.Fatalf("DistributeSoftware: %v", err)
	}
	var reports []delivery.DeviceReport
	members, _ := first.Members(cols[0])
	for i, rid := range members {
		ev := []advertisement.Event{advertisement.EventSucceeded, advertisement.EventFailed, advertisement.EventStarted}[i%3]
		reports = append(reports, delivery.DeviceReport{ResourceID: rid, Messages: []advertisement.Message{
			{ID: "m", AdvertisementID: res.Advertisement.ID, Event: ev, Time: siteEpoch}}})
	}
	if _, err := first.ReportMany(ctx, reports); err != nil {
		t.Fatalf("ReportMany: %v", err)
	}
	dep := softwareUpdates(t, first, res.Advertisement.ID)
	snapshot := func(site *delivery.Site) map[string]any {
		snap := map[string]any{}
		for _, c := range cols {
			m, _ := site.Members(c)
			snap["members "+string(c)] = m
		}
		snap["summary"], _ = site.AdvertisementSummary(res.Advertisement.ID)
		snap["deployment"], _ = site.DeploymentCompliance(dep)
		for _, rid := range []uint32{1, 2, 3, 1500, 2999, n} {
			p, err := site.Policy(ctx, rid, nil)
			if err != nil {
				t.Fatalf("Policy(%d): %v", rid, err)
			}
			snap[fmt.Sprint("policy ", rid)] = p.Offers
		}
		return snap
	}
	want := snapshot(first)
	if sum := want["summary"].(delivery.Summary); sum.Targeted != len(members) || sum.Counts.Succeeded+sum.Counts.Failed+sum.Counts.Running != len(members) || sum.Counts.Failed == 0 {
		t.Fatalf("the site before closing: %+v; want %d targeted and reported: succeeded, failed or running", sum, len(members))
	}
	if !checkpoint {
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		closeStore(t, s)
		compareSnapshots(t, "for 3,000 devices after the store was closed and reopened", want, snapshot(openSite(t, reopen(t))))
		return
	}
	// The Site is abandoned, not closed (which would write a newer
	// checkpoint): the one on disk is older than half the writes.
	closeStore(t, s)
	again := reopen(t)
	var log bytes.Buffer
	restored, err := delivery.Open(ctx, again, nil, &delivery.Options{SiteCode: "TST", Clock: func() time.Time { return siteEpoch },
		Checkpoint: path, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatalf("delivery.Open: %v", err)
	}
	if !strings.Contains(log.String(), "from=checkpoint") {
		t.Errorf("the Site did not open from its checkpoint:\n%s", log.String())
	}
	compareSnapshots(t, "for 3,000 devices opened from a checkpoint older than half the writes", want, snapshot(restored))
	compareSnapshots(t, "for 3,000 devices, from a checkpoint and from the whole store", snapshot(openSite(t, again)), snapshot(openSiteWith(t, again, path)))
}
