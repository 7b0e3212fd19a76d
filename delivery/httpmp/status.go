package httpmp

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery"
	pkg "github.com/consign/consign/package"
)

// Status intake coalesces the uploads of concurrent devices into one
// Site.ReportMany — one atomic Store write for many devices — the way a
// management point forwards status to the site server in bulk. Each
// caller still gets its own counts and its own validation errors:
//
//   - Every upload is validated on its own before it joins a batch, so a
//     bad upload is refused (400) without touching anyone else's.
//   - A batch holds at most one upload per device, and an upload that
//     resends a message this Server recently took in is not batched but
//     reported on its own (Site.Report), so its duplicates are counted
//     exactly. Then each upload's counts in a batch are known in advance
//     (unknown advertisements and repeats within the upload are counted
//     before the batch), and the batch's totals confirm them.
//   - When the totals disagree (a resend this Server did not see the
//     first copy of: after a restart, or through another management
//     point), the totals are still exact and the difference is assigned
//     to the uploads in order; the upload is taken in either way.
//   - When the batch fails validation anyway (a device deleted meanwhile,
//     say), each upload is reported on its own, so only the bad one
//     fails.

// Batching limits: how long the first upload of a batch waits for others,
// and how many devices a batch holds.
const (
	batchDelay   = 2 * time.Millisecond
	batchDevices = 1000
	// batchTimeout bounds a batch's commit, which runs detached from the
	// request that happened to lead it.
	batchTimeout = time.Minute
)

// statusJob is one upload on its way to the Site.
type statusJob struct {
	rid  uint32
	msgs []advertisement.Message
	// pred is what the upload should do if none of its messages was seen
	// before; keys are its messages for known advertisements, to remember
	// once taken in.
	pred delivery.ReportResult
	keys []recentKey
	// res and err are the outcome, set before the batch's done is closed.
	res delivery.ReportResult
	err error
}

// statusBatch is a batch being collected or committed.
type statusBatch struct {
	jobs    []*statusJob
	devices map[uint32]struct{}
	full    chan struct{} // closed when the batch reaches batchDevices
	done    chan struct{} // closed when every job has its outcome
}

// batcher collects concurrent uploads. There is no background goroutine:
// the first upload of a batch leads it — waits batchDelay (or until the
// batch is full), then commits it for everyone.
type batcher struct {
	mu    sync.Mutex
	open  *statusBatch
	delay time.Duration
	max   int
}

// submit adds job to a batch and returns when its outcome is set, or with
// ctx.Err() when ctx ends first (the batch is committed anyway).
func (s *Server) submit(ctx context.Context, job *statusJob) error {
	b := &s.batch
	for {
		b.mu.Lock()
		cur := b.open
		if cur == nil {
			break // lead a new batch; b.mu still held
		}
		if _, dup := cur.devices[job.rid]; dup {
			// One upload per device per batch: wait for this one to end.
			b.mu.Unlock()
			select {
			case <-cur.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cur.jobs = append(cur.jobs, job)
		cur.devices[job.rid] = struct{}{}
		if len(cur.jobs) >= b.max {
			close(cur.full)
			b.open = nil
		}
		b.mu.Unlock()
		select {
		case <-cur.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur := &statusBatch{jobs: []*statusJob{job}, devices: map[uint32]struct{}{job.rid: {}},
		full: make(chan struct{}), done: make(chan struct{})}
	if b.max > 1 {
		b.open = cur
	}
	b.mu.Unlock()
	if b.max > 1 {
		t := time.NewTimer(b.delay)
		select {
		case <-t.C:
		case <-cur.full:
		}
		t.Stop()
		b.mu.Lock()
		if b.open == cur {
			b.open = nil
		}
		b.mu.Unlock()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	s.commitBatch(cctx, cur.jobs)
	cancel()
	close(cur.done)
	return nil
}

// commitBatch reports the jobs' messages and sets each job's outcome.
func (s *Server) commitBatch(ctx context.Context, jobs []*statusJob) {
	if len(jobs) == 1 {
		s.reportAlone(ctx, jobs[0])
		return
	}
	reports := make([]delivery.DeviceReport, len(jobs))
	for i, j := range jobs {
		reports[i] = delivery.DeviceReport{ResourceID: j.rid, Messages: j.msgs}
	}
	total, err := s.site.ReportMany(ctx, reports)
	switch {
	case errors.Is(err, consign.ErrInvalid):
		s.log.Debug("httpmp: a status batch failed validation; reporting each upload on its own", "uploads", len(jobs), "err", err)
		for _, j := range jobs {
			s.reportAlone(ctx, j)
		}
		return
	case err != nil:
		for _, j := range jobs {
			j.err = err
		}
		return
	}
	var pred delivery.ReportResult
	for _, j := range jobs {
		j.res = j.pred
		pred.Accepted += j.pred.Accepted
		pred.Duplicates += j.pred.Duplicates
		pred.Unknown += j.pred.Unknown
		s.recent.add(j.keys)
	}
	if pred != total {
		s.log.Debug("httpmp: status batch counts differ from the prediction; per-upload counts are approximate",
			"uploads", len(jobs), "predicted", pred, "actual", total)
		attribute(jobs, pred, total)
	}
}

// reportAlone reports one job's messages with Site.Report: exact counts.
func (s *Server) reportAlone(ctx context.Context, j *statusJob) {
	j.res, j.err = s.site.Report(ctx, j.rid, j.msgs)
	if j.err == nil {
		s.recent.add(j.keys)
	}
}

// attribute moves the difference between the predicted and the actual
// totals between the jobs' counts, in job order, so that the jobs' counts
// add up to the actual totals and each job's counts still add up to its
// number of messages.
func attribute(jobs []*statusJob, pred, total delivery.ReportResult) {
	move := func(d int, from, to func(*delivery.ReportResult) *int) {
		for _, j := range jobs {
			if d == 0 {
				return
			}
			m := min(d, *from(&j.res))
			*from(&j.res) -= m
			*to(&j.res) += m
			d -= m
		}
	}
	acc := func(r *delivery.ReportResult) *int { return &r.Accepted }
	dup := func(r *delivery.ReportResult) *int { return &r.Duplicates }
	unk := func(r *delivery.ReportResult) *int { return &r.Unknown }
	if d := total.Unknown - pred.Unknown; d > 0 {
		move(d, acc, unk)
	} else if d < 0 {
		move(-d, unk, acc)
	}
	if d := total.Duplicates - pred.Duplicates; d > 0 {
		move(d, acc, dup)
	} else if d < 0 {
		move(-d, dup, acc)
	}
}

// prepareStatus validates a device's upload on its own and predicts its
// counts. A message for another device is refused (403); other problems
// are *consign.ValidationError values with wire field names
// ("messages[3].Event").
func (s *Server) prepareStatus(rid uint32, msgs []advertisement.Message) (*statusJob, error) {
	job := &statusJob{rid: rid, msgs: make([]advertisement.Message, len(msgs))}
	var probs consign.Problems
	ads := make(map[consign.ObjectID]*advertisement.Advertisement)
	type idKey struct {
		ad consign.ObjectID
		id string
	}
	seen := make(map[idKey]struct{}, len(msgs))
	for i, m := range msgs {
		field := fmt.Sprintf("messages[%d]", i)
		if m.ResourceID != 0 && m.ResourceID != rid {
			return nil, forbidden(field+".ResourceID", fmt.Sprintf("%s.ResourceID is %d: a device reports only its own status (%d)", field, m.ResourceID, rid))
		}
		m.ResourceID = rid
		job.msgs[i] = m
		if err := m.Validate(); err != nil {
			for _, ve := range validationErrors(err) {
				probs.AddValue(field+"."+strings.TrimPrefix(ve.Field, "Message."), ve.Value, ve.Rule)
			}
			continue
		}
		ad, looked := ads[m.AdvertisementID]
		if !looked {
			ad, _ = s.site.Advertisement(m.AdvertisementID)
			ads[m.AdvertisementID] = ad
		}
		if ad == nil {
			job.pred.Unknown++
			continue
		}
		if m.RunFirst != nil && !s.runsFirst(ad, *m.RunFirst) {
			probs.AddValue(field+".RunFirst", m.RunFirst.String(), "must be a program the advertised program runs first")
			continue
		}
		k := idKey{ad.ID, m.ID}
		if _, dup := seen[k]; dup {
			job.pred.Duplicates++
			continue
		}
		seen[k] = struct{}{}
		job.pred.Accepted++
		job.keys = append(job.keys, s.recent.key(rid, ad.ID, m.ID))
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return job, nil
}

// runsFirst reports whether ref is on the "run another program first"
// chain of the advertisement's program (what the Site checks too).
func (s *Server) runsFirst(ad *advertisement.Advertisement, ref pkg.ProgramRef) bool {
	order, err := pkg.RunOrder(pkg.ProgramRef{PackageID: ad.PackageID, Program: ad.ProgramName},
		func(r pkg.ProgramRef) (*pkg.Program, bool) {
			p, err := s.site.Program(r)
			return p, err == nil
		}, func(pkg.ProgramRef) bool { return false })
	return err == nil && slices.Contains(order[:len(order)-1], ref)
}

// siteMsgField matches the field paths Site.Report gives its messages
// ("msgs[3].Message.Event", "msgs[3].RunFirst").
var siteMsgField = regexp.MustCompile(`^msgs\[(\d+)\]\.(?:Message\.)?`)

// statusField renames a Site.Report field path to the wire's.
func statusField(f string) string {
	return siteMsgField.ReplaceAllString(f, "messages[$1].")
}

// recentKey is a message a device sent about an advertisement, by a hash of
// its ID.
type recentKey struct {
	rid uint32
	ad  consign.ObjectID
	h   uint64
}

// recentIDs remembers the last recentCap messages taken in, to route a
// resend to an exact, unbatched report. Forgetting one costs only
// exactness of the split of a batch's counts, never correctness of intake.
type recentIDs struct {
	mu   sync.Mutex
	seed maphash.Seed
	set  map[recentKey]struct{}
	ring []recentKey
	next int
}

const recentCap = 1 << 16

func newRecentIDs() *recentIDs {
	return &recentIDs{seed: maphash.MakeSeed(), set: make(map[recentKey]struct{})}
}

func (r *recentIDs) key(rid uint32, ad consign.ObjectID, id string) recentKey {
	return recentKey{rid, ad, maphash.String(r.seed, id)}
}

// any reports whether any of keys was taken in recently.
func (r *recentIDs) any(keys []recentKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if _, ok := r.set[k]; ok {
			return true
		}
	}
	return false
}

// add remembers keys, forgetting the oldest beyond recentCap.
func (r *recentIDs) add(keys []recentKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if _, ok := r.set[k]; ok {
			continue
		}
		if len(r.ring) < recentCap {
			r.ring = append(r.ring, k)
		} else {
			delete(r.set, r.ring[r.next])
			r.ring[r.next] = k
			r.next = (r.next + 1) % recentCap
		}
		r.set[k] = struct{}{}
	}
}
