package memstore

import (
	"cmp"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestOrdered checks the chunked set against a plain sorted slice, with
// range inserts and removes large enough to split and merge chunks.
func TestOrdered(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := newOrdered(cmp.Compare[int])
		var want []int // sorted, distinct
		add := func(v int) {
			o.insert(v)
			if i, found := slices.BinarySearch(want, v); !found {
				want = slices.Insert(want, i, v)
			}
		}
		drop := func(v int) {
			o.remove(v)
			if i, found := slices.BinarySearch(want, v); found {
				want = slices.Delete(want, i, i+1)
			}
		}
		span := func(t *rapid.T) (lo, n, step int) {
			return rapid.IntRange(0, 3000).Draw(t, "lo"), rapid.IntRange(1, 2*maxChunk).Draw(t, "n"), rapid.IntRange(1, 3).Draw(t, "step")
		}
		t.Repeat(map[string]func(*rapid.T){
			"insert": func(t *rapid.T) { add(rapid.IntRange(0, 3000).Draw(t, "v")) },
			"remove": func(t *rapid.T) { drop(rapid.IntRange(0, 3000).Draw(t, "v")) },
			"insertRange": func(t *rapid.T) {
				lo, n, step := span(t)
				for v := lo; v < lo+n*step; v += step {
					add(v)
				}
			},
			"removeRange": func(t *rapid.T) {
				lo, n, step := span(t)
				for v := lo; v < lo+n*step; v += step {
					drop(v)
				}
			},
			"from": func(t *rapid.T) {
				after := rapid.IntRange(-1, 3001).Draw(t, "after")
				got := slices.Collect(o.from(func(v int) bool { return v > after }))
				i, found := slices.BinarySearch(want, after)
				if found {
					i++
				}
				if !slices.Equal(got, want[i:]) {
					t.Fatalf("from(> %d) yields %d elements; want %d", after, len(got), len(want[i:]))
				}
			},
			"": func(t *rapid.T) {
				var all []int
				for i, c := range o.chunks {
					if len(c) == 0 || len(c) > maxChunk {
						t.Fatalf("chunk %d holds %d elements; want 1 to %d", i, len(c), maxChunk)
					}
					all = append(all, c...)
				}
				if !slices.Equal(all, want) {
					t.Fatalf("set holds %d elements %v…; want %d", len(all), all[:min(len(all), 10)], len(want))
				}
				if o.empty() != (len(want) == 0) {
					t.Fatalf("empty() = %v with %d elements", o.empty(), len(want))
				}
			},
		})
	})
}
