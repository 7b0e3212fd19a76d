package delivery

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

// ReportResult says what Report did with a batch.
type ReportResult struct {
	// Accepted messages changed the device's status.
	Accepted int
	// Duplicates had an ID seen before (a device resending after a lost
	// reply); they change nothing.
	Duplicates int
	// Unknown messages were for advertisements that do not exist (any more);
	// they are dropped.
	Unknown int
}

// Report takes in a batch of status messages from one device. Intake is
// idempotent: a message whose ID the device already sent is counted as a
// duplicate and changes nothing, so a device may resend a batch whose reply
// it lost. Message IDs need only be unique per device; they are kept until
// the device is deleted. The batch is validated as a whole; messages are applied in time
// order to the device's status per advertisement (§4.2), and the device's
// execution history per program (§1.18: what rerun rules are checked
// against) follows its run results. Everything is written in one atomic
// Store write.
func (s *Site) Report(ctx context.Context, resourceID uint32, msgs []advertisement.Message) (ReportResult, error) {
	var res ReportResult
	err := s.commit(ctx, "Report", func(t *tx) error {
		res = ReportResult{}
		if _, ok := t.st.facts[resourceID]; !ok {
			return notFound("Report", "device "+deviceKey(resourceID))
		}
		var probs consign.Problems
		t.planReport(resourceID, msgs, "msgs", &res, &probs)
		return probs.Err()
	})
	return res, err
}

// DeviceReport is one device's batch of status messages in ReportMany.
type DeviceReport struct {
	ResourceID uint32
	Messages   []advertisement.Message
}

// ReportMany takes in the status message batches of many devices at once,
// as a management point forwards them: Report for each, validated as a
// whole (every problem named, reports[i].Messages[j]…) and written in one
// atomic Store write, so that high-volume intake costs one write, not one
// per device. A device may appear more than once; its batches are taken
// in order.
func (s *Site) ReportMany(ctx context.Context, reports []DeviceReport) (ReportResult, error) {
	var res ReportResult
	err := s.commit(ctx, "ReportMany", func(t *tx) error {
		res = ReportResult{}
		var probs consign.Problems
		// Merge each device's batches, so messages of one device are
		// applied together in time order.
		// A message's field names the first report of its device and its
		// position among that device's messages.
		byDevice := map[uint32][]advertisement.Message{}
		first := map[uint32]int{}
		var order []uint32
		for i, r := range reports {
			if _, ok := t.st.facts[r.ResourceID]; !ok {
				probs.AddValue(fmt.Sprintf("reports[%d].ResourceID", i), r.ResourceID, "must name a device of this site")
				continue
			}
			if _, seen := byDevice[r.ResourceID]; !seen {
				order = append(order, r.ResourceID)
				first[r.ResourceID] = i
			}
			byDevice[r.ResourceID] = append(byDevice[r.ResourceID], r.Messages...)
		}
		n := 0
		for _, r := range reports {
			n += len(r.Messages)
		}
		t.grow(n + n/4 + len(order)) // a record per message, statuses and histories
		for _, rid := range order {
			t.planReport(rid, byDevice[rid], fmt.Sprintf("reports[%d].Messages", first[rid]), &res, &probs)
		}
		return probs.Err()
	})
	return res, err
}

// planReport plans one device's status messages: validated (problems go
// to probs, under field), duplicates and unknown advertisements counted in
// res, the rest applied in time order to the device's statuses and
// execution history.
func (t *tx) planReport(resourceID uint32, msgs []advertisement.Message, field string, res *ReportResult, probs *consign.Problems) {
	batch := make([]advertisement.Message, 0, len(msgs))
	inBatch := make(map[string]bool, len(msgs))
	bad := probs.Len()
	for i, m := range msgs {
		if m.ResourceID == 0 {
			m.ResourceID = resourceID
		}
		if m.ResourceID != resourceID {
			probs.AddValue(fmt.Sprintf("%s[%d].ResourceID", field, i), m.ResourceID, fmt.Sprintf("must be the reporting device %d", resourceID))
			continue
		}
		if err := m.Validate(); err != nil {
			probs.Merge(prefixed(err, field, i))
			continue
		}
		if _, seen := t.st.received[resourceID][m.ID]; seen || inBatch[m.ID] {
			res.Duplicates++
			continue
		}
		inBatch[m.ID] = true
		a, ok := t.st.ads[m.AdvertisementID]
		if !ok {
			res.Unknown++
			continue
		}
		if m.RunFirst != nil && !t.runsFirst(a.ad, *m.RunFirst) {
			probs.AddValue(fmt.Sprintf("%s[%d].RunFirst", field, i), m.RunFirst.String(), "must be a program the advertised program runs first")
			continue
		}
		batch = append(batch, m)
	}
	if probs.Len() > bad {
		return
	}
	slices.SortStableFunc(batch, func(a, b advertisement.Message) int { return a.Time.Compare(b.Time) })
	statuses := make(map[consign.ObjectID]advertisement.ClientStatus)
	histories := make(map[pkg.ProgramRef]advertisement.History)
	device := deviceKey(resourceID)
	// One index map per advertisement: the Store copies what it keeps.
	idxOf := map[consign.ObjectID]map[string]string{}
	for _, m := range batch {
		a := t.st.ads[m.AdvertisementID]
		idx, ok := idxOf[m.AdvertisementID]
		if !ok {
			idx = map[string]string{"advertisement": string(m.AdvertisementID), "device": device}
			idxOf[m.AdvertisementID] = idx
		}
		if m.RunFirst != nil {
			// A program run first: its history only (§1.3).
			if succeeded, final := runOutcome(m.Event); final {
				recordRun(histories, t.st.history[resourceID], *m.RunFirst, m.Time, succeeded)
			}
			t.put(kindMessage, messageKey(resourceID, m.ID), idx, m)
			res.Accepted++
			continue
		}
		cs, ok := statuses[m.AdvertisementID]
		if !ok && a.statuses[resourceID] != nil {
			cs = *a.statuses[resourceID]
		}
		statuses[m.AdvertisementID] = cs.Apply(m)
		if succeeded, final := runOutcome(m.Event); final {
			recordRun(histories, t.st.history[resourceID], pkg.ProgramRef{PackageID: a.ad.PackageID, Program: a.ad.ProgramName}, m.Time, succeeded)
		}
		t.put(kindMessage, messageKey(resourceID, m.ID), idx, m)
		res.Accepted++
	}
	for _, id := range sortedKeys(statuses) {
		t.put(kindStatus, statusKey(id, resourceID), map[string]string{"advertisement": string(id)}, statuses[id])
	}
	for ref, h := range histories {
		t.put(kindHistory, historyKey(resourceID, ref), map[string]string{"device": device}, h)
	}
}

// recordRun notes a finished run of ref in the planned histories, unless an
// equal or later run is already known (messages may arrive out of order).
func recordRun(planned, stored map[pkg.ProgramRef]advertisement.History, ref pkg.ProgramRef, at time.Time, succeeded bool) {
	h, ok := planned[ref]
	if !ok {
		h = stored[ref]
	}
	if !h.Ran || !at.Before(h.LastRun) {
		planned[ref] = advertisement.History{Ran: true, LastRun: at, Succeeded: succeeded}
	}
}

// runOutcome reports whether an event ends a run of the program and, if
// so, whether the run succeeded: what execution history records (§3.2 4a).
// A restart still pending counts as success (§3.5: "No action required"
// with 3010 records success).
func runOutcome(e advertisement.Event) (succeeded, final bool) {
	switch e {
	case advertisement.EventSucceeded, advertisement.EventSucceededMIF, advertisement.EventRestartPending, advertisement.EventTSSucceeded:
		return true, true
	case advertisement.EventFailed, advertisement.EventFailedMIF, advertisement.EventContentHashMismatch,
		advertisement.EventExceededTime, advertisement.EventTSFailed:
		return false, true
	}
	return false, false
}

// runsFirst reports whether ref is on the "run another program first" chain
// of the advertisement's program.
func (t *tx) runsFirst(ad *advertisement.Advertisement, ref pkg.ProgramRef) bool {
	order, err := pkg.RunOrder(pkg.ProgramRef{PackageID: ad.PackageID, Program: ad.ProgramName}, t.lookupProgram, func(pkg.ProgramRef) bool { return false })
	return err == nil && slices.Contains(order[:len(order)-1], ref)
}

// Summary is an advertisement's status summary
// (SMS_ClientAdvertisementSummary and SMS_AdvertisementStatusSummarizer,
// §1.19). It is kept incrementally as status and membership change, never
// recomputed by scanning.
type Summary struct {
	AdvertisementID consign.ObjectID
	Name            string
	PackageID       consign.ObjectID
	ProgramName     string
	CollectionID    consign.ObjectID
	// Targeted is how many devices the advertisement reaches now.
	Targeted int
	// NotReported is how many targeted devices have sent no status yet.
	NotReported int
	// Counts partitions every device status received for the advertisement
	// (including devices that have since left the collection).
	Counts advertisement.Summary
}

// AdvertisementSummary returns the advertisement's summary.
func (s *Site) AdvertisementSummary(id consign.ObjectID) (Summary, error) {
	var out Summary
	err := s.read("AdvertisementSummary", func(st *state) error {
		a, ok := st.ads[id]
		if !ok {
			return notFound("AdvertisementSummary", "advertisement "+string(id))
		}
		out = Summary{
			AdvertisementID: id, Name: a.ad.Name, PackageID: a.ad.PackageID, ProgramName: a.ad.ProgramName,
			CollectionID: a.ad.CollectionID, Targeted: len(a.targeted), NotReported: len(a.targeted) - a.reported,
			Counts: a.summary,
		}
		out.Counts.Targeted = len(a.targeted)
		return nil
	})
	return out, err
}

// ClientStatus returns a device's status for an advertisement
// (SMS_ClientAdvertisementStatus); a device that never reported has the
// zero status (No Status on both tracks).
func (s *Site) ClientStatus(id consign.ObjectID, resourceID uint32) (advertisement.ClientStatus, error) {
	var out advertisement.ClientStatus
	err := s.read("ClientStatus", func(st *state) error {
		a, ok := st.ads[id]
		if !ok {
			return notFound("ClientStatus", "advertisement "+string(id))
		}
		if cs := a.statuses[resourceID]; cs != nil {
			out = *cs
		}
		return nil
	})
	return out, err
}
