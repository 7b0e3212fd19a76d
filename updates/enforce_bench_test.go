package updates_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
)

// enfBenchInput is a device on Patch Tuesday night: 100 required updates
// (every tenth a service pack, a third asking for restarts), 10 nightly
// 3-hour windows with the first one open, and five deployments — two past
// their deadline, two within the enforce-all horizon, one optional — in
// the device's local time.
func enfBenchInput() updates.EnforceInput {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2009, 6, 10, 2, 30, 0, 0, loc)
	in := updates.EnforceInput{Now: now, Location: loc, HasWindows: true}
	var ids [5][]updates.CIID
	cached := map[updates.CIID]bool{}
	for i := range 100 {
		u := &updates.Update{CIID: updates.CIID(1000 + i), Title: fmt.Sprint("KB", 950000+i), Classification: updates.SecurityUpdates,
			MaxExecutionTime: time.Duration(5+i%7*10) * time.Minute, Restart: updates.RestartBehavior(i % 3)}
		if i%10 == 0 {
			u.Classification, u.MaxExecutionTime = updates.ServicePacks, 0
		}
		in.Required = append(in.Required, u)
		ids[i%5] = append(ids[i%5], u.CIID)
		cached[u.CIID] = i%9 != 0
	}
	in.Downloaded = func(id updates.CIID) bool { return cached[id] }
	civil := func(t time.Time) time.Time {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	}
	deadlines := []time.Duration{-26 * time.Hour, -3 * time.Hour, 50 * time.Hour, 6 * 24 * time.Hour, 0}
	for i, off := range deadlines {
		d := &updates.Deployment{ID: uint32(i + 1), Updates: ids[i], Enabled: true, Available: civil(now.AddDate(0, 0, -10))}
		if off != 0 {
			d.Deadline = civil(now.Add(off))
		}
		d.Settings.SuppressReboot = updates.SuppressServers
		in.Deployments = append(in.Deployments, d)
	}
	for day := range 10 {
		start := time.Date(2009, 6, 10+day, 1, 0, 0, 0, loc)
		in.Windows = append(in.Windows, schedule.Span{Start: start, End: start.Add(3 * time.Hour)})
	}
	in.UserRequested = ids[4][:3]
	return in
}

// BenchmarkEnforce: one decision for the device of enfBenchInput, as the
// agent makes it at each evaluation. Target: ≤ 50 µs.
func BenchmarkEnforce(b *testing.B) {
	in := enfBenchInput()
	p, err := updates.Enforce(in)
	if err != nil || len(p.Install) == 0 || len(p.Wait) == 0 || len(p.Download) == 0 {
		b.Fatalf("the benchmark's device should install, wait and download: %+v, %v", p, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		updates.Enforce(in)
	}
}
