package memstore

import (
	"iter"
	"slices"
	"sort"
)

// maxChunk bounds a chunk of an ordered set. Inserting or deleting moves at
// most this many elements; splitting a chunk moves a slice of chunk headers
// (n/maxChunk of them), which stays small even for millions of elements.
const maxChunk = 256

// ordered is a sorted set kept as a list of sorted, non-empty chunks, the
// shape of a one-level B+tree: finding a position is two binary searches,
// O(log n), and iterating from there costs O(1) per element. It is what
// lets List and Changes page through hundreds of thousands of records
// without sorting anything per call.
type ordered[T any] struct {
	cmp    func(a, b T) int
	chunks [][]T
}

func newOrdered[T any](cmp func(a, b T) int) *ordered[T] {
	return &ordered[T]{cmp: cmp}
}

// search returns the position of the first element for which from is true;
// from must be false and then true along the set's order.
func (o *ordered[T]) search(from func(T) bool) (chunk, i int) {
	chunk = sort.Search(len(o.chunks), func(j int) bool {
		c := o.chunks[j]
		return from(c[len(c)-1])
	})
	if chunk < len(o.chunks) {
		c := o.chunks[chunk]
		i = sort.Search(len(c), func(j int) bool { return from(c[j]) })
	}
	return chunk, i
}

// find returns where v is or would be inserted, and whether it is there.
func (o *ordered[T]) find(v T) (chunk, i int, found bool) {
	chunk, i = o.search(func(e T) bool { return o.cmp(e, v) >= 0 })
	found = chunk < len(o.chunks) && o.cmp(o.chunks[chunk][i], v) == 0
	return chunk, i, found
}

// insert adds v unless an equal element is already there.
func (o *ordered[T]) insert(v T) {
	chunk, i, found := o.find(v)
	switch {
	case found:
		return
	case len(o.chunks) == 0:
		o.chunks = [][]T{{v}}
		return
	case chunk == len(o.chunks): // past the end: append to the last chunk
		chunk--
		i = len(o.chunks[chunk])
	}
	c := slices.Insert(o.chunks[chunk], i, v)
	if len(c) <= maxChunk {
		o.chunks[chunk] = c
		return
	}
	half := len(c) / 2
	right := slices.Clone(c[half:])
	clear(c[half:]) // drop references the left half no longer uses
	o.chunks[chunk] = c[:half]
	o.chunks = slices.Insert(o.chunks, chunk+1, right)
}

// remove deletes the element equal to v, if any.
func (o *ordered[T]) remove(v T) {
	chunk, i, found := o.find(v)
	if !found {
		return
	}
	c := slices.Delete(o.chunks[chunk], i, i+1)
	// Merge a chunk that has run low into its successor so that deletes
	// cannot leave a long list of tiny chunks behind.
	if next := chunk + 1; len(c) < maxChunk/4 && next < len(o.chunks) && len(c)+len(o.chunks[next]) <= maxChunk {
		c = append(c, o.chunks[next]...)
		o.chunks = slices.Delete(o.chunks, next, next+1)
	}
	if len(c) == 0 {
		o.chunks = slices.Delete(o.chunks, chunk, chunk+1)
		return
	}
	o.chunks[chunk] = c
}

// empty reports whether the set has no elements.
func (o *ordered[T]) empty() bool { return len(o.chunks) == 0 }

// from yields, in order, the elements from the first one for which from is
// true (see search).
func (o *ordered[T]) from(from func(T) bool) iter.Seq[T] {
	return func(yield func(T) bool) {
		chunk, i := o.search(from)
		for ; chunk < len(o.chunks); chunk, i = chunk+1, 0 {
			for _, v := range o.chunks[chunk][i:] {
				if !yield(v) {
					return
				}
			}
		}
	}
}
