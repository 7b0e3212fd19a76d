package schedule

import (
	"slices"
	"time"
)

// Span is a half-open time interval [Start, End).
type Span struct{ Start, End time.Time }

// Contains reports whether t is in [Start, End).
func (s Span) Contains(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// Duration returns End − Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Union merges overlapping or touching spans and sorts them by start: the
// effective maintenance windows of a device in several collections (§1.7,
// §3.6). Empty spans (End at or before Start) cover nothing and are dropped.
// The input is not modified.
func Union(spans []Span) []Span {
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		if s.Start.Before(s.End) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && !s.Start.After(merged[n-1].End) {
			if s.End.After(merged[n-1].End) {
				merged[n-1].End = s.End
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}
