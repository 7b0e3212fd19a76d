package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/agent"
)

// For any interleaving of lost uploads and lost replies, every message in
// the outbox reaches the site at least once, the outbox empties, and the
// site counts each message exactly once: the statuses it ends with are
// those of a device that sent each message once.
func TestSenderDeliversAtLeastOnceCountsOnce(t *testing.T) {
	e := newEnv(t)
	coll := e.collection() // "PC…" devices; the ones here are not members, so they run nothing
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ"}, program("Install", "setup.exe"))
	ads := []*advertisement.Advertisement{
		e.advertise("A", p, "Install", coll, nil), e.advertise("B", p, "Install", coll, nil), e.advertise("C", p, "Install", coll, nil),
	}
	events := []advertisement.Event{advertisement.EventReceived, advertisement.EventDownloadStarted,
		advertisement.EventDownloadComplete, advertisement.EventStarted, advertisement.EventSucceeded,
		advertisement.EventFailed, advertisement.EventRetrying, advertisement.EventWaiting}
	base := t.TempDir()
	iter := 0
	rapid.Check(t, func(rt *rapid.T) {
		iter++
		faults := rapid.SliceOfN(rapid.SampledFrom([]fault{deliver, lose, loseReply}), 0, 12).Draw(rt, "faults")
		n := rapid.IntRange(1, 150).Draw(rt, "messages")
		msgs := make([]advertisement.Message, n)
		for i := range msgs {
			ev := rapid.SampledFrom(events).Draw(rt, "event")
			msgs[i] = advertisement.Message{ID: fmt.Sprintf("m-%d", i), AdvertisementID: ads[rapid.IntRange(0, len(ads)-1).Draw(rt, "ad")].ID,
				ResourceID: 1, Event: ev, Time: t0.Add(time.Duration(i) * time.Second)}
			if ev == advertisement.EventFailed || ev == advertisement.EventRetrying {
				msgs[i].ExitCode = rapid.IntRange(1, 2000).Draw(rt, "exit code")
			}
		}

		// The device sends through an outage of the drawn shape.
		d := device(fmt.Sprintf("SND%04d", iter))
		mp := must(newSiteMP(e.site, e.clock.Now, nil))
		mp.reportFaults = faults
		dir := must(os.MkdirTemp(base, "agent"))
		st := must(agent.OpenState(filepath.Join(dir, "agent.db"), &agent.StateOptions{NoSync: true}))
		defer st.Close()
		cache := must(agent.OpenCache(st, filepath.Join(dir, "cache"), nil))
		defer cache.Close()
		ob := must(agent.NewOutbox(st, nil))
		if err := ob.Add(msgs...); err != nil {
			rt.Fatal(err)
		}
		a := must(agent.New(agent.Config{MP: mp, Device: d, State: st, Cache: cache, Executor: agent.NewSimExecutor(nil),
			Clock: e.clock.Now, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		waitFor(rt, "an empty outbox", func() bool { return must(ob.Len()) == 0 })
		cancel()
		if err := <-done; err != nil {
			rt.Fatal(err)
		}
		rid := a.ResourceID()

		// The same messages, each sent once, by another device.
		ref := device(fmt.Sprintf("REF%04d", iter))
		refRid := e.register(ref)
		once := make([]advertisement.Message, n)
		for i, m := range msgs {
			m.ResourceID = refRid
			once[i] = m
		}
		if _, err := e.site.Report(e.ctx, refRid, once); err != nil {
			rt.Fatal(err)
		}

		mp.mu.Lock()
		defer mp.mu.Unlock()
		for _, m := range msgs {
			if mp.applied[m.ID] < 1 {
				rt.Fatalf("message %s never reached the site", m.ID)
			}
		}
		if len(mp.applied) != n || mp.accepted != n {
			rt.Fatalf("the site took %d distinct messages and accepted %d, want %d (duplicates counted %d)",
				len(mp.applied), mp.accepted, n, mp.duplicates)
		}
		if mp.maxBatch > agent.MaxReportBatch || mp.maxPerAd > agent.MaxBatchPerAdvertisement {
			rt.Fatalf("a batch of %d messages, %d about one advertisement", mp.maxBatch, mp.maxPerAd)
		}
		for _, ad := range ads {
			got, want := e.status(ad, rid), e.status(ad, refRid)
			if got != want {
				rt.Fatalf("advertisement %s: status %+v, want %+v as sent once", ad.ID, got, want)
			}
		}
	})
}
