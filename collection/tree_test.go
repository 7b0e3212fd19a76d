package collection

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/consign/consign"
	"pgregory.net/rapid"
)

func TestTreeLinkRejectsCycles(t *testing.T) {
	var tr Tree
	for _, l := range [][2]consign.ObjectID{{RootID, "ABC00001"}, {"ABC00001", "ABC00002"}, {"ABC00002", "ABC00003"}, {RootID, "ABC00003"}} {
		if err := tr.Link(l[0], l[1]); err != nil {
			t.Fatalf("Link(%s, %s): %v", l[0], l[1], err)
		}
	}
	err := tr.Link("ABC00003", "ABC00001")
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("cycle: got %v, want a ValidationError", err)
	}
	if want := "ABC00001 → ABC00002 → ABC00003 → ABC00001"; !strings.Contains(ve.Rule, want) {
		t.Errorf("cycle rule %q does not name %q", ve.Rule, want)
	}
	if err := tr.Link("ABC00001", "ABC00001"); err == nil {
		t.Error("self link accepted")
	}
	if err := tr.Link("ABC00001", RootID); err == nil {
		t.Error("COLLROOT accepted as a child")
	}
	if err := tr.Link("nope", "ABC00001"); err == nil {
		t.Error("malformed parent accepted")
	}
	// A linked subcollection appears under several parents.
	if got := tr.Parents("ABC00003"); !slices.Equal(got, []consign.ObjectID{"ABC00002", RootID}) {
		t.Errorf("Parents(ABC00003) = %v", got)
	}
	tr.Remove("ABC00002")
	if got := tr.Descendants(RootID); !slices.Equal(got, []consign.ObjectID{"ABC00001", "ABC00003"}) {
		t.Errorf("after Remove, Descendants(COLLROOT) = %v", got)
	}
	if got := tr.Children("ABC00001"); len(got) != 0 {
		t.Errorf("after Remove, Children(ABC00001) = %v", got)
	}
}

// TestTreeProperties checks, over random link, unlink and remove sequences,
// that a Tree matches a plain edge set: a link is refused exactly when it would
// close a cycle, no collection is ever its own descendant, and Descendants is
// the transitive closure of Children.
func TestTreeProperties(t *testing.T) {
	nodes := []consign.ObjectID{RootID, "ABC00001", "ABC00002", "ABC00003", "ABC00004", "ABC00005", "ABC00006"}
	rapid.Check(t, func(t *rapid.T) {
		var tr Tree
		edges := map[[2]consign.ObjectID]bool{}
		reach := func(from, to consign.ObjectID) bool { // brute force over the model
			seen := map[consign.ObjectID]bool{from: true}
			for changed := true; changed; {
				changed = false
				for e := range edges {
					if seen[e[0]] && !seen[e[1]] {
						seen[e[1]] = true
						changed = true
					}
				}
			}
			return seen[to]
		}
		for range rapid.IntRange(1, 40).Draw(t, "ops") {
			p := rapid.SampledFrom(nodes).Draw(t, "parent")
			c := rapid.SampledFrom(nodes[1:]).Draw(t, "child")
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0:
				tr.Unlink(p, c)
				delete(edges, [2]consign.ObjectID{p, c})
			case 1:
				tr.Remove(c)
				for e := range edges {
					if e[0] == c || e[1] == c {
						delete(edges, e)
					}
				}
			default:
				err := tr.Link(p, c)
				if wantErr := reach(c, p); wantErr != (err != nil) {
					t.Fatalf("Link(%s, %s) = %v, cycle expected: %v", p, c, err, wantErr)
				}
				if err == nil {
					edges[[2]consign.ObjectID{p, c}] = true
				}
			}
			for _, n := range nodes {
				var want []consign.ObjectID
				for _, m := range nodes {
					if m != n && reach(n, m) {
						want = append(want, m)
					}
				}
				slices.Sort(want)
				got := tr.Descendants(n)
				if !slices.Equal(got, want) {
					t.Fatalf("Descendants(%s) = %v, want %v", n, got, want)
				}
				if slices.Contains(got, n) {
					t.Fatalf("%s is its own descendant", n)
				}
				for _, c := range tr.Children(n) {
					if !edges[[2]consign.ObjectID{n, c}] || !slices.Contains(tr.Parents(c), n) {
						t.Fatalf("link %s→%s not in the model or not mirrored in Parents", n, c)
					}
				}
			}
		}
	})
}
