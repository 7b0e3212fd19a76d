package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/signing"
	pkg "github.com/consign/consign/package"
)

// Defaults for the zero values of Config's fields.
const (
	// DefaultPollInterval is how often the agent asks for policy when
	// neither Config.PollInterval nor the registration sets an interval:
	// ConfigMgr's machine policy interval of 60 minutes (§3.1).
	DefaultPollInterval = 60 * time.Minute
	// DefaultRetryInterval is how long the agent waits before it tries a
	// program again that asked for a retry (a retry exit code, content not
	// reachable, a full cache): about the 15 minutes ConfigMgr was seen to
	// wait [B-rc].
	DefaultRetryInterval = 15 * time.Minute
	// DefaultMaxRetries is how many times a program that keeps exiting with
	// a retry code is run again for one assignment before the run is
	// reported failed.
	DefaultMaxRetries = 10
	// DefaultCountdown is the countdown the maintenance-window fit test
	// adds to a program's run time, the delivery.Options default (§3.2 4d,
	// §3.6), so that the agent and the site decide alike.
	DefaultCountdown = 5 * time.Minute
	// DefaultBackoff is the first wait after a failed exchange with the
	// management point; each further failure doubles it, up to
	// DefaultMaxBackoff.
	DefaultBackoff = time.Second
	// DefaultMaxBackoff bounds the wait between attempts to reach an
	// unreachable management point.
	DefaultMaxBackoff = 5 * time.Minute
	// WindowHorizon is how far ahead the agent computes maintenance
	// windows for the offer decision: far enough to find the next window
	// of a monthly schedule.
	WindowHorizon = 35 * 24 * time.Hour
)

// maxWake bounds the time between two evaluations of the offers, so that
// a wall clock that jumps (a suspended machine, a corrected clock) delays
// a due program by at most this long.
const maxWake = 10 * time.Minute

// minLongPoll is the shortest long poll the agent expects; a site that
// answers "nothing changed" sooner is asked again only after a back-off.
const minLongPoll = time.Second

// minWake is the shortest wait between two evaluations that no event
// asked for.
const minWake = time.Second

// Keys of the agent's values in the State's key/value area.
const (
	keyRegistration = "agent/registration"
	keyPolicy       = "agent/policy"
	keyHistory      = "agent/history"
	keyOffers       = "agent/offers"
	keySeq          = "agent/seq"
)

// Config is what an Agent is made of. MP, Device, State, Cache and
// Executor are required; every other field has a default.
type Config struct {
	// MP is the management point: httpmp.Client, or any implementation of
	// the interface.
	MP ManagementPoint
	// Device is the device's discovery data and inventory, sent at
	// registration; SMSUniqueIdentifier identifies the device and is
	// required. The agent reads its operating system, time zone (an IANA
	// name, "" for UTC) and network position from it. The agent keeps it:
	// do not modify it after New; use SetDevice.
	Device *collection.Device
	// EnrollSecret is what the site requires to admit a new device; ""
	// when enrolment is open.
	EnrollSecret string
	// State is the agent's durable state: registration, last good policy,
	// execution history, the outbox of status messages. The caller opens
	// and closes it.
	State *State
	// Cache is the client cache content is downloaded into (§3.4). The
	// caller opens and closes it.
	Cache *Cache
	// Executor runs programs.
	Executor Executor
	// Downloader fetches content from DPs. The agent uses a copy whose
	// Header also sets "Authorization: Bearer <token>" with the device's
	// credential. Nil means a zero httpdp.Downloader.
	Downloader *httpdp.Downloader
	// Clock returns the current time: decisions, status message times and
	// signature validity are read from it. Default time.Now.
	Clock func() time.Time
	// Rand draws the jitter of poll times and back-offs. It is used under
	// the agent's own lock. Nil means a randomly seeded source.
	Rand *rand.Rand
	// PushJitter, when positive, delays the agent's reaction to a push by
	// a random time up to it, so that a push to a whole fleet does not
	// have every device fetch policy and content in the same instant.
	// Zero reacts at once.
	PushJitter time.Duration
	// PollInterval is how often the agent asks for policy when no push
	// reaches it. Zero means the registration's interval, or
	// DefaultPollInterval.
	PollInterval time.Duration
	// Logger receives the agent's log records. Nil is silent.
	Logger *slog.Logger
	// OnEvent, when set, is told what the agent does (see EventKind), for
	// progress displays and tests. It is called synchronously, possibly
	// from several goroutines at once, and must return quickly.
	OnEvent func(Event)

	// DeviceState, when set, reports what only the device knows at the
	// moment of a decision: whether a user is logged on, whether the
	// device is on a slow boundary, its last logon, logoff and startup
	// (§3.2 step 4). Nil means the zero delivery.DeviceState: no user
	// logged on, a fast boundary, no events — the site's default too.
	DeviceState func() delivery.DeviceState
	// Countdown is the countdown before a mandatory run, used in the
	// maintenance-window fit test. Zero means DefaultCountdown; it should
	// match the site's delivery.Options.Countdown.
	Countdown time.Duration
	// RetryInterval is the wait before a program is tried again after a
	// retry (§3.2 "Retry semantics"). Zero means DefaultRetryInterval.
	RetryInterval time.Duration
	// MaxRetries is how many retry exit codes one assignment may get
	// before its run is reported failed. Zero means DefaultMaxRetries.
	MaxRetries int
	// Backoff and MaxBackoff bound the waits between attempts to reach the
	// management point (jittered, doubling). Zero means DefaultBackoff and
	// DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration

	// Restart restarts the device for a task sequence: a Restart Computer
	// step, or a restart an Install Software program or an update asked
	// for (§1.10). The agent has saved the sequence's state before it is
	// called, and resumes the sequence when it starts again over the same
	// State. On a real device it starts the operating system's restart and
	// returns; a simulation stops this agent and runs a new one. Nil means
	// the agent cannot restart the device: a Restart Computer step then
	// fails, and a restart a step asked for is skipped with a warning.
	Restart func(ctx context.Context) error
	// RestartWait is how long the agent waits for the restart after
	// Restart returned before going on as if it had happened. Zero means
	// DefaultRestartWait.
	RestartWait time.Duration
	// FileExists answers the file conditions of task sequence steps. Nil
	// means os.Stat on the device's file system.
	FileExists func(path string) bool
}

// EventKind says what happened in an Event.
type EventKind int

// What the agent tells Config.OnEvent.
const (
	// EventRegistered: the device registered with the site (ResourceID).
	EventRegistered EventKind = iota + 1
	// EventPolicy: a new policy was verified and taken (Serial, Offers).
	EventPolicy
	// EventPolicyRefused: a policy envelope failed verification (Err says
	// why: signing.ErrRollback, signing.ErrExpired, …) and was not used.
	EventPolicyRefused
	// EventPolicyExpired: the last good policy has expired and no newer
	// one could be had; no new program starts until one arrives (freeze).
	EventPolicyExpired
	// EventRunStarted: a program started (AdvertisementID, Program).
	EventRunStarted
	// EventRunFinished: a program's run ended (Status is the status event
	// reported, ExitCode the program's exit code).
	EventRunFinished
	// EventEvaluated: the agent evaluated its offers and ran what was due
	// (Offers: offers in the policy; Wake: the next time a decision may
	// change without a new policy, zero when none or when the policy has
	// expired).
	EventEvaluated
	// EventStatus: the agent queued a status message for the site
	// (AdvertisementID, Status, Detail).
	EventStatus
	// EventStatusSent: status messages reached the site (Count; Accepted
	// and Duplicates as the site counted them).
	EventStatusSent
	// EventStatusDropped: the site refused a status message as invalid;
	// it was dropped from the outbox so that it cannot block the rest
	// (Detail names it, Err says why).
	EventStatusDropped
	// EventError: an exchange with the management point failed and will
	// be retried (Detail names it, Err says why).
	EventError
	// EventRestart: the agent asks Config.Restart to restart the device for
	// a task sequence (AdvertisementID; Detail is the step's message).
	EventRestart
	// EventProgress: a task sequence whose advertisement shows progress
	// (ShowProgress, §1.9) starts a step: Detail is its name, Step its
	// position among the Steps groups and steps of the sequence (from 1),
	// for a progress display.
	EventProgress
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventRegistered:
		return "Registered"
	case EventPolicy:
		return "Policy"
	case EventPolicyRefused:
		return "PolicyRefused"
	case EventPolicyExpired:
		return "PolicyExpired"
	case EventRunStarted:
		return "RunStarted"
	case EventRunFinished:
		return "RunFinished"
	case EventEvaluated:
		return "Evaluated"
	case EventStatus:
		return "Status"
	case EventStatusSent:
		return "StatusSent"
	case EventStatusDropped:
		return "StatusDropped"
	case EventError:
		return "Error"
	case EventRestart:
		return "Restart"
	case EventProgress:
		return "Progress"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing the agent did, for Config.OnEvent. Fields that do not
// apply to the Kind are zero.
type Event struct {
	Kind            EventKind
	Time            time.Time // the agent's clock
	ResourceID      uint32
	AdvertisementID consign.ObjectID
	Program         pkg.ProgramRef
	Status          advertisement.Event
	ExitCode        int
	Serial          uint64    // EventPolicy, EventPolicyRefused: the envelope's serial
	Offers          int       // EventPolicy, EventEvaluated: offers in the policy
	Wake            time.Time // EventEvaluated: the next decision time
	Count           int       // EventStatusSent: messages sent
	Step, Steps     int       // EventProgress: the step's position, from 1, and the sequence's length
	Accepted        int       // EventStatusSent
	Duplicates      int       // EventStatusSent
	Detail          string
	Err             error
}

// Agent is a device agent: it registers the device with the site, keeps
// its policy current, decides with the site's own pure functions what to
// run and when, downloads content into the cache, runs programs one at a
// time, and reports status through the durable outbox (§3.1–3.6).
//
// # The loop
//
// Run starts four goroutines and returns when its context ends:
//
//   - policy: registers once (the registration is kept in the State, so a
//     restarted agent does not register again), then fetches policy at
//     start, on a jittered timer — the first poll uniformly within the
//     poll interval, then uniformly in [0.5, 1.5) intervals, so that a
//     fleet never polls in step — and whenever the long poll or Trigger
//     says so. Each policy is a signed envelope, verified against the keys
//     of the registration: a policy for another device, one signed by an
//     unknown key, one older than the newest accepted (rollback; the
//     high-water marks are kept in the State) and an expired one are
//     refused. The last good policy is kept, with its ETag for
//     If-None-Match, and used until its own expiry; after that no new
//     program starts (freeze) until a newer policy arrives.
//   - long poll: MP.Wait, so a push reaches the device in seconds.
//   - worker: evaluates every offer (see evaluate), reports acceptance and
//     waiting states, and runs due mandatory programs one at a time in
//     policy order, dependencies first; then sleeps until the next
//     decision time or a new policy.
//   - sender: drains the outbox to MP.Report in batches.
//
// Exchanges with the management point that fail are retried with jittered,
// doubling back-off; status waits in the outbox, so nothing is lost while
// the site is unreachable.
//
// An Agent is safe for concurrent use; Run may be called again after it
// returned, but not twice at once.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	outbox *Outbox
	down   httpdp.Downloader

	randMu sync.Mutex
	rng    *rand.Rand

	mu             sync.Mutex
	device         *collection.Device
	facts          facts
	reg            *storedRegistration
	verifier       *signing.Verifier
	marks          map[string]uint64 // verifier marks loaded before a verifier exists
	pol            *currentPolicy
	needRegister   bool
	inventoryDirty bool
	fetchDone      chan struct{} // closed after each policy refresh attempt

	// Owned by the worker goroutine (and New).
	history map[pkg.ProgramRef]advertisement.History
	offers  map[consign.ObjectID]*offerState
	unsent  []advertisement.Message // built but not yet in the outbox
	frozen  bool                    // EventPolicyExpired was emitted for the current policy
	// ts is the task sequence run in progress (nil when none); tsResume
	// says it was loaded or waited for a restart, and must Resume before it
	// goes on; restartAsked is when Config.Restart was last called for it.
	ts           *tsActive
	tsResume     bool
	restartAsked time.Time

	seqMu    sync.Mutex
	seq      uint64 // next message sequence number
	seqLimit uint64 // first number not reserved in the State

	kickPolicy, kickWork, kickSend chan struct{}
	running                        atomic.Bool
}

// storedRegistration is the registration as the State keeps it.
type storedRegistration struct {
	UID          string              `json:"uid"`
	ResourceID   uint32              `json:"rid"`
	Token        string              `json:"token"`
	Keys         []signing.PublicKey `json:"keys"`
	PollInterval time.Duration       `json:"poll,omitempty"`
}

// storedPolicy is the last good policy as the State keeps it, with the
// verifier's high-water marks, in one value so that they never disagree.
type storedPolicy struct {
	Envelope *signing.Envelope `json:"envelope,omitempty"`
	ETag     string            `json:"etag,omitempty"`
	Marks    map[string]uint64 `json:"marks,omitempty"`
}

// currentPolicy is the policy the agent acts on.
type currentPolicy struct {
	env     signing.Envelope
	etag    string
	payload *httpmp.PolicyPayload
}

// New returns an agent for cfg, with what the State holds from earlier
// runs: the registration, the last good policy (verified again; an
// expired one is dropped), the execution history and the offers' status.
// A Config that misses a required field gives an error matching
// consign.ErrInvalid naming it; a State whose agent values do not decode,
// one matching consign.ErrFailedPrecondition.
func New(cfg Config) (*Agent, error) {
	const op = "agent.New"
	var ps consign.Problems
	ps.Check(cfg.MP != nil, "Config.MP", "required")
	ps.Check(cfg.State != nil, "Config.State", "required")
	ps.Check(cfg.Cache != nil, "Config.Cache", "required")
	ps.Check(cfg.Executor != nil, "Config.Executor", "required")
	if cfg.Device == nil {
		ps.Add("Config.Device", "required")
	} else {
		ps.Check(cfg.Device.SMSUniqueIdentifier != "", "Config.Device.SMSUniqueIdentifier", "required")
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"PollInterval", cfg.PollInterval}, {"PushJitter", cfg.PushJitter}, {"Countdown", cfg.Countdown}, {"RetryInterval", cfg.RetryInterval},
		{"Backoff", cfg.Backoff}, {"MaxBackoff", cfg.MaxBackoff}} {
		if f.d < 0 {
			ps.AddValue("Config."+f.name, f.d, "0 (the default) or more")
		}
	}
	if cfg.MaxRetries < 0 {
		ps.AddValue("Config.MaxRetries", cfg.MaxRetries, "0 (the default) or more")
	}
	if err := ps.Err(); err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Countdown == 0 {
		cfg.Countdown = DefaultCountdown
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.RestartWait == 0 {
		cfg.RestartWait = DefaultRestartWait
	}
	if cfg.FileExists == nil {
		cfg.FileExists = fileExists
	}
	outbox, err := NewOutbox(cfg.State, nil)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: cfg.Logger, now: cfg.Clock, outbox: outbox, rng: cfg.Rand,
		device:     cfg.Device,
		history:    map[pkg.ProgramRef]advertisement.History{},
		offers:     map[consign.ObjectID]*offerState{},
		fetchDone:  make(chan struct{}),
		kickPolicy: make(chan struct{}, 1), kickWork: make(chan struct{}, 1), kickSend: make(chan struct{}, 1),
	}
	if cfg.Downloader != nil {
		a.down = *cfg.Downloader
	}
	prev := a.down.Header
	a.down.Header = func(r *http.Request) {
		if prev != nil {
			prev(r)
		}
		if tok := a.token(); tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	a.facts = a.factsOf(cfg.Device)
	if err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}

// load reads what the State holds from earlier runs.
func (a *Agent) load() error {
	var reg storedRegistration
	if ok, err := a.getJSON(keyRegistration, &reg); err != nil {
		return err
	} else if ok && reg.UID == a.device.SMSUniqueIdentifier && reg.ResourceID != 0 && reg.Token != "" {
		if v, err := signing.NewVerifier(reg.Keys, &signing.VerifierOptions{Clock: a.now}); err != nil {
			a.log.Warn("stored registration has unusable keys; registering again", "err", err)
		} else {
			a.reg, a.verifier = &reg, v
			a.inventoryDirty = true // a restarted device sends its current inventory
			a.cfg.MP.SetToken(reg.Token)
		}
	}
	var sp storedPolicy
	if _, err := a.getJSON(keyPolicy, &sp); err != nil {
		return err
	}
	a.marks = sp.Marks
	if a.verifier != nil {
		if err := a.verifier.Restore(sp.Marks); err != nil {
			return consign.Errorf(consign.ErrFailedPrecondition, "agent.New", keyPolicy, "stored policy marks: %w", err)
		}
		if sp.Envelope != nil {
			payload, err := a.verifyPolicy(*sp.Envelope, a.reg.ResourceID)
			if err != nil {
				a.log.Warn("stored policy not usable", "err", err)
			} else {
				a.pol = &currentPolicy{env: *sp.Envelope, etag: sp.ETag, payload: payload}
			}
		}
	}
	var hist map[string]advertisement.History
	if _, err := a.getJSON(keyHistory, &hist); err != nil {
		return err
	}
	for k, h := range hist {
		ref, err := pkg.ParseProgramRef(k, "")
		if err != nil {
			return consign.Errorf(consign.ErrFailedPrecondition, "agent.New", keyHistory, "stored history: %w", err)
		}
		a.history[ref] = h
	}
	var offers map[consign.ObjectID]*offerState
	if _, err := a.getJSON(keyOffers, &offers); err != nil {
		return err
	}
	for id, st := range offers {
		if st != nil {
			a.offers[id] = st
		}
	}
	if err := a.loadTaskSequence(); err != nil {
		return err
	}
	b, ok, err := a.cfg.State.Get(keySeq)
	if err != nil {
		return err
	}
	if ok {
		n, good := getUint64(b)
		if !good {
			return consign.Errorf(consign.ErrFailedPrecondition, "agent.New", keySeq, "damaged message counter %x", b)
		}
		a.seq, a.seqLimit = n, n
	}
	return nil
}

// factsOf derives the decision facts from d, logging an unknown time
// zone (decided in UTC, as the site does).
func (a *Agent) factsOf(d *collection.Device) facts {
	f, ok := factsOf(d)
	if !ok {
		a.log.Warn("unknown device time zone; deciding in UTC", "zone", d.TimeZone)
	}
	return f
}

// ResourceID returns the device's ResourceID at the site, or 0 before it
// has registered.
func (a *Agent) ResourceID() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg == nil {
		return 0
	}
	return a.reg.ResourceID
}

// Trigger starts a "Machine Policy Retrieval & Evaluation Cycle" (§3.1):
// the agent fetches its policy and evaluates its offers now, without
// waiting for the poll timer. Call it when something the decisions depend
// on changed (a user logged on, the clock moved). It does not block.
func (a *Agent) Trigger() {
	kick(a.kickPolicy)
	kick(a.kickWork)
}

// SetDevice replaces the device's discovery data and inventory: the agent
// sends it to the site (PutInventory) at its next policy cycle, which
// Trigger starts, and decides with the new operating system, time zone and
// network position. A new SMSUniqueIdentifier makes the agent register
// again. It gives an error matching consign.ErrInvalid, and changes
// nothing, when d is nil or has no SMSUniqueIdentifier.
func (a *Agent) SetDevice(d *collection.Device) error {
	if d == nil || d.SMSUniqueIdentifier == "" {
		return &consign.Error{Code: consign.ErrInvalid, Op: "agent.Agent.SetDevice",
			Err: &consign.ValidationError{Field: "Device.SMSUniqueIdentifier", Rule: "required"}}
	}
	a.mu.Lock()
	if a.reg != nil && a.reg.UID != d.SMSUniqueIdentifier {
		a.needRegister = true
	}
	a.device, a.facts = d, a.factsOf(d)
	a.inventoryDirty = true
	a.mu.Unlock()
	a.Trigger()
	return nil
}

// Run runs the agent until ctx ends, then returns nil. A program running
// at that moment is stopped (its run is reported cancelled). Run fails
// with an error matching consign.ErrFailedPrecondition, at once, when the
// agent is already running.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return consign.Errorf(consign.ErrFailedPrecondition, "agent.Agent.Run", "", "the agent is already running")
	}
	defer a.running.Store(false)
	kick(a.kickSend)
	kick(a.kickWork)
	var wg sync.WaitGroup
	wg.Go(func() { a.policyLoop(ctx) })
	wg.Go(func() { a.waitLoop(ctx) })
	wg.Go(func() { a.sendLoop(ctx) })
	wg.Go(func() { a.workLoop(ctx) })
	wg.Wait()
	return nil
}

// policyLoop registers, then refreshes policy at start, on the jittered
// poll timer and when kicked.
func (a *Agent) policyLoop(ctx context.Context) {
	bo := a.newBackoff()
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-a.kickPolicy:
		}
		err := a.refresh(ctx)
		a.mu.Lock()
		close(a.fetchDone)
		a.fetchDone = make(chan struct{})
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		var d time.Duration
		if err != nil {
			a.log.Warn("policy cycle failed; retrying", "err", err)
			a.emit(Event{Kind: EventError, Detail: "policy", Err: err})
			d = min(bo.next(), a.pollInterval())
		} else {
			bo.reset()
			d = pollDelay(a.pollInterval(), first, a.randFloat())
			first = false
		}
		timer.Reset(d)
	}
}

// refresh registers when needed, sends inventory when it changed, and
// fetches policy.
func (a *Agent) refresh(ctx context.Context) error {
	a.mu.Lock()
	needReg := a.reg == nil || a.needRegister
	a.mu.Unlock()
	if needReg {
		if err := a.register(ctx); err != nil {
			return fmt.Errorf("registering: %w", err)
		}
	}
	a.mu.Lock()
	dev, dirty := a.device, a.inventoryDirty
	a.mu.Unlock()
	if dirty {
		if err := a.cfg.MP.PutInventory(ctx, dev); err != nil {
			a.unauthenticated(err)
			return fmt.Errorf("sending inventory: %w", err)
		}
		a.mu.Lock()
		if a.device == dev {
			a.inventoryDirty = false
		}
		a.mu.Unlock()
	}
	return a.fetchPolicy(ctx)
}

// register registers the device and keeps the registration.
func (a *Agent) register(ctx context.Context) error {
	a.mu.Lock()
	dev := a.device
	a.mu.Unlock()
	reg, err := a.cfg.MP.Register(ctx, dev, a.cfg.EnrollSecret)
	if err != nil {
		return err
	}
	var ps consign.Problems
	ps.Check(reg.ResourceID != 0, "Registration.ResourceID", "required")
	ps.Check(reg.Token != "", "Registration.Token", "required")
	if err := ps.Err(); err != nil {
		return &consign.Error{Code: consign.ErrInvalid, Op: "agent.register", Err: err}
	}
	v, err := signing.NewVerifier(reg.Keys, &signing.VerifierOptions{Clock: a.now})
	if err != nil {
		return &consign.Error{Code: consign.ErrInvalid, Op: "agent.register", Key: "Registration.Keys", Err: err}
	}
	a.mu.Lock()
	marks := a.marks
	if a.verifier != nil {
		marks = a.verifier.State()
	}
	a.mu.Unlock()
	if err := v.Restore(marks); err != nil {
		return err
	}
	sr := &storedRegistration{UID: dev.SMSUniqueIdentifier, ResourceID: reg.ResourceID, Token: reg.Token,
		Keys: reg.Keys, PollInterval: reg.PollInterval}
	if err := a.putJSON(keyRegistration, sr); err != nil {
		return err
	}
	a.cfg.MP.SetToken(reg.Token)
	a.mu.Lock()
	if a.reg != nil && a.reg.ResourceID != reg.ResourceID {
		a.pol = nil // a policy for the old ResourceID
	}
	a.reg, a.verifier, a.needRegister = sr, v, false
	if a.device == dev {
		a.inventoryDirty = false // the registration carried it
	}
	a.mu.Unlock()
	a.log.Info("registered", "resourceID", reg.ResourceID)
	a.emit(Event{Kind: EventRegistered, ResourceID: reg.ResourceID})
	kick(a.kickSend)
	return nil
}

// unauthenticated makes the agent register again when err says the site
// no longer accepts its credential.
func (a *Agent) unauthenticated(err error) {
	if !errors.Is(err, httpdp.ErrUnauthenticated) {
		return
	}
	a.mu.Lock()
	a.needRegister = true
	a.mu.Unlock()
	a.log.Warn("the site refused the device's credential; registering again", "err", err)
	kick(a.kickPolicy)
}

// fetchPolicy asks for policy and takes a new one that verifies.
func (a *Agent) fetchPolicy(ctx context.Context) error {
	a.mu.Lock()
	if a.reg == nil {
		a.mu.Unlock()
		return consign.Errorf(consign.ErrUnavailable, "agent.fetchPolicy", "", "not registered")
	}
	rid := a.reg.ResourceID
	etag := ""
	if p := a.pol; p != nil {
		// Past half its validity the agent asks for a fresh envelope even
		// when nothing changed, so an unchanged policy never expires.
		if half := p.env.Issued.Add(p.env.Expires.Sub(p.env.Issued) / 2); a.now().Before(half) {
			etag = p.etag
		}
	}
	a.mu.Unlock()
	env, tag, err := a.cfg.MP.Policy(ctx, etag)
	if err != nil {
		a.unauthenticated(err)
		return fmt.Errorf("fetching policy: %w", err)
	}
	if env == nil {
		return nil // not modified
	}
	payload, err := a.verifyPolicy(*env, rid)
	if errors.Is(err, signing.ErrUnknownKey) {
		// The site may have rotated its keys: learn them and try again.
		if kerr := a.refreshKeys(ctx); kerr != nil {
			a.log.Warn("refreshing the site's keys", "err", kerr)
		} else {
			payload, err = a.verifyPolicy(*env, rid)
		}
	}
	if err != nil {
		a.log.Warn("policy refused", "serial", env.Serial, "err", err)
		a.emit(Event{Kind: EventPolicyRefused, ResourceID: rid, Serial: env.Serial, Err: err})
		return nil
	}
	a.mu.Lock()
	marks := a.verifier.State()
	a.mu.Unlock()
	if err := a.putJSON(keyPolicy, storedPolicy{Envelope: env, ETag: tag, Marks: marks}); err != nil {
		return err
	}
	a.mu.Lock()
	a.pol = &currentPolicy{env: *env, etag: tag, payload: payload}
	a.mu.Unlock()
	a.log.Info("policy", "serial", env.Serial, "offers", len(payload.Offers))
	a.emit(Event{Kind: EventPolicy, ResourceID: rid, Serial: env.Serial, Offers: len(payload.Offers)})
	kick(a.kickWork)
	return nil
}

// verifyPolicy checks a policy envelope for device rid and decodes it.
// refreshKeys asks the site for its current signing keys, over the
// device's authenticated channel, and trusts them from now on (keeping
// them with the registration).
func (a *Agent) refreshKeys(ctx context.Context) error {
	keys, err := a.cfg.MP.Keys(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.verifier.SetKeys(keys); err != nil {
		return err
	}
	reg := *a.reg
	reg.Keys = keys
	if err := a.putJSON(keyRegistration, &reg); err != nil {
		return err
	}
	a.reg = &reg
	return nil
}

func (a *Agent) verifyPolicy(env signing.Envelope, rid uint32) (*httpmp.PolicyPayload, error) {
	a.mu.Lock()
	v := a.verifier
	a.mu.Unlock()
	subject := strconv.FormatUint(uint64(rid), 10)
	b, err := v.Verify(env, signing.KindPolicy, subject)
	if err != nil {
		return nil, err
	}
	var p httpmp.PolicyPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, consign.Errorf(consign.ErrInvalid, "agent.verifyPolicy", subject, "policy payload: %w", err)
	}
	if p.ResourceID != rid {
		return nil, consign.Errorf(consign.ErrPermissionDenied, "agent.verifyPolicy", subject,
			"the policy is for device %d", p.ResourceID)
	}
	for i, o := range p.Offers {
		if o.Advertisement == nil {
			return nil, consign.Errorf(consign.ErrInvalid, "agent.verifyPolicy", subject, "offers[%d] has no advertisement", i)
		}
	}
	return &p, nil
}

// waitLoop long-polls the management point and starts a policy refresh
// when it says the policy changed.
func (a *Agent) waitLoop(ctx context.Context) {
	fail, quiet := a.newBackoff(), a.newBackoff()
	for ctx.Err() == nil {
		a.mu.Lock()
		registered, etag, done := a.reg != nil && !a.needRegister, "", a.fetchDone
		if a.pol != nil {
			etag = a.pol.etag
		}
		a.mu.Unlock()
		if !registered {
			// The policy loop is registering: wait for its attempt.
			select {
			case <-ctx.Done():
				return
			case <-done:
			}
			continue
		}
		began := time.Now()
		changed, err := a.cfg.MP.Wait(ctx, etag)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.unauthenticated(err)
			a.log.Debug("long poll failed", "err", err)
			if !sleep(ctx, fail.next()) {
				return
			}
			continue
		}
		fail.reset()
		if changed && a.cfg.PushJitter > 0 {
			// Spread a fleet's reaction to one push (a thundering herd):
			// every device woken at once would fetch policy and content
			// at once.
			if !sleep(ctx, time.Duration(a.randFloat()*float64(a.cfg.PushJitter))) {
				return
			}
		}
		if !changed {
			if time.Since(began) < minLongPoll {
				// A site that answers a long poll at once would have the
				// agent ask without pause.
				if !sleep(ctx, quiet.next()) {
					return
				}
			} else {
				quiet.reset()
			}
			continue
		}
		a.mu.Lock()
		done = a.fetchDone
		a.mu.Unlock()
		kick(a.kickPolicy)
		select {
		case <-ctx.Done():
			return
		case <-done:
		}
		a.mu.Lock()
		same := a.pol != nil && a.pol.etag == etag || a.pol == nil && etag == ""
		a.mu.Unlock()
		if same {
			// The site says "changed" but the refresh brought nothing new:
			// do not hammer it.
			if !sleep(ctx, quiet.next()) {
				return
			}
		} else {
			quiet.reset()
		}
	}
}

// pollInterval is the interval between policy polls.
func (a *Agent) pollInterval() time.Duration {
	if a.cfg.PollInterval > 0 {
		return a.cfg.PollInterval
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg != nil && a.reg.PollInterval > 0 {
		return a.reg.PollInterval
	}
	return DefaultPollInterval
}

// pollDelay is the wait before the next policy poll, for u drawn uniformly
// from [0, 1): the first poll comes uniformly within one interval, later
// ones uniformly in [0.5, 1.5) intervals, so that devices started together
// (or a site restarted) never make the fleet poll in step.
func pollDelay(interval time.Duration, first bool, u float64) time.Duration {
	if first {
		return time.Duration(u * float64(interval))
	}
	return time.Duration((0.5 + u) * float64(interval))
}

// token returns the device's credential, or "".
func (a *Agent) token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg == nil {
		return ""
	}
	return a.reg.Token
}

// emit tells Config.OnEvent.
func (a *Agent) emit(e Event) {
	if a.cfg.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	if e.ResourceID == 0 {
		e.ResourceID = a.ResourceID()
	}
	a.cfg.OnEvent(e)
}

// randFloat draws from [0, 1).
func (a *Agent) randFloat() float64 {
	a.randMu.Lock()
	defer a.randMu.Unlock()
	return a.rng.Float64()
}

// backoff is a jittered, doubling wait.
type backoff struct {
	min, max, cur time.Duration
	rand          func() float64
}

func (a *Agent) newBackoff() *backoff {
	return &backoff{min: a.cfg.Backoff, max: a.cfg.MaxBackoff, rand: a.randFloat}
}

// next returns the next wait: uniformly in [d/2, d) for d doubling from
// min to max.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + time.Duration(b.rand()*float64(b.cur/2))
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d; it returns false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool { return sleepContext(ctx, d) == nil }

// kick wakes the goroutine waiting on c, without blocking.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// getJSON reads the value under key into v; false when there is none.
func (a *Agent) getJSON(key string, v any) (bool, error) {
	b, ok, err := a.cfg.State.Get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, consign.Errorf(consign.ErrFailedPrecondition, "agent.New", key, "damaged agent state: %w", err)
	}
	return true, nil
}

// putJSON stores v under key.
func (a *Agent) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return &consign.Error{Code: consign.ErrInvalid, Op: "agent.putJSON", Key: key, Err: err}
	}
	return a.cfg.State.Put(key, b)
}
