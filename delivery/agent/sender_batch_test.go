package agent

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
)

// A batch is the longest prefix of the outbox within both bounds.
func TestBatchOf(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ids := []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003"}
		n := rapid.IntRange(0, 300).Draw(rt, "n")
		entries := make([]Entry, n)
		for i := range entries {
			entries[i] = Entry{Seq: uint64(i + 1), Message: advertisement.Message{
				AdvertisementID: rapid.SampledFrom(ids).Draw(rt, "ad")}}
		}
		batch := batchOf(entries)
		if len(batch) > MaxReportBatch {
			rt.Fatalf("%d messages", len(batch))
		}
		per := map[consign.ObjectID]int{}
		for i, e := range batch {
			if e.Seq != entries[i].Seq {
				rt.Fatalf("not a prefix at %d", i)
			}
			per[e.Message.AdvertisementID]++
			if per[e.Message.AdvertisementID] > MaxBatchPerAdvertisement {
				rt.Fatalf("%d messages about %s", per[e.Message.AdvertisementID], e.Message.AdvertisementID)
			}
		}
		if len(batch) < len(entries) && len(batch) < MaxReportBatch &&
			per[entries[len(batch)].Message.AdvertisementID] < MaxBatchPerAdvertisement {
			rt.Fatalf("stopped at %d with room for the next message", len(batch))
		}
		if n > 0 && len(batch) == 0 {
			rt.Fatal("an empty batch from a non-empty outbox")
		}
	})
}
