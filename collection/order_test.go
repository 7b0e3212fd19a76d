package collection

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consign/consign"
	"pgregory.net/rapid"
)

// checkOrder checks the Engine's limiting order: every collection once, its
// position recorded, after every collection its rules limit to, and the
// reverse links (users) matching the limits.
func checkOrder(t interface {
	Helper()
	Fatalf(string, ...any)
}, e *Engine) {
	t.Helper()
	if len(e.order) != len(e.byID) {
		t.Fatalf("order has %d collections, the Engine %d", len(e.order), len(e.byID))
	}
	for i, x := range e.order {
		if e.byID[x.c.ID] != x || x.pos != i {
			t.Fatalf("order[%d] = %s at pos %d", i, x.c.ID, x.pos)
		}
		for _, l := range x.limits {
			if l.pos >= x.pos {
				t.Fatalf("%s (at %d) is limited to %s (at %d), placed after it", x.c.ID, x.pos, l.c.ID, l.pos)
			}
			if !slices.Contains(l.users, x) {
				t.Fatalf("%s limits %s but is not among its users", l.c.ID, x.c.ID)
			}
		}
		for _, u := range x.users {
			if !slices.Contains(u.limits, x) {
				t.Fatalf("%s lists user %s, which does not limit to it", x.c.ID, u.c.ID)
			}
		}
	}
}

// TestOrderFollowsLimits replaces and removes collections with random limits
// and checks the limiting order after every call.
func TestOrderFollowsLimits(t *testing.T) {
	ids := []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003", "CEN00004", "CEN00005", "CEN00006"}
	rapid.Check(t, func(t *rapid.T) {
		e := NewEngine(nil)
		for range 40 {
			id := rapid.SampledFrom(ids).Draw(t, "id")
			if rapid.IntRange(0, 4).Draw(t, "remove") == 0 {
				if _, err := e.RemoveCollection(id); err != nil && !errors.Is(err, consign.ErrNotFound) && !errors.Is(err, consign.ErrFailedPrecondition) {
					t.Fatalf("RemoveCollection: %v", err)
				}
			} else {
				c := NewCollection(id, string(id), evalNow)
				for i := range rapid.IntRange(0, 3).Draw(t, "rules") {
					limit := rapid.SampledFrom(append(ids, AllSystemsID)).Draw(t, "limit")
					c.QueryRules = append(c.QueryRules, QueryRule{RuleName: fmt.Sprint("r", i),
						Query: "select * from SMS_R_System", LimitToCollectionID: limit})
				}
				if _, err := e.PutCollection(c, evalNow); err != nil && !errors.Is(err, consign.ErrInvalid) {
					t.Fatalf("PutCollection: %v", err)
				}
			}
			checkOrder(t, e)
		}
	})
}

// TestManyCollections puts thousands of collections one by one, each
// limited to an earlier one, as a site that creates them by script does; the
// order must stay valid without re-sorting them all on every put (which made
// this quadratic).
func TestManyCollections(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	e := NewEngine(nil)
	start := time.Now()
	for i := range n {
		c := NewCollection(consign.NewObjectID("CEN", uint32(i+1)), fmt.Sprint("C", i), evalNow)
		if i > 0 {
			c.QueryRules = []QueryRule{{RuleName: "r", Query: "select * from SMS_R_System",
				LimitToCollectionID: consign.NewObjectID("CEN", uint32(i/2+1))}}
		}
		if _, err := e.PutCollection(c, evalNow); err != nil {
			t.Fatal(err)
		}
	}
	// One more, unlimited, placed last; then make CEN00002, which nearly
	// every other collection descends from, limit to it: CEN00002 and its
	// dependents move after it.
	last := consign.NewObjectID("CEN", uint32(n+1))
	if _, err := e.PutCollection(NewCollection(last, "last", evalNow), evalNow); err != nil {
		t.Fatal(err)
	}
	c := NewCollection(consign.NewObjectID("CEN", 2), "C1", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "r", Query: "select * from SMS_R_System", LimitToCollectionID: last}}
	if _, err := e.PutCollection(c, evalNow); err != nil {
		t.Fatal(err)
	}
	c = NewCollection(last, "last", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "r", Query: "select * from SMS_R_System", LimitToCollectionID: consign.NewObjectID("CEN", uint32(n))}}
	if _, err := e.PutCollection(c, evalNow); err == nil {
		t.Fatal("a loop through CEN00002 was accepted")
	}
	checkOrder(t, e)
	t.Logf("%d collections put in %v", n, time.Since(start))
}
