package agent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// outboxReserve is the room the worker wants in the outbox before it
// starts a program: enough for every message one run reports.
const outboxReserve = 16

// seqBlock is how many message sequence numbers the agent reserves in the
// State with one write. Numbers reserved but not used before a restart are
// skipped; IDs stay unique.
const seqBlock = 128

// workLoop evaluates the offers when kicked (a new policy, Trigger) and at
// the next decision time, and runs what is due.
func (a *Agent) workLoop(ctx context.Context) {
	timer := time.NewTimer(maxWake)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kickWork:
		case <-timer.C:
		}
		next, evaluated := a.work(ctx)
		if evaluated >= 0 {
			a.emit(Event{Kind: EventEvaluated, Offers: evaluated, Wake: next})
		}
		d := maxWake
		if !next.IsZero() {
			d = min(max(next.Sub(a.now()), minWake), maxWake)
		}
		timer.Reset(d)
	}
}

// work evaluates the offers and runs due programs, one at a time,
// re-evaluating after each run (time passed, the history changed). It
// returns the next time a decision may change, or zero, and the number of
// offers evaluated (-1 when there was no policy to evaluate).
func (a *Agent) work(ctx context.Context) (time.Time, int) {
	for ctx.Err() == nil {
		a.queueUnsent()
		if a.ts != nil {
			// A task sequence in progress runs to its end before anything
			// else starts, across restarts (§1.10).
			if wake, ended := a.continueTaskSequence(ctx); !ended {
				return wake, -1
			}
			continue
		}
		a.mu.Lock()
		pol, f := a.pol, a.facts
		a.mu.Unlock()
		if pol == nil {
			return time.Time{}, -1
		}
		now := a.now()
		if now.After(pol.env.Expires) {
			if !a.frozen {
				a.frozen = true
				a.log.Warn("policy expired and no newer one could be had: no new programs start until one arrives",
					"serial", pol.env.Serial, "expired", pol.env.Expires)
				a.emit(Event{Kind: EventPolicyExpired, Serial: pol.env.Serial})
			}
			return time.Time{}, len(pol.payload.Offers)
		}
		a.frozen = false
		var ds delivery.DeviceState
		if a.cfg.DeviceState != nil {
			ds = a.cfg.DeviceState()
		}
		decisions := evaluate(pol.payload, f, ds, a.cfg.Countdown, a.history, a.offers, now)
		a.prune(pol.payload)
		a.noteDecisions(decisions)
		kick(a.kickSend)
		var due *decision
		var wake time.Time
		for i := range decisions {
			d := &decisions[i]
			if d.run && due == nil {
				due = d
			}
			wake = earliest(wake, d.wake)
		}
		if due == nil {
			return earliest(wake, pol.env.Expires), len(decisions)
		}
		if n, err := a.outbox.Len(); err != nil || n+outboxReserve > DefaultOutboxMessages {
			a.log.Warn("outbox full: holding back programs until the site has taken status", "pending", n, "err", err)
			return now.Add(a.cfg.RetryInterval), len(decisions)
		}
		a.runOffer(ctx, pol.payload, due)
	}
	return time.Time{}, -1
}

// prune forgets the state of advertisements no longer in the policy.
func (a *Agent) prune(p *httpmp.PolicyPayload) {
	in := make(map[consign.ObjectID]bool, len(p.Offers))
	for _, o := range p.Offers {
		in[o.Advertisement.ID] = true
	}
	changed := false
	for id := range a.offers {
		if !in[id] {
			delete(a.offers, id)
			changed = true
		}
	}
	if changed {
		a.saveOffers()
	}
}

// noteDecisions reports what the decisions say that the site has not
// heard yet: the acceptance of every offer (Received when it first
// appears, Rejected, Expired) and, for mandatory offers, a waiting state
// once per assignment.
func (a *Agent) noteDecisions(ds []decision) {
	changed := false
	for i := range ds {
		d := &ds[i]
		st := a.offers[d.id]
		if st == nil {
			st = &offerState{}
			if cs := d.offer.Status; cs != nil && acceptanceEvent(cs.Acceptance) == d.acceptance {
				st.Acceptance = d.acceptance.String() // the site has it already
			}
			a.offers[d.id] = st
			changed = true
		}
		if st.Acceptance != d.acceptance.String() {
			if a.report(d.id, nil, d.acceptance, 0, d.decided.Reason) == nil {
				st.Acceptance = d.acceptance.String()
				changed = true
			}
		}
		if d.note != 0 && a.noteOnce(d.id, st, d.note, d.decided.DueAt, d.decided.Reason) {
			changed = true
		}
	}
	if changed {
		a.saveOffers()
	}
}

// noteOnce reports ev for the assignment due unless it was the last event
// reported for it; it reports whether it did.
func (a *Agent) noteOnce(id consign.ObjectID, st *offerState, ev advertisement.Event, due time.Time, detail string) bool {
	if st.Note == ev.String() && st.NoteDue.Equal(due) {
		return false
	}
	if a.report(id, nil, ev, 0, detail) != nil {
		return false
	}
	st.Note, st.NoteDue = ev.String(), due
	return true
}

// acceptanceEvent is the event that sets acceptance state s.
func acceptanceEvent(s advertisement.AcceptanceState) advertisement.Event {
	switch s {
	case advertisement.AcceptanceAccepted, advertisement.AcceptanceNoFurtherStatus:
		return advertisement.EventReceived
	case advertisement.AcceptanceRejected:
		return advertisement.EventRejected
	case advertisement.AcceptanceExpired:
		return advertisement.EventExpired
	}
	return 0
}

// step is how a part of a run (content, a program) ended when it did not
// simply succeed.
type step struct {
	event    advertisement.Event // the status to report for the advertisement
	detail   string
	exitCode int
	retry    bool // try again after RetryInterval
	// once: report event only if it is not the last one reported for the
	// assignment (waiting for content, not a new fact each retry).
	once      bool
	cancelled bool // ctx ended: report nothing more
}

// runOffer runs one due offer: its dependencies that need to run, then
// its program, each with its package's content. Every way it ends leaves
// the offer not due again at once: the history records a run, a retry is
// scheduled, or the assignment is marked done.
func (a *Agent) runOffer(ctx context.Context, p *httpmp.PolicyPayload, d *decision) {
	st := a.offers[d.id]
	if !st.Due.Equal(d.decided.DueAt) {
		st.Due, st.Retries, st.RetryAt, st.Done = d.decided.DueAt, 0, time.Time{}, false
	}
	if d.offer.TaskSequence != nil {
		// The run goes on in continueTaskSequence, which reports its end.
		if s := a.startTaskSequence(ctx, d); s != nil {
			a.finish(d, st, *s)
		}
	} else {
		a.finish(d, st, a.runPrograms(ctx, p, d))
	}
	a.saveOffers()
}

// runPrograms runs the programs of a due offer and returns how the run
// ended. The cache reservations it made are released when it returns.
func (a *Agent) runPrograms(ctx context.Context, p *httpmp.PolicyPayload, d *decision) step {
	order, err := runOrder(d.offer, a.history)
	if err != nil {
		return step{event: advertisement.EventFailed, exitCode: -1, detail: "dependency: " + err.Error()}
	}
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	dirs := map[consign.ObjectID]string{}
	dirOf := func(id consign.ObjectID) (string, *step) {
		if dir, ok := dirs[id]; ok {
			return dir, nil
		}
		info := packageOf(p, d.offer, id)
		if info == nil {
			return "", &step{event: advertisement.EventFailed, exitCode: -1,
				detail: fmt.Sprintf("package %s is not in the policy, so its content cannot be located", id)}
		}
		dir, release, s := a.content(ctx, d.id, info)
		if release != nil {
			releases = append(releases, release)
		}
		dirs[id] = dir
		return dir, s
	}
	deps, main := order[:len(order)-1], order[len(order)-1]
	for _, prog := range deps {
		dir, s := dirOf(prog.PackageID)
		if s != nil {
			return *s
		}
		if s = a.execute(ctx, d, prog, dir, true); s == nil {
			continue // the dependency succeeded
		}
		if !s.retry && !s.cancelled {
			s.detail = fmt.Sprintf("run-first program %s: %s", prog.Ref(), s.detail)
			if s.event != advertisement.EventFailed && s.event != advertisement.EventExceededTime {
				s.event = advertisement.EventFailed
			}
		}
		return *s
	}
	dir, s := dirOf(main.PackageID)
	if s == nil {
		s = a.execute(ctx, d, main, dir, false)
	}
	return *s
}

// finish records how an offer's run ended: reports s for the
// advertisement and updates the history (what the site's intake records
// for the same event) or the retry state.
func (a *Agent) finish(d *decision, st *offerState, s step) {
	if s.cancelled {
		return
	}
	main := pkg.ProgramRef{PackageID: d.offer.Advertisement.PackageID, Program: d.offer.Advertisement.ProgramName}
	if s.retry {
		if s.event == advertisement.EventRetrying && !s.once {
			st.Retries++
		}
		if st.Retries > a.cfg.MaxRetries {
			s = step{event: advertisement.EventFailed, exitCode: s.exitCode,
				detail: fmt.Sprintf("still asking for a retry after %d retries: %s", a.cfg.MaxRetries, s.detail)}
		} else {
			st.RetryAt = a.now().Add(a.cfg.RetryInterval)
			if s.once {
				a.noteOnce(d.id, st, s.event, st.Due, s.detail)
			} else if a.report(d.id, nil, s.event, s.exitCode, s.detail) == nil {
				st.Note, st.NoteDue = s.event.String(), st.Due
			}
			kick(a.kickSend)
			return
		}
	}
	now := a.now()
	if a.report(d.id, nil, s.event, s.exitCode, s.detail) == nil {
		st.Note, st.NoteDue = s.event.String(), st.Due
	}
	if ok, final := s.event.RunOutcome(); final {
		a.setHistory(main, advertisement.History{Ran: true, LastRun: now, Succeeded: ok})
	} else {
		st.Done = true
	}
	kick(a.kickSend)
}

// content gets a package's content for a run of advertisement adID (§3.3,
// §3.4): content location, the signed manifest checked against the
// policy's SourceHash, then a download into the cache or the DP's share to
// run from. It returns the directory to run in and the cache reservation's
// release (nil when none), or how the run ends.
func (a *Agent) content(ctx context.Context, adID consign.ObjectID, info *delivery.PackageInfo) (string, func(), *step) {
	if !info.HasSource {
		return "", nil, nil
	}
	reply, err := a.cfg.MP.Locate(ctx, httpmp.LocateRequest{PackageID: info.ID, Version: info.SourceVersion, AdvertisementID: adID})
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, &step{cancelled: true}
		}
		a.unauthenticated(err)
		return "", nil, &step{event: advertisement.EventRetrying, retry: true, once: true, detail: "content location failed: " + err.Error()}
	}
	m, s := a.manifest(reply.Manifest, info)
	if s != nil {
		return "", nil, s
	}
	switch reply.Result.Action {
	case distpoint.Download:
	case distpoint.RunFromDP:
		// §3.4: straight from the DP's share; no cache, no hash check.
		if len(reply.Result.Locations) == 0 || reply.Result.Locations[0].Share == "" {
			return "", nil, &step{event: advertisement.EventWaiting, retry: true, once: true,
				detail: "run from the distribution point, but it has no package share"}
		}
		return reply.Result.Locations[0].Share, nil, nil
	default: // DoNotRun, Wait: §3.3 steps 7–8
		return "", nil, &step{event: advertisement.EventWaiting, retry: true, once: true,
			detail: fmt.Sprintf("content: %s: %s", reply.Result.Action, reply.Result.Reason)}
	}
	if len(reply.Sources) == 0 {
		return "", nil, &step{event: advertisement.EventWaiting, retry: true, once: true,
			detail: "content: no distribution point with an HTTP content server"}
	}
	_, cached := a.cfg.Cache.Lookup(info.ID, info.SourceVersion)
	dir, release, err := a.cfg.Cache.Reserve(info.ID, info.SourceVersion, m.Size(), info.PersistInCache)
	if err != nil {
		var cse *CacheSpaceError
		if errors.As(err, &cse) && cse.TooSmall {
			return "", nil, &step{event: advertisement.EventCacheTooSmall, detail: err.Error()}
		}
		return "", nil, &step{event: advertisement.EventRetrying, retry: true, once: true, detail: "cache: " + err.Error()}
	}
	if !cached {
		a.report(adID, nil, advertisement.EventDownloadStarted, 0, "")
		kick(a.kickSend)
	}
	res, err := a.down.Fetch(ctx, reply.Sources, info.ID, info.SourceVersion, m, dir)
	if err != nil {
		if ctx.Err() != nil {
			return "", release, &step{cancelled: true}
		}
		if allHashMismatches(err) {
			// §3.4: 10030, and execmgr does not retry a hash failure.
			return "", release, &step{event: advertisement.EventDownloadFailedHash, detail: err.Error()}
		}
		return "", release, &step{event: advertisement.EventRetrying, retry: true, once: true, detail: "download: " + err.Error()}
	}
	if !cached || res.Downloaded > 0 {
		a.report(adID, nil, advertisement.EventDownloadComplete, 0, "")
	}
	return dir, release, nil
}

// manifest verifies a version's signed manifest and checks it against the
// policy's SourceHash (§3.4: content that differs from the source is
// refused, 10057). The signature proves the site made the manifest; the
// hash ties it to the version the policy names. Manifests are checked by a
// verifier of their own, without rollback marks: a version's content never
// changes, and the site may sign its manifest again at any time.
func (a *Agent) manifest(env signing.Envelope, info *delivery.PackageInfo) (pkg.Manifest, *step) {
	a.mu.Lock()
	keys := a.reg.Keys
	a.mu.Unlock()
	v, err := signing.NewVerifier(keys, &signing.VerifierOptions{Clock: a.now})
	if err != nil {
		return pkg.Manifest{}, &step{event: advertisement.EventRetrying, retry: true, once: true, detail: "manifest keys: " + err.Error()}
	}
	subject := string(info.ID) + "/" + strconv.FormatUint(uint64(info.SourceVersion), 10)
	b, err := v.Verify(env, signing.KindManifest, subject)
	if err != nil {
		if errors.Is(err, signing.ErrExpired) || errors.Is(err, signing.ErrNotYetValid) {
			return pkg.Manifest{}, &step{event: advertisement.EventRetrying, retry: true, once: true, detail: "manifest: " + err.Error()}
		}
		return pkg.Manifest{}, &step{event: advertisement.EventContentHashMismatch, detail: "manifest refused: " + err.Error()}
	}
	var m pkg.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return pkg.Manifest{}, &step{event: advertisement.EventContentHashMismatch, detail: "manifest does not decode: " + err.Error()}
	}
	if h := m.Hash(); h != info.SourceHash {
		return pkg.Manifest{}, &step{event: advertisement.EventContentHashMismatch,
			detail: fmt.Sprintf("manifest hash %s differs from the policy's source hash %s",
				hex.EncodeToString(h[:]), hex.EncodeToString(info.SourceHash[:]))}
	}
	return m, nil
}

// allHashMismatches reports whether every source failure in a Fetch
// error is content that did not match the manifest.
func allHashMismatches(err error) bool {
	n, bad := 0, 0
	var walk func(error)
	walk = func(err error) {
		var se *httpdp.SourceError
		if errors.As(err, &se) && se == err {
			n++
			var hm *distpoint.HashMismatchError
			if errors.As(se.Err, &hm) {
				bad++
			}
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return n > 0 && bad == n
}

// execute runs one program of offer d from dir and reports how it ended
// (§3.5). A dependency's result is reported with RunFirst set, feeding its
// own history. It returns nil when the program succeeded and was a
// dependency; otherwise how the offer's run ends.
func (a *Agent) execute(ctx context.Context, d *decision, prog *pkg.Program, dir string, dep bool) *step {
	ref := prog.Ref()
	var runFirst *pkg.ProgramRef
	if dep {
		runFirst = &ref
	} else {
		a.report(d.id, nil, advertisement.EventStarted, 0, "")
		kick(a.kickSend)
	}
	a.emit(Event{Kind: EventRunStarted, AdvertisementID: d.id, Program: ref})
	out, err := a.cfg.Executor.Run(ctx, CommandFor(prog, dir))
	var ev advertisement.Event
	detail := ""
	switch {
	case err != nil && ctx.Err() != nil:
		ev, out.ExitCode = advertisement.EventCancelled, -1
	case err != nil:
		ev, out.ExitCode, detail = advertisement.EventFailed, -1, "could not start: "+err.Error()
	default:
		ev = out.Event(advertisement.ExitCodes{}, prog.AfterRunning)
		if out.TimedOut {
			detail = fmt.Sprintf("still running after the maximum run time of %s", prog.MonitoringLimit())
		}
	}
	a.emit(Event{Kind: EventRunFinished, AdvertisementID: d.id, Program: ref, Status: ev, ExitCode: out.ExitCode, Detail: detail})
	if ok, final := ev.RunOutcome(); final && dep {
		// The advertised program's run is recorded by finish, with the
		// advertisement's status. As there, the status is stored before
		// the history: a crash between the two may run the program again,
		// but never loses its status.
		at := a.now()
		a.report(d.id, runFirst, ev, out.ExitCode, detail)
		a.setHistory(ref, advertisement.History{Ran: true, LastRun: at, Succeeded: ok})
		if ok {
			return nil
		}
	}
	switch ev {
	case advertisement.EventCancelled:
		a.report(d.id, runFirst, ev, out.ExitCode, "the agent stopped")
		return &step{cancelled: true}
	case advertisement.EventRetrying:
		return &step{event: ev, exitCode: out.ExitCode, retry: true,
			detail: fmt.Sprintf("%s exited with retry code %d", ref, out.ExitCode)}
	}
	if dep {
		return &step{event: advertisement.EventFailed, exitCode: out.ExitCode, detail: fmt.Sprintf("%s (exit code %d)", ev, out.ExitCode)}
	}
	if detail == "" {
		detail = fmt.Sprintf("exit code %d", out.ExitCode)
	}
	return &step{event: ev, exitCode: out.ExitCode, detail: detail}
}

// setHistory records a run of ref and persists the history.
func (a *Agent) setHistory(ref pkg.ProgramRef, h advertisement.History) {
	a.history[ref] = h
	stored := make(map[string]advertisement.History, len(a.history))
	for r, h := range a.history {
		stored[r.String()] = h
	}
	if err := a.putJSON(keyHistory, stored); err != nil {
		a.log.Error("saving the execution history", "err", err)
	}
}

// saveOffers persists the offers' state.
func (a *Agent) saveOffers() {
	if err := a.putJSON(keyOffers, maps.Clone(a.offers)); err != nil {
		a.log.Error("saving the offers' state", "err", err)
	}
}

// report queues a status message about advertisement id in the outbox,
// with the next message ID and the clock's time. A message the outbox
// cannot take now is kept and queued at the next evaluation, so the error
// is only for the caller to know it was not stored yet.
func (a *Agent) report(id consign.ObjectID, runFirst *pkg.ProgramRef, ev advertisement.Event, exitCode int, detail string) error {
	return a.queue(advertisement.Message{AdvertisementID: id, Event: ev, ExitCode: exitCode, Detail: detail, RunFirst: runFirst})
}

// reportStep queues an EventTSStep message: how a task sequence step
// ended.
func (a *Agent) reportStep(id consign.ObjectID, s advertisement.StepStatus, exitCode int, detail string) {
	_ = a.queue(advertisement.Message{AdvertisementID: id, Event: advertisement.EventTSStep, ExitCode: exitCode, Detail: detail, Step: &s})
}

// queue gives m the device's ResourceID, the next message ID and the
// clock's time, and queues it (see report).
func (a *Agent) queue(m advertisement.Message) error {
	id, ev, exitCode, detail := m.AdvertisementID, m.Event, m.ExitCode, m.Detail
	rid := a.ResourceID()
	if rid == 0 {
		return consign.Errorf(consign.ErrUnavailable, "agent.report", string(id), "not registered")
	}
	seq, err := a.nextSeq()
	if err != nil {
		a.log.Error("reserving message IDs", "err", err)
		return err
	}
	m.ID, m.ResourceID, m.Time = strconv.FormatUint(uint64(rid), 10)+"-"+strconv.FormatUint(seq, 10), rid, a.now()
	if len(a.unsent) > 0 {
		a.unsent = append(a.unsent, m)
		a.queueUnsent()
	} else if err := a.outbox.Add(m); err != nil {
		a.log.Warn("status message kept in memory until the outbox takes it", "event", ev, "err", err)
		a.unsent = append(a.unsent, m)
	}
	a.emit(Event{Kind: EventStatus, AdvertisementID: id, Status: ev, ExitCode: exitCode, Detail: detail})
	return nil
}

// queueUnsent retries adding messages the outbox could not take.
func (a *Agent) queueUnsent() {
	if len(a.unsent) == 0 {
		return
	}
	if err := a.outbox.Add(a.unsent...); err != nil {
		a.log.Warn("outbox still refuses status messages", "messages", len(a.unsent), "err", err)
		return
	}
	a.unsent = nil
	kick(a.kickSend)
}

// nextSeq returns the next message sequence number, reserving a block of
// them in the State when the reserved ones run out.
func (a *Agent) nextSeq() (uint64, error) {
	a.seqMu.Lock()
	defer a.seqMu.Unlock()
	if a.seq >= a.seqLimit {
		limit := a.seq + seqBlock
		if err := a.cfg.State.Put(keySeq, putUint64(limit)); err != nil {
			return 0, err
		}
		a.seqLimit = limit
	}
	a.seq++
	return a.seq, nil
}
