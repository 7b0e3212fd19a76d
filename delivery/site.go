package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// Site is one ConfigMgr-style primary site: the concrete type programs call.
// Open it over a Store and a Transport; every method is safe for concurrent
// use.
//
// A Site keeps the whole site model in memory (packages, programs,
// collections and their membership, advertisements, device status and
// summaries) and writes every change through the Store first: a workflow
// validates against a snapshot, plans its writes, applies them to the Store
// atomically with optimistic concurrency, and only then updates memory from
// the records it wrote — the same code that loads the Site at Open, so memory
// is always a function of the stored records.
type Site struct {
	store     Store
	transport Transport
	opts      Options

	mu     sync.RWMutex
	closed bool
	// stale is set when a committed write could not be followed by a
	// catch-up; the next workflow catches up first.
	stale bool
	st    *state

	validationMu sync.Mutex // serialises RunScheduledValidation
	distMu       sync.Mutex // one DistributeContent pass at a time
	downloadMu   sync.Mutex // serialises DownloadUpdates (it writes package sources)
	checkpointMu sync.Mutex // one Checkpoint at a time
	closeMu      sync.Mutex // one Close at a time
	// lastCheckpoint is the key of the checkpoint record of the file this
	// Site last read (used or not) or wrote, which the next Checkpoint
	// replaces.
	lastCheckpoint string
	// lastApply is how long the store's last Apply took (ns), which sets
	// the retry backoff after a conflict.
	lastApply atomic.Int64
}

// Open loads a Site from store. transport may be nil (devices then learn of
// new policy only when they poll). opts may be nil.
func Open(ctx context.Context, store Store, transport Transport, opts *Options) (*Site, error) {
	if store == nil {
		return nil, &consign.ValidationError{Field: "store", Rule: "required"}
	}
	o := opts.withDefaults()
	var probs consign.Problems
	probs.Merge(o.SiteCode.Validate())
	probs.Merge(o.UpdateAgent.Validate())
	if err := probs.Err(); err != nil {
		return nil, err
	}
	s := &Site{store: store, transport: transport, opts: o, st: newState(o)}
	s.mu.Lock()
	defer s.mu.Unlock()
	from := "store"
	for attempt := 1; o.Checkpoint != ""; attempt++ {
		used, err := s.restoreCheckpoint(ctx, o.Checkpoint)
		if err == nil {
			if used {
				from = "checkpoint"
			}
			break
		}
		s.st = newState(o)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, errStoreMoved) || attempt == 3 {
			s.opts.Logger.Warn("checkpoint not used; loading the whole store", "path", o.Checkpoint, "err", err)
			break
		}
	}
	if err := s.catchUpLocked(ctx); err != nil {
		return nil, err
	}
	s.st.drainNotify()
	s.opts.Logger.Info("site opened", "site", o.SiteCode, "from", from, "revision", s.st.rev,
		"packages", len(s.st.packages), "collections", len(s.st.engine.Collections()),
		"devices", s.st.engine.NumDevices(), "advertisements", len(s.st.ads))
	return s, nil
}

// Close closes the Site (not its Store, which the caller owns), writing
// its checkpoint first when Options.Checkpoint is set; the Site is closed
// even when that fails. Calls after Close fail with an error matching
// consign.ErrUnavailable; a second Close returns nil.
func (s *Site) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil
	}
	var err error
	if s.opts.Checkpoint != "" {
		err = s.Checkpoint(context.Background())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return err
}

// Revision is the store revision the Site's memory reflects. It moves
// with every write the Site makes or catches up with, so a cache of
// anything computed from the Site (a device's policy, say) is current while
// the revision it was computed at is.
func (s *Site) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.rev
}

// Schema is the WQL schema the Site's collections and devices are checked
// against (Options.Schema, or the default).
func (s *Site) Schema() *wql.Schema { return s.st.engine.Schema() }

// SiteCode returns the site's code.
func (s *Site) SiteCode() consign.SiteCode { return s.opts.SiteCode }

// catchUpLocked applies every change the store has after the last revision
// this Site has seen: the whole store at Open, and writes by other Site
// processes after a conflict.
//
// The feed holds each record's latest state, in the order of those latest
// writes, which is not the order objects depend on each other (a collection
// updated after the collection limited to it comes later in the feed; so
// does an advertisement updated after its devices reported status). So the
// changes are applied by kind in dependency order (device puts as they are
// read, see follow; the rest once read in full), and collections — which depend on
// each other through limits — in as many passes as their limits need. The
// Site's revision moves only once the whole batch is applied, so a failed
// read is simply tried again later (what was applied is skipped then, see
// state.applied).
func (s *Site) catchUpLocked(ctx context.Context) error {
	now := s.opts.Clock()
	// Loading from nothing, no membership is followed yet (advertisements
	// and deployments come later in the feed): devices and collections
	// load without building membership deltas.
	first := s.st.rev == 0
	rest, last, err := s.follow(ctx, s.st.rev, now, first)
	if err != nil {
		return err
	}
	sortByKind(rest, func(c Change) string { return c.Record.Kind })
	// Collection puts are applied in runs, many at a time.
	var collections []Change
	for _, c := range rest {
		if c.Record.Kind == kindCollection {
			s.st.track(c)
			collections = append(collections, c)
			continue
		}
		if len(collections) > 0 {
			s.applyCollections(collections, now, first)
			collections = nil
		}
		s.applyChange(c, now)
	}
	if len(collections) > 0 {
		s.applyCollections(collections, now, first)
	}
	s.st.rev = last
	s.stale = false
	return nil
}

// follow reads the change feed after revision after, applying device puts
// page by page as they are read (the next page is read meanwhile), and
// returns the other changes in feed order and the last revision read.
//
// Device puts depend on nothing applied after them, and everything that
// depends on devices comes later by kind: so a site of a million devices
// never holds all their records at once. Changes memory already reflects
// (state.applied) are skipped.
func (s *Site) follow(ctx context.Context, after int64, now time.Time, first bool) (rest []Change, last int64, err error) {
	const page = 10000
	last = after
	type result struct {
		changes []Change
		err     error
	}
	pages := make(chan result, 1)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(pages)
		for after := last; ; {
			changes, err := s.store.Changes(rctx, after, page)
			select {
			case pages <- result{changes, err}:
			case <-rctx.Done():
				return
			}
			if err != nil || len(changes) < page {
				return
			}
			after = changes[len(changes)-1].Record.Revision
		}
	}()
	for r := range pages {
		changes, err := r.changes, r.err
		if err != nil {
			return nil, 0, storeErr("load", err)
		}
		var devices []Change
		for _, c := range changes {
			if s.st.applied(c) {
				continue
			}
			if c.Record.Kind == kindDevice && !c.Deleted {
				s.st.track(c)
				devices = append(devices, c)
			} else {
				rest = append(rest, c)
			}
		}
		if len(devices) > 0 {
			s.leaveOutAll(devices, s.st.putDevices(devices, now, first), now)
		}
		if len(changes) > 0 {
			last = changes[len(changes)-1].Record.Revision
		}
	}
	return rest, last, nil
}

// applyChange applies one stored change to memory. A record that cannot be
// applied — written by a newer or broken writer — is logged and left out
// (leaveOut) rather than making the whole site unusable.
func (s *Site) applyChange(c Change, now time.Time) {
	if err := s.st.apply(c, now); err != nil {
		s.leaveOut(c, err, now)
	}
}

// applyCollections applies collection changes: deletions one by one, the
// rest together in one evaluation over the devices (PutCollections orders
// limiting collections itself). A collection that cannot be applied is
// logged and left out.
func (s *Site) applyCollections(pending []Change, now time.Time, first bool) {
	var puts []Change
	for _, c := range pending {
		if c.Deleted {
			s.applyChange(c, now)
		} else {
			puts = append(puts, c)
		}
	}
	if len(puts) == 0 {
		return
	}
	s.leaveOutAll(puts, s.st.putCollections(puts, now, first), now)
}

// leaveOutAll leaves out each change errs says could not be applied.
func (s *Site) leaveOutAll(cs []Change, errs []error, now time.Time) {
	for i, err := range errs {
		if err != nil {
			s.leaveOut(cs[i], err, now)
		}
	}
}

// leaveOut logs that stored change c cannot be applied, and takes out of
// memory what an older version of its record put there: a Site loading
// the store in full never has anything of the record, and memory is a
// function of the records. The record's revision stays known, for the
// writes that replace it.
func (s *Site) leaveOut(c Change, err error, now time.Time) {
	s.opts.Logger.Error("stored record cannot be applied; leaving it out", "kind", c.Record.Kind, "key", c.Record.Key, "revision", c.Record.Revision, "err", err)
	if c.Deleted {
		return
	}
	gone := Change{Record: Record{Kind: c.Record.Kind, Key: c.Record.Key, Revision: c.Record.Revision}, Deleted: true}
	if err := s.st.apply(gone, now); err != nil {
		s.opts.Logger.Error("an older version of a stored record that cannot be applied stays", "kind", c.Record.Kind, "key", c.Record.Key, "err", err)
	}
	s.st.track(c)
}

// kindOrder lists the record kinds the Site writes in the order a load
// applies them: what an object refers to before it.
var kindOrder = [][]string{
	{kindCounter, kindBoundary, kindDP, kindAvailability, kindMarker, kindUpdate, kindTemplate},
	{kindPackage, kindUpdateList},
	{kindProgram, kindSequence},
	// Devices before collections: a site loading itself then evaluates
	// every collection in one pass over the devices.
	{kindDevice},
	{kindCollection},
	{kindLink},
	{kindAdvertisement, kindDeployment},
	{kindPackageDP, kindHistory, kindScan},
	{kindStatus},
	{kindGuard, kindCheckpoint},
}

// kindRanks is each kind's place in kindOrder.
var kindRanks = func() map[string]int {
	m := map[string]int{}
	for i, kinds := range kindOrder {
		for _, k := range kinds {
			m[k] = i
		}
	}
	return m
}()

// kindRank orders record kinds so that what an object refers to is applied
// before it; kinds of a newer Site version come last.
func kindRank(kind string) int {
	if r, ok := kindRanks[kind]; ok {
		return r
	}
	return len(kindOrder)
}

// sortByKind sorts xs stably by the rank of their kinds, looking each
// element's rank up once (a large batch is mostly of one kind).
func sortByKind[T any](xs []T, kind func(T) string) {
	if len(xs) < 2 {
		return
	}
	ranks := make([]int, len(xs))
	sorted := true
	for i, x := range xs {
		ranks[i] = kindRank(kind(x))
		sorted = sorted && (i == 0 || ranks[i-1] <= ranks[i])
	}
	if sorted {
		return
	}
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ranks[a], ranks[b]) })
	out := make([]T, len(xs))
	for i, j := range idx {
		out[i] = xs[j]
	}
	copy(xs, out)
}

// maxAttempts bounds how often a workflow is re-planned after losing an
// optimistic-concurrency race to another Site process; after that the
// caller gets the conflict.
const maxAttempts = 10

// commit runs one workflow: plan builds the writes from the current
// snapshot (under the Site's lock), the Store applies them atomically, and
// memory follows the records written. On a conflict the Site catches up with
// the store, waits a moment (so that competing Sites do not collide in
// lockstep) and plans again.
func (s *Site) commit(ctx context.Context, op string, plan func(t *tx) error) error {
	for attempt := 1; ; attempt++ {
		notify, err := s.attempt(ctx, op, plan)
		if err == nil {
			if len(notify) > 0 && s.transport != nil {
				if nerr := s.transport.Notify(ctx, notify); nerr != nil {
					s.opts.Logger.Warn("notify devices failed; they will see the change at their next poll", "op", op, "devices", len(notify), "err", nerr)
				}
			}
			return nil
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		if attempt == maxAttempts {
			return &consign.Error{Code: consign.ErrConflict, Op: op, Err: fmt.Errorf("lost %d optimistic-concurrency races to other writers", attempt)}
		}
		s.opts.Logger.Debug("write conflict, retrying", "op", op, "attempt", attempt)
		// Wait a random time of up to attempt × the longer of 1 ms and the
		// store's last write: a store that takes milliseconds to commit
		// (an fsync) would otherwise see the loser re-plan before the
		// winner's next write lands, and lose again.
		unit := max(time.Millisecond, time.Duration(s.lastApply.Load()))
		backoff := time.Duration(rand.Int64N(int64(attempt) * int64(unit)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// errRetry says an attempt lost a race and the Site has caught up.
var errRetry = errors.New("retry")

// attempt plans and applies a workflow once, under the write lock.
func (s *Site) attempt(ctx context.Context, op string, plan func(t *tx) error) ([]uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readyLocked(ctx, op); err != nil {
		return nil, err
	}
	t := &tx{st: s.st, now: s.opts.Clock()}
	if err := plan(t); err != nil {
		return nil, err
	}
	if len(t.writes) == 0 {
		return nil, nil
	}
	start := time.Now()
	rev, err := s.store.Apply(ctx, t.writes)
	s.lastApply.Store(int64(time.Since(start)))
	if err != nil {
		if errors.Is(err, ErrCommitUnknown) {
			// The write may have committed: memory follows the change
			// feed before the next workflow.
			s.stale = true
		}
		if !errors.Is(err, consign.ErrConflict) {
			return nil, storeErr(op, err)
		}
		if err := s.catchUpLocked(ctx); err != nil {
			return nil, err
		}
		return nil, errRetry
	}
	// The write has committed: from here on the workflow succeeds.
	if rev != s.st.rev+1 {
		// Another writer committed revisions this Site has not seen: follow
		// the feed, which holds them and this write, in order.
		if err := s.catchUpLocked(ctx); err != nil {
			s.opts.Logger.Warn("catching up after a write failed; will retry before the next workflow", "op", op, "err", err)
			s.stale = true
		}
		return s.st.drainNotify(), nil
	}
	writes := slices.Clone(t.writes)
	sortByKind(writes, func(w Write) string { return w.Record.Kind })
	for _, w := range writes {
		c := Change{Record: w.Record, Deleted: w.Op == Delete}
		c.Record.Revision = rev
		s.applyChange(c, t.now)
	}
	s.st.rev = rev
	return s.st.drainNotify(), nil
}

// readyLocked says why op cannot run on a closed Site, and catches a stale
// one up with its store.
func (s *Site) readyLocked(ctx context.Context, op string) error {
	if s.closed {
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: errors.New("site is closed")}
	}
	if s.stale {
		return s.catchUpLocked(ctx)
	}
	return nil
}

// read runs f under the read lock.
func (s *Site) read(op string, f func(st *state) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: errors.New("site is closed")}
	}
	return f(s.st)
}

func storeErr(op string, err error) error {
	var ce *consign.Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCommitUnknown) {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, code := range []error{consign.ErrNotFound, consign.ErrConflict, consign.ErrInvalid, consign.ErrUnavailable} {
		if errors.Is(err, code) {
			return &consign.Error{Code: code, Op: op, Err: err}
		}
	}
	return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: err}
}

func notFound(op, key string) error {
	return &consign.Error{Code: consign.ErrNotFound, Op: op, Key: key, Err: fmt.Errorf("%s does not exist", key)}
}

// now is what the Site's clock says, for read paths.
func (s *Site) now() time.Time { return s.opts.Clock() }
