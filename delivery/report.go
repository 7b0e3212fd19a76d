package delivery

import (
	"cmp"
	"context"
	"fmt"
	"slices"

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
// idempotent: a message whose ID the device recently sent for the same
// advertisement (the last 32, recentMessages) is counted as a duplicate and
// changes nothing, so a device may resend a batch whose reply it lost.
// Message IDs need only be unique per device. The batch is validated as a
// whole; messages are applied in time order to the device's status per
// advertisement (§4.2), and the device's execution history per program
// (§1.18: what rerun rules are checked against) follows its run results.
// Everything is written in one atomic Store write: one status record per
// advertisement the device reported on, which also carries the program runs
// its messages recorded.
func (s *Site) Report(ctx context.Context, resourceID uint32, msgs []advertisement.Message) (ReportResult, error) {
	var res ReportResult
	err := s.commit(ctx, "Report", func(t *tx) error {
		res = ReportResult{}
		if _, ok := t.st.facts[resourceID]; !ok {
			return notFound("Report", "device "+deviceKey(resourceID))
		}
		var probs consign.Problems
		t.planReport(resourceID, msgs, func(i int) string { return fmt.Sprintf("msgs[%d]", i) }, func(int) *ReportResult { return &res }, &probs)
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
// per device. The result for reports[i] is results[i]. A device may
// appear more than once; its batches are taken in order, together (a
// message resent in a later report of the same call counts there as a
// duplicate).
func (s *Site) ReportMany(ctx context.Context, reports []DeviceReport) (results []ReportResult, err error) {
	// Each device's batches are merged, so that messages of one device are
	// applied together in time order; from says where each merged message
	// came from.
	type origin struct{ report, pos int }
	type group struct {
		rid  uint32
		msgs []advertisement.Message
		from []origin // nil while the group is one whole report
		one  int      // that report
	}
	err = s.commit(ctx, "ReportMany", func(t *tx) error {
		results = make([]ReportResult, len(reports))
		var probs consign.Problems
		groups := make([]group, 0, len(reports))
		at := make(map[uint32]int, len(reports))
		for i, r := range reports {
			if _, ok := t.st.facts[r.ResourceID]; !ok {
				probs.AddValue(fmt.Sprintf("reports[%d].ResourceID", i), r.ResourceID, "must name a device of this site")
				continue
			}
			g, seen := at[r.ResourceID]
			if !seen {
				at[r.ResourceID] = len(groups)
				groups = append(groups, group{rid: r.ResourceID, msgs: r.Messages, one: i})
				continue
			}
			gr := &groups[g]
			if gr.from == nil {
				for j := range gr.msgs {
					gr.from = append(gr.from, origin{gr.one, j})
				}
			}
			for j := range r.Messages {
				gr.from = append(gr.from, origin{i, j})
			}
			// Clip: never append into the caller's array.
			gr.msgs = append(slices.Clip(gr.msgs), r.Messages...)
		}
		t.grow(len(groups)) // a status per device, typically
		for _, g := range groups {
			where := func(i int) origin {
				if g.from == nil {
					return origin{g.one, i}
				}
				return g.from[i]
			}
			t.planReport(g.rid, g.msgs,
				func(i int) string { o := where(i); return fmt.Sprintf("reports[%d].Messages[%d]", o.report, o.pos) },
				func(i int) *ReportResult { return &results[where(i).report] }, &probs)
		}
		return probs.Err()
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Total adds up ReportMany's results.
func Total(results []ReportResult) ReportResult {
	var t ReportResult
	for _, r := range results {
		t.Accepted += r.Accepted
		t.Duplicates += r.Duplicates
		t.Unknown += r.Unknown
	}
	return t
}

// planReport plans one device's status messages: validated (problems go
// to probs, message i's under field(i)), duplicates and unknown
// advertisements counted in res(i), the rest applied in time order to the
// device's statuses and execution history.
func (t *tx) planReport(resourceID uint32, msgs []advertisement.Message, field func(i int) string, res func(i int) *ReportResult, probs *consign.Problems) {
	type taken struct {
		m advertisement.Message
		a *adState
		i int // the message's index in msgs
	}
	batch := make([]taken, 0, len(msgs))
	bad := probs.Len()
	for i, m := range msgs {
		if m.ResourceID == 0 {
			m.ResourceID = resourceID
		}
		if m.ResourceID != resourceID {
			probs.AddValue(field(i)+".ResourceID", m.ResourceID, fmt.Sprintf("must be the reporting device %d", resourceID))
			continue
		}
		if err := m.Validate(); err != nil {
			probs.Merge(under(err, field(i)))
			continue
		}
		a, ok := t.st.ads[m.AdvertisementID]
		if !ok {
			res(i).Unknown++
			continue
		}
		if m.RunFirst != nil && !t.runsFirst(a.ad, *m.RunFirst) {
			probs.AddValue(field(i)+".RunFirst", m.RunFirst.String(), "must be a program the advertised program runs first")
			continue
		}
		if m.Step != nil && a.ts == nil {
			probs.Add(field(i)+".Step", "only on a task sequence advertisement")
			continue
		}
		batch = append(batch, taken{m, a, i})
	}
	if probs.Len() > bad {
		return
	}
	slices.SortStableFunc(batch, func(a, b taken) int { return a.m.Time.Compare(b.m.Time) })
	// The planned status of each advertisement reported on (a device's
	// batch is typically about one or two).
	type planned struct {
		a    *adState
		cs   clientState
		took bool // a message was taken in, not only duplicates
	}
	var statuses []planned
	for _, b := range batch {
		m := b.m
		j := slices.IndexFunc(statuses, func(p planned) bool { return p.a == b.a })
		if j < 0 {
			j = len(statuses)
			p := planned{a: b.a}
			if cs := b.a.statuses[resourceID]; cs != nil {
				p.cs = *cs
			}
			statuses = append(statuses, p)
		}
		p := &statuses[j]
		h := messageHash(m.ID)
		if p.cs.seen(h) {
			res(b.i).Duplicates++
			continue
		}
		p.cs.remember(h)
		p.took = true
		res(b.i).Accepted++
		ref := pkg.ProgramRef{PackageID: b.a.ad.PackageID, Program: b.a.ad.ProgramName}
		if m.RunFirst != nil {
			ref = *m.RunFirst // a program run first: its history only (§1.3)
		} else {
			p.cs.ClientStatus = p.cs.Apply(m)
			if b.a.ts != nil {
				// A task sequence's steps belong to the run its Started
				// message began (§1.10 per-step progress).
				switch {
				case m.Event == advertisement.EventStarted && m.Time.After(p.cs.tsRun):
					p.cs.tsRun, p.cs.steps = m.Time, nil
				case m.Step != nil && !m.Time.Before(p.cs.tsRun):
					p.cs.setStep(m)
				}
			}
		}
		if succeeded, final := m.Event.RunOutcome(); final {
			// A run is recorded unless an equal or later one is known
			// (messages may arrive out of order).
			h := t.st.history[resourceID][ref]
			if r, ok := p.cs.run(ref); ok && later(r, h) {
				h = r
			}
			if !h.Ran || !m.Time.Before(h.LastRun) {
				p.cs.setRun(ref, advertisement.History{Ran: true, LastRun: m.Time, Succeeded: succeeded})
			}
		}
	}
	slices.SortFunc(statuses, func(x, y planned) int { return cmp.Compare(x.a.order, y.a.order) })
	for i := range statuses {
		p := &statuses[i]
		if !p.took {
			continue
		}
		t.putData(kindStatus, statusKey(p.a.ad.ID, resourceID), nil, encodeStatus(&p.cs))
	}
}

// later reports whether a is a later run than b (or b never ran); of two
// runs at the same time, the one recorded later (a) wins, as it would
// have when applied in order.
func later(a, b advertisement.History) bool {
	return a.Ran && (!b.Ran || !a.LastRun.Before(b.LastRun))
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
			out = cs.ClientStatus
		}
		return nil
	})
	return out, err
}
