package advertisement_test

import (
	"testing"

	"github.com/consign/consign/advertisement"
	"pgregory.net/rapid"
)

var genStatus = rapid.Custom(func(t *rapid.T) advertisement.ClientStatus {
	return advertisement.ClientStatus{
		Acceptance: advertisement.AcceptanceState(rapid.IntRange(-2, 4).Draw(t, "acceptance")),
		Delivery:   advertisement.DeliveryState(rapid.SampledFrom([]int{0, 0, 0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}).Draw(t, "delivery")),
	}
})

func counters(s advertisement.Summary) []int {
	return []int{s.NoStatus, s.Accepted, s.Rejected, s.Expired, s.WillNotRerun, s.Downloading, s.Waiting,
		s.Running, s.Retrying, s.RebootPending, s.Succeeded, s.Failed, s.Cancelled}
}

// Property 6: under any sequence of Add and Remove (of statuses added
// before), the counters sum to the statuses held, none is negative, and the
// incremental summary equals one recounted from scratch.
func TestSummaryIncremental(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var sum advertisement.Summary
		var held []advertisement.ClientStatus
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			if len(held) > 0 && rapid.Bool().Draw(t, "remove") {
				i := rapid.IntRange(0, len(held)-1).Draw(t, "which")
				sum.Remove(held[i])
				held = append(held[:i], held[i+1:]...)
			} else {
				cs := genStatus.Draw(t, "status")
				sum.Add(cs)
				held = append(held, cs)
			}
			total := 0
			for _, n := range counters(sum) {
				if n < 0 {
					t.Fatalf("negative counter: %+v", sum)
				}
				total += n
			}
			if total != len(held) || sum.Targeted != 0 {
				t.Fatalf("counters sum to %d, holding %d: %+v", total, len(held), sum)
			}
		}
		var full advertisement.Summary
		for _, cs := range held {
			full.Add(cs)
		}
		if full != sum {
			t.Fatalf("incremental %+v, recounted %+v", sum, full)
		}
	})
}

func TestSummaryPartition(t *testing.T) {
	cases := []struct {
		cs   advertisement.ClientStatus
		want func(s advertisement.Summary) int
	}{
		{advertisement.ClientStatus{}, func(s advertisement.Summary) int { return s.NoStatus }},
		{replay(advertisement.EventReceived), func(s advertisement.Summary) int { return s.Accepted }},
		{replay(advertisement.EventProgramReceived), func(s advertisement.Summary) int { return s.Accepted }},
		{replay(advertisement.EventRejected), func(s advertisement.Summary) int { return s.Rejected }},
		{replay(advertisement.EventReceived, advertisement.EventExpired), func(s advertisement.Summary) int { return s.Expired }},
		{replay(advertisement.EventWillNotRerun), func(s advertisement.Summary) int { return s.WillNotRerun }},
		{replay(advertisement.EventDownloadStarted), func(s advertisement.Summary) int { return s.Downloading }},
		{replay(advertisement.EventDownloadComplete), func(s advertisement.Summary) int { return s.Waiting }},
		{replay(advertisement.EventWaitingForWindow), func(s advertisement.Summary) int { return s.Waiting }},
		{replay(advertisement.EventStarted), func(s advertisement.Summary) int { return s.Running }},
		{replay(advertisement.EventRetrying), func(s advertisement.Summary) int { return s.Retrying }},
		{replay(advertisement.EventRestartPending), func(s advertisement.Summary) int { return s.RebootPending }},
		{replay(advertisement.EventSucceeded, advertisement.EventExpired), func(s advertisement.Summary) int { return s.Succeeded }},
		{replay(advertisement.EventFailed), func(s advertisement.Summary) int { return s.Failed }},
		{replay(advertisement.EventCancelled), func(s advertisement.Summary) int { return s.Cancelled }},
	}
	for _, c := range cases {
		var s advertisement.Summary
		s.Add(c.cs)
		if c.want(s) != 1 {
			t.Errorf("%v/%v counted as %+v", c.cs.Acceptance, c.cs.Delivery, s)
		}
	}
}
