package agent

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/consign/consign"
)

// DefaultSimFailureCode is the exit code a SimOutcome's random failure
// gives when FailureCode is zero: 1603, Windows Installer's "fatal error
// during installation".
const DefaultSimFailureCode = 1603

// SimOutcome scripts one simulated run.
type SimOutcome struct {
	// ExitCode is the program's exit code.
	ExitCode int
	// Duration is how long the program runs. A Duration beyond the
	// command's MaxRunTime gives a TimedOut outcome at MaxRunTime.
	Duration time.Duration
	// FailureRate, from 0 to 1, is the probability that the run exits with
	// FailureCode instead of ExitCode, drawn from the executor's seeded
	// random source.
	FailureRate float64
	// FailureCode is the exit code of a random failure. Zero means
	// DefaultSimFailureCode.
	FailureCode int
	// Output is the program's output.
	Output string
	// StartErr, when set, makes Run fail as if the program could not be
	// started: it returns a zero Outcome and an error wrapping StartErr.
	StartErr error
}

// SimOptions tunes a SimExecutor. A nil *SimOptions, like the zero value,
// runs every unscripted program as an instant success in real time.
type SimOptions struct {
	// Default is the outcome of programs with no script.
	Default SimOutcome
	// Seed seeds the random source that decides random failures, so that
	// a simulation can be replayed.
	Seed uint64
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	// Default: a real timer. A SimClock's Sleep makes runs instant.
	Sleep func(ctx context.Context, d time.Duration) error
}

// SimExecutor is an Executor that runs nothing: each run's result comes
// from a script, per program, so that tests and simulated fleets exercise
// the agent without real processes. With a SimClock for Now and Sleep, runs
// take no real time. It is safe for concurrent use.
type SimExecutor struct {
	def   SimOutcome
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	rng     *rand.Rand
	scripts map[simKey][]SimOutcome
	runs    []Command
}

type simKey struct {
	pkgID   consign.ObjectID
	program string
}

var _ Executor = (*SimExecutor)(nil)

// NewSimExecutor returns a SimExecutor with no scripts.
func NewSimExecutor(opts *SimOptions) *SimExecutor {
	var o SimOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	return &SimExecutor{
		def: o.Default, now: o.Now, sleep: o.Sleep,
		rng:     rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		scripts: map[simKey][]SimOutcome{},
	}
}

// Script sets the outcomes of program of package pkgID: its runs take them
// in order, and the last one repeats. Script with no outcomes removes the
// script, so the program gets the default again.
func (s *SimExecutor) Script(pkgID consign.ObjectID, program string, outcomes ...SimOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := simKey{pkgID, program}
	if len(outcomes) == 0 {
		delete(s.scripts, k)
		return
	}
	s.scripts[k] = append([]SimOutcome(nil), outcomes...)
}

// Runs returns the commands run so far, in the order they started.
func (s *SimExecutor) Runs() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.runs...)
}

// Run simulates cmd (see Executor): it takes the program's next scripted
// outcome, waits its Duration (at most cmd's MaxRunTime) through the
// Sleep option, and reports it.
func (s *SimExecutor) Run(ctx context.Context, cmd Command) (Outcome, error) {
	const op = "agent.SimExecutor.Run"
	key := string(cmd.PackageID) + ";;" + cmd.Program
	if err := cmd.Validate(); err != nil {
		return Outcome{}, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, &consign.Error{Op: op, Key: key, Err: err}
	}
	s.mu.Lock()
	k := simKey{cmd.PackageID, cmd.Program}
	script, ok := s.scripts[k]
	so := s.def
	if ok {
		so = script[0]
		if len(script) > 1 {
			s.scripts[k] = script[1:]
		}
	}
	code := so.ExitCode
	if so.FailureRate > 0 && s.rng.Float64() < so.FailureRate {
		code = so.FailureCode
		if code == 0 {
			code = DefaultSimFailureCode
		}
	}
	s.runs = append(s.runs, cmd)
	s.mu.Unlock()

	if so.StartErr != nil {
		return Outcome{}, consign.Errorf(consign.ErrFailedPrecondition, op, key, "starting %q: %w", cmd.CommandLine, so.StartErr)
	}
	o := Outcome{ExitCode: code, Started: s.now(), Output: []byte(so.Output)}
	d := so.Duration
	if limit := cmd.limit(); d > limit {
		d, o.TimedOut, o.ExitCode = limit, true, -1
	}
	if err := s.sleep(ctx, d); err != nil {
		o.Ended, o.ExitCode, o.TimedOut, o.Cancelled = s.now(), -1, false, true
		return o, &consign.Error{Op: op, Key: key, Err: err}
	}
	o.Ended = s.now()
	return o, nil
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SimClock is a clock that moves only when told: Sleep advances it
// instantly instead of waiting. Use its Now and Sleep methods for
// SimOptions and its Now for CacheOptions.Clock. It is safe for concurrent
// use; concurrent sleepers each advance it by their own duration.
type SimClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewSimClock returns a SimClock reading start.
func NewSimClock(start time.Time) *SimClock { return &SimClock{t: start} }

// Now returns the clock's time.
func (c *SimClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d (a negative d is ignored).
func (c *SimClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep advances the clock by d and returns at once, or returns ctx.Err()
// without advancing when ctx is already done.
func (c *SimClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
