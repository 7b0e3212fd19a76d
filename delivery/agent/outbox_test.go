package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

var t0 = time.Date(2008, 3, 1, 9, 0, 0, 0, time.UTC)

// testMessage returns a valid status message numbered i.
func testMessage(i int) advertisement.Message {
	return advertisement.Message{
		ID: fmt.Sprintf("msg-%d", i), AdvertisementID: "CEN00001", ResourceID: 7,
		Event: advertisement.EventStarted, Time: t0.Add(time.Duration(i) * time.Second),
	}
}

func newTestOutbox(t testing.TB, st *State, max int) *Outbox {
	t.Helper()
	ob, err := NewOutbox(st, &OutboxOptions{MaxMessages: max})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func pendingIDs(t testing.TB, ob *Outbox) []string {
	t.Helper()
	es, err := ob.Pending(0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.Message.ID)
	}
	return ids
}

func TestOutboxDurableAcrossReopen(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 0)
	want := []advertisement.Message{testMessage(1), testMessage(2), testMessage(3), testMessage(4)}
	want[1].Event, want[1].ExitCode, want[1].Detail = advertisement.EventFailed, 1603, "fatal error"
	want[2].RunFirst = &pkg.ProgramRef{PackageID: "CEN00002", Program: "VC runtime"}
	want[2].Time = want[2].Time.In(time.FixedZone("CET", 3600))
	want[3].Event, want[3].ExitCode = advertisement.EventTSStep, 5
	want[3].Step = &advertisement.StepStatus{Index: 4, Name: "Fix", State: tasksequence.StepFailed, Continued: true}
	if err := ob.Add(want...); err != nil {
		t.Fatal(err)
	}

	st = reopen(t, st)
	ob = newTestOutbox(t, st, 0)
	got, err := ob.Pending(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after reopen %d pending; want %d", len(got), len(want))
	}
	for i, e := range got {
		w := want[i]
		m := e.Message
		if m.ID != w.ID || m.AdvertisementID != w.AdvertisementID || m.ResourceID != w.ResourceID || m.Event != w.Event ||
			!m.Time.Equal(w.Time) || m.ExitCode != w.ExitCode || m.Detail != w.Detail ||
			(m.RunFirst == nil) != (w.RunFirst == nil) || (m.RunFirst != nil && *m.RunFirst != *w.RunFirst) ||
			(m.Step == nil) != (w.Step == nil) || (m.Step != nil && *m.Step != *w.Step) {
			t.Errorf("entry %d = %+v; want %+v", i, m, w)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("Seq %d after %d: not increasing", e.Seq, got[i-1].Seq)
		}
	}
	if n, err := ob.Len(); err != nil || n != len(want) {
		t.Errorf("Len = %d, %v; want %d", n, err, len(want))
	}
}

func TestOutboxAckAndOrder(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 0)
	for i := 1; i <= 5; i++ {
		if err := ob.Add(testMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := ob.Pending(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].Message.ID != "msg-1" || first[1].Message.ID != "msg-2" {
		t.Fatalf("Pending(2) = %+v; want msg-1, msg-2", first)
	}
	// Ack the second and an unknown number; ack the second again.
	if err := ob.Ack(first[1].Seq, 999); err != nil {
		t.Fatal(err)
	}
	if err := ob.Ack(first[1].Seq); err != nil {
		t.Fatal(err)
	}
	if got, want := pendingIDs(t, ob), []string{"msg-1", "msg-3", "msg-4", "msg-5"}; !slices.Equal(got, want) {
		t.Fatalf("pending = %v; want %v", got, want)
	}
	// Sequence numbers are never reused.
	if err := ob.Add(testMessage(6)); err != nil {
		t.Fatal(err)
	}
	all, _ := ob.Pending(0)
	if last := all[len(all)-1]; last.Seq <= 5 {
		t.Errorf("new entry got Seq %d; want above 5", last.Seq)
	}
	if n, _ := ob.Len(); n != 5 {
		t.Errorf("Len = %d; want 5", n)
	}
	if err := ob.Ack(); err != nil {
		t.Errorf("Ack() = %v", err)
	}
}

func TestOutboxBound(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 3)
	if err := ob.Add(testMessage(1), testMessage(2)); err != nil {
		t.Fatal(err)
	}
	err := ob.Add(testMessage(3), testMessage(4))
	var full *OutboxFullError
	if !errors.As(err, &full) || !errors.Is(err, consign.ErrUnavailable) {
		t.Fatalf("Add past the bound = %v; want *OutboxFullError matching ErrUnavailable", err)
	}
	if full.Pending != 2 || full.Adding != 2 || full.Max != 3 || !strings.Contains(err.Error(), "outbox full") {
		t.Errorf("error = %+v (%v)", full, err)
	}
	if got := pendingIDs(t, ob); !slices.Equal(got, []string{"msg-1", "msg-2"}) {
		t.Fatalf("a refused Add stored something: %v", got)
	}
	if err := ob.Add(testMessage(3)); err != nil {
		t.Fatalf("Add up to the bound: %v", err)
	}
	es, _ := ob.Pending(1)
	if err := ob.Ack(es[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := ob.Add(testMessage(4)); err != nil {
		t.Fatalf("Add after an Ack freed room: %v", err)
	}
	if _, err := NewOutbox(st, &OutboxOptions{MaxMessages: -1}); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("NewOutbox(MaxMessages -1) = %v; want ErrInvalid", err)
	}
	if ob, _ := NewOutbox(st, nil); ob.max != DefaultOutboxMessages {
		t.Errorf("default bound %d; want %d", ob.max, DefaultOutboxMessages)
	}
}

func TestOutboxRefusesInvalidMessages(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 0)
	bad := testMessage(2)
	bad.ID = ""
	err := ob.Add(testMessage(1), bad)
	if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "msgs[1]") {
		t.Fatalf("Add with an invalid message = %v; want ErrInvalid naming msgs[1]", err)
	}
	if n, _ := ob.Len(); n != 0 {
		t.Fatalf("a refused Add stored %d messages", n)
	}
}

func TestOutboxDamagedEntry(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 0)
	if err := ob.Add(testMessage(1), testMessage(2)); err != nil {
		t.Fatal(err)
	}
	es, _ := ob.Pending(0)
	if err := st.update("test", "", func(tx *bolt.Tx) error {
		return tx.Bucket(outboxBucket).Put(putUint64(es[0].Seq), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	_, err := ob.Pending(0)
	if !errors.Is(err, consign.ErrFailedPrecondition) || !strings.Contains(err.Error(), fmt.Sprint(es[0].Seq)) {
		t.Fatalf("Pending over a damaged entry = %v; want ErrFailedPrecondition naming Seq %d", err, es[0].Seq)
	}
	if err := ob.Ack(es[0].Seq); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(t, ob); !slices.Equal(got, []string{"msg-2"}) {
		t.Fatalf("after acking the damaged entry pending = %v", got)
	}
}

func TestOutboxConcurrent(t *testing.T) {
	st, _ := openTestState(t)
	ob := newTestOutbox(t, st, 0)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := ob.Add(testMessage(w*1000 + i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// A sender drains concurrently.
	acked := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			es, err := ob.Pending(10)
			if err != nil {
				t.Error(err)
				return
			}
			var seqs []uint64
			for _, e := range es {
				acked[e.Message.ID] = true
				seqs = append(seqs, e.Seq)
			}
			if err := ob.Ack(seqs...); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	<-done
	left := pendingIDs(t, ob)
	if n, _ := ob.Len(); n != len(left) {
		t.Errorf("Len %d, but %d pending", n, len(left))
	}
	for _, id := range left {
		if acked[id] {
			t.Errorf("%s both acked and pending", id)
		}
		acked[id] = true
	}
	if len(acked) != writers*each {
		t.Errorf("%d distinct messages acked or pending; want %d", len(acked), writers*each)
	}
}

// TestOutboxModel drives the outbox with random operations, reopening the
// file now and then, and checks it against a slice.
func TestOutboxModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		st, _ := openTestState(t)
		max := rapid.IntRange(1, 12).Draw(rt, "max")
		ob := newTestOutbox(t, st, max)
		var model []Entry
		next := 0
		lastSeq := uint64(0)
		rt.Repeat(map[string]func(*rapid.T){
			"add": func(rt *rapid.T) {
				k := rapid.IntRange(1, 4).Draw(rt, "k")
				var ms []advertisement.Message
				for range k {
					next++
					ms = append(ms, testMessage(next))
				}
				err := ob.Add(ms...)
				if len(model)+k > max {
					if !errors.Is(err, consign.ErrUnavailable) {
						rt.Fatalf("Add of %d with %d/%d pending = %v; want outbox full", k, len(model), max, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				for _, m := range ms {
					model = append(model, Entry{Message: m})
				}
			},
			"pending": func(rt *rapid.T) {
				n := rapid.IntRange(0, 6).Draw(rt, "n")
				es, err := ob.Pending(n)
				if err != nil {
					rt.Fatal(err)
				}
				want := model
				if n > 0 && n < len(want) {
					want = want[:n]
				}
				if len(es) != len(want) {
					rt.Fatalf("Pending(%d) gave %d; want %d", n, len(es), len(want))
				}
				for i, e := range es {
					if e.Message.ID != want[i].Message.ID {
						rt.Fatalf("Pending(%d)[%d] = %s; want %s", n, i, e.Message.ID, want[i].Message.ID)
					}
					if want[i].Seq == 0 {
						if e.Seq <= lastSeq {
							rt.Fatalf("new entry Seq %d not above %d", e.Seq, lastSeq)
						}
						lastSeq = e.Seq
						model[i].Seq = e.Seq
					} else if e.Seq != want[i].Seq {
						rt.Fatalf("Seq of %s changed from %d to %d", e.Message.ID, want[i].Seq, e.Seq)
					}
				}
			},
			"ack": func(rt *rapid.T) {
				var known []uint64
				for _, e := range model {
					if e.Seq != 0 {
						known = append(known, e.Seq)
					}
				}
				var seqs []uint64
				if len(known) > 0 {
					seqs = rapid.SliceOfDistinct(rapid.SampledFrom(known), rapid.ID[uint64]).Draw(rt, "seqs")
				}
				if rapid.Bool().Draw(rt, "unknown") {
					seqs = append(seqs, lastSeq+1000)
				}
				if err := ob.Ack(seqs...); err != nil {
					rt.Fatal(err)
				}
				model = slices.DeleteFunc(model, func(e Entry) bool { return e.Seq != 0 && slices.Contains(seqs, e.Seq) })
			},
			"reopen": func(rt *rapid.T) {
				st = reopen(t, st)
				ob = newTestOutbox(t, st, max)
			},
			"": func(rt *rapid.T) {
				n, err := ob.Len()
				if err != nil || n != len(model) {
					rt.Fatalf("Len = %d, %v; want %d", n, err, len(model))
				}
			},
		})
	})
}
