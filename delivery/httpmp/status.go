package httpmp

import (
	"context"
	"errors"
	"fmt"
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
// caller still gets its own counts (ReportMany gives one result per
// report) and its own validation errors:
//
//   - Every upload is validated on its own before it joins a batch, so a
//     bad upload is refused (400) without touching anyone else's.
//   - Two uploads of one device in a batch are taken in order, together
//     (ReportMany merges them): a resend in the later one counts there as
//     a duplicate, as it would reported on its own.
//   - When the batch fails validation anyway (a device deleted meanwhile,
//     say), each upload is reported on its own, so only the bad one
//     fails.

// Batching limits: how long the first upload of a batch waits for others,
// and how many uploads a batch holds.
const (
	batchDelay   = 2 * time.Millisecond
	batchUploads = 1000
	// batchTimeout bounds a batch's commit, which runs detached from the
	// request that happened to lead it.
	batchTimeout = time.Minute
)

// statusJob is one upload on its way to the Site.
type statusJob struct {
	rid  uint32
	msgs []advertisement.Message
	// res and err are the outcome, set before the batch's done is closed.
	res delivery.ReportResult
	err error
}

// statusBatch is a batch being collected or committed.
type statusBatch struct {
	jobs []*statusJob
	full chan struct{} // closed when the batch reaches batchUploads
	done chan struct{} // closed when every job has its outcome
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
	b.mu.Lock()
	if cur := b.open; cur != nil {
		cur.jobs = append(cur.jobs, job)
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
	// Lead a new batch; b.mu still held.
	cur := &statusBatch{jobs: []*statusJob{job}, full: make(chan struct{}), done: make(chan struct{})}
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
	results, err := s.site.ReportMany(ctx, reports)
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
	for i, j := range jobs {
		j.res = results[i]
	}
}

// reportAlone reports one job's messages with Site.Report: exact counts.
func (s *Server) reportAlone(ctx context.Context, j *statusJob) {
	j.res, j.err = s.site.Report(ctx, j.rid, j.msgs)
}

// prepareStatus validates a device's upload on its own. A message for another device is refused (403); other problems
// are *consign.ValidationError values with wire field names
// ("messages[3].Event").
func (s *Server) prepareStatus(rid uint32, msgs []advertisement.Message) (*statusJob, error) {
	job := &statusJob{rid: rid, msgs: make([]advertisement.Message, len(msgs))}
	var probs consign.Problems
	ads := make(map[consign.ObjectID]*advertisement.Advertisement)
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
		if m.RunFirst == nil {
			continue
		}
		ad, looked := ads[m.AdvertisementID]
		if !looked {
			ad, _ = s.site.Advertisement(m.AdvertisementID)
			ads[m.AdvertisementID] = ad
		}
		if ad != nil && !s.runsFirst(ad, *m.RunFirst) {
			probs.AddValue(field+".RunFirst", m.RunFirst.String(), "must be a program the advertised program runs first")
		}
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
