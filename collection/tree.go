package collection

import (
	"slices"
	"strings"

	"github.com/consign/consign"
)

// Tree is the console's organisational hierarchy of collections, the
// SMS_CollectToSubCollect(parentCollectionID, subCollectionID) links rooted at
// RootID (§1.6, S-COLL). A collection may be linked under several parents
// (a linked subcollection) and keeps its own rules wherever it appears: a
// subcollection inherits neither membership nor maintenance windows from its
// parents. Cycles are rejected.
//
// Deleting a collection with its dependent subcollections is the caller's
// decision: Descendants lists them, Parents tells whether one is also linked
// elsewhere.
//
// The zero value is an empty tree, ready to use. A Tree is not safe for
// concurrent use.
type Tree struct {
	children map[consign.ObjectID][]consign.ObjectID // sorted
	parents  map[consign.ObjectID][]consign.ObjectID // sorted
}

// Link places child under parent. parent is RootID or a collection ID; child
// is a collection ID. Linking an existing pair again does nothing. A link that
// would make a collection its own descendant is rejected with a
// *consign.ValidationError naming the cycle.
func (t *Tree) Link(parent, child consign.ObjectID) error {
	var p consign.Problems
	if parent != RootID {
		if err := parent.Validate(); err != nil {
			p.AddValue("Tree.Link.Parent", string(parent), "COLLROOT or a collection ID")
		}
	}
	if err := child.Validate(); err != nil {
		p.AddValue("Tree.Link.Child", string(child), "a collection ID")
	}
	if err := p.Err(); err != nil {
		return err
	}
	if path := t.path(child, parent); path != nil {
		names := make([]string, 0, len(path)+1)
		for _, id := range path {
			names = append(names, string(id))
		}
		names = append(names, string(child))
		return &consign.ValidationError{Field: "Tree.Link", Rule: "must not form a cycle: " + strings.Join(names, " → ")}
	}
	if t.children == nil {
		t.children = make(map[consign.ObjectID][]consign.ObjectID)
		t.parents = make(map[consign.ObjectID][]consign.ObjectID)
	}
	t.children[parent] = insertSorted(t.children[parent], child)
	t.parents[child] = insertSorted(t.parents[child], parent)
	return nil
}

// Unlink removes the link between parent and child, if there is one.
func (t *Tree) Unlink(parent, child consign.ObjectID) {
	if t.children == nil {
		return
	}
	t.children[parent] = deleteSorted(t.children[parent], child)
	t.parents[child] = deleteSorted(t.parents[child], parent)
	t.prune(parent)
	t.prune(child)
}

// Remove drops id and every link to or from it. Its former children stay in
// the tree under their other parents, or unreachable from RootID (invisible
// in the console, as in ConfigMgr) if they had none.
func (t *Tree) Remove(id consign.ObjectID) {
	for _, c := range t.children[id] {
		t.parents[c] = deleteSorted(t.parents[c], id)
		t.prune(c)
	}
	for _, p := range t.parents[id] {
		t.children[p] = deleteSorted(t.children[p], id)
		t.prune(p)
	}
	delete(t.children, id)
	delete(t.parents, id)
}

// Children returns the collections linked directly under id, sorted.
func (t *Tree) Children(id consign.ObjectID) []consign.ObjectID {
	return slices.Clone(t.children[id])
}

// Parents returns the collections (or RootID) id is linked under, sorted.
func (t *Tree) Parents(id consign.ObjectID) []consign.ObjectID {
	return slices.Clone(t.parents[id])
}

// Descendants returns every collection below id, each once, sorted; id itself
// is not included.
func (t *Tree) Descendants(id consign.ObjectID) []consign.ObjectID {
	seen := map[consign.ObjectID]bool{id: true}
	var out []consign.ObjectID
	queue := []consign.ObjectID{id}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range t.children[n] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// path returns the IDs from "from" down to "to" (both included) when "to" is
// from itself or one of its descendants, and nil otherwise.
func (t *Tree) path(from, to consign.ObjectID) []consign.ObjectID {
	if from == to {
		return []consign.ObjectID{from}
	}
	prev := map[consign.ObjectID]consign.ObjectID{}
	queue := []consign.ObjectID{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range t.children[n] {
			if _, ok := prev[c]; ok || c == from {
				continue
			}
			prev[c] = n
			if c == to {
				out := []consign.ObjectID{to}
				for x := to; x != from; {
					x = prev[x]
					out = append(out, x)
				}
				slices.Reverse(out)
				return out
			}
			queue = append(queue, c)
		}
	}
	return nil
}

// prune drops empty entries so a Tree's size follows its links.
func (t *Tree) prune(id consign.ObjectID) {
	if len(t.children[id]) == 0 {
		delete(t.children, id)
	}
	if len(t.parents[id]) == 0 {
		delete(t.parents, id)
	}
}

func insertSorted[T interface{ ~string | ~uint32 | ~int32 }](s []T, v T) []T {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

func deleteSorted[T interface{ ~string | ~uint32 | ~int32 }](s []T, v T) []T {
	i, found := slices.BinarySearch(s, v)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}
