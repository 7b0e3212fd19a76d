package agent

import (
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Poll times are never aligned to the clock or to each other: the first
// lies uniformly within one interval, later ones uniformly in [0.5, 1.5)
// intervals.
func TestPollDelay(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		interval := time.Duration(rapid.Int64Range(int64(time.Second), int64(24*time.Hour)).Draw(rt, "interval"))
		u := rapid.Float64Range(0, 1).Filter(func(f float64) bool { return f < 1 }).Draw(rt, "u")
		if d := pollDelay(interval, true, u); d < 0 || d >= interval {
			rt.Fatalf("first poll after %v, outside [0, %v)", d, interval)
		}
		if d := pollDelay(interval, false, u); d < interval/2 || d >= interval*3/2 {
			rt.Fatalf("poll after %v, outside [%v, %v)", d, interval/2, interval*3/2)
		}
	})
	// A fleet started together spreads its polls: 1,000 agents' first polls
	// fall in about 870 different seconds of an hour (uniform draws); an
	// aligned fleet would use one.
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for range 1000 {
		seen[pollDelay(time.Hour, true, rng.Float64()).Truncate(time.Second)] = true
	}
	if len(seen) < 800 {
		t.Errorf("1,000 first polls fell in %d distinct seconds", len(seen))
	}
}

// Back-off waits double from the first to the bound, each jittered into
// the upper half of its step, and start again after a reset.
func TestBackoff(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		first := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Minute)).Draw(rt, "first"))
		bound := first * time.Duration(rapid.Int64Range(1, 1000).Draw(rt, "factor"))
		u := rapid.Float64Range(0, 1).Filter(func(f float64) bool { return f < 1 }).Draw(rt, "u")
		b := &backoff{min: first, max: bound, rand: func() float64 { return u }}
		step := first
		for i := range rapid.IntRange(1, 40).Draw(rt, "steps") {
			if i > 0 {
				step = min(2*step, bound)
			}
			if d := b.next(); d < step/2 || d > step {
				rt.Fatalf("wait %d: %v, outside [%v, %v]", i, d, step/2, step)
			}
		}
		b.reset()
		if d := b.next(); d < first/2 || d > first {
			rt.Fatalf("after a reset: %v", d)
		}
	})
}
