package agent

import (
	"context"
	"path/filepath"
	"strconv"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

// Executor runs programs (§3.5). ExecExecutor runs real processes;
// SimExecutor scripts outcomes for tests and simulated fleets.
//
// # Contract for implementations
//
//   - Run is safe for concurrent use.
//   - A Command that fails Validate gives an error matching
//     consign.ErrInvalid, and nothing runs.
//   - A program that ran and exited, with any exit code, is an Outcome and
//     a nil error: a non-zero exit is the program's result, not the
//     executor's failure.
//   - A program still running after Command.MaxRunTime is stopped and
//     reported with Outcome.TimedOut, and a nil error.
//   - When ctx is cancelled while the program runs, the program is
//     stopped and Run returns an Outcome with Cancelled set and an error
//     wrapping ctx.Err(). When ctx is done before it starts, nothing runs
//     and Run returns a zero Outcome and an error wrapping ctx.Err().
//   - A program that could not be started (no such working directory, no
//     shell) gives an error and a zero Outcome.
type Executor interface {
	Run(ctx context.Context, cmd Command) (Outcome, error)
}

// Command is one program run.
type Command struct {
	PackageID consign.ObjectID // the program's package, for logs and scripting
	Program   string           // the program's name
	// CommandLine is run by the platform's shell (see ExecExecutor).
	CommandLine string
	// WorkingDir is where the program starts: the package's content
	// directory in the cache, or the program's "Start in" under it. Empty
	// means the agent's own working directory.
	WorkingDir string
	// MaxRunTime is the monitoring limit (Program.MonitoringLimit). Zero
	// means pkg.UnknownRunTimeLimit (720 minutes), ConfigMgr's limit for a
	// program whose run time is Unknown.
	MaxRunTime time.Duration
	// Env holds "KEY=value" entries added to the agent's environment;
	// later entries win.
	Env []string
}

// CommandFor returns the Command that runs program p from contentDir, the
// package's content directory: p's command line, its "Start in" directory
// resolved against contentDir (contentDir itself when empty; an absolute
// one as it is), and its monitoring limit.
func CommandFor(p *pkg.Program, contentDir string) Command {
	wd := contentDir
	if p.WorkingDirectory != "" {
		if filepath.IsAbs(p.WorkingDirectory) {
			wd = p.WorkingDirectory
		} else {
			wd = filepath.Join(contentDir, filepath.FromSlash(p.WorkingDirectory))
		}
	}
	return Command{
		PackageID: p.PackageID, Program: p.Name, CommandLine: p.CommandLine,
		WorkingDir: wd, MaxRunTime: p.MonitoringLimit(),
	}
}

// Validate reports every problem with c.
func (c Command) Validate() error {
	var ps consign.Problems
	ps.Check(c.CommandLine != "", "Command.CommandLine", "required")
	if c.MaxRunTime < 0 {
		ps.AddValue("Command.MaxRunTime", c.MaxRunTime, "0 (Unknown: 720 minutes) or more")
	}
	for i, kv := range c.Env {
		if !validEnv(kv) {
			ps.AddValue("Command.Env["+strconv.Itoa(i)+"]", kv, `"KEY=value" with a non-empty KEY`)
		}
	}
	return ps.Err()
}

// limit returns the monitoring limit of c.
func (c Command) limit() time.Duration {
	if c.MaxRunTime <= 0 {
		return pkg.UnknownRunTimeLimit
	}
	return c.MaxRunTime
}

func validEnv(kv string) bool {
	for i := 0; i < len(kv); i++ {
		switch kv[i] {
		case '=':
			return i > 0
		case 0:
			return false
		}
	}
	return false
}

// Outcome is how a run ended.
type Outcome struct {
	// ExitCode is the program's exit code; -1 when it was stopped (TimedOut
	// or Cancelled) or killed by a signal.
	ExitCode int
	// Started and Ended bound the run.
	Started, Ended time.Time
	// TimedOut: the program was still running at MaxRunTime and was
	// stopped ("exceeded allowed time", §3.5).
	TimedOut bool
	// Cancelled: the run was stopped because its context was cancelled
	// (the agent is shutting down, or the advertisement went away).
	Cancelled bool
	// Output is the tail of what the program wrote to standard output and
	// standard error, interleaved; OutputTruncated says earlier output was
	// dropped.
	Output          []byte
	OutputTruncated bool
}

// Duration returns how long the run took.
func (o Outcome) Duration() time.Duration { return o.Ended.Sub(o.Started) }

// Event returns the status event the agent reports for o (§3.5, §4.2):
//
//   - TimedOut: advertisement.EventExceededTime (Failed);
//   - Cancelled: advertisement.EventCancelled;
//   - otherwise by codes.Classify(o.ExitCode): success gives
//     EventSucceeded; success with a restart required gives
//     EventRestartPending when a restart is coming (after is
//     pkg.ConfigMgrRestarts or pkg.ProgramRestarts) and EventSucceeded
//     otherwise ("No action required" leaves the restart to the user and
//     counts the run as a success); a retry code gives EventRetrying; any
//     other code EventFailed.
//
// Codes with all three lists empty mean advertisement.DefaultExitCodes(),
// so the zero ExitCodes does not turn exit code 0 into a failure.
func (o Outcome) Event(codes advertisement.ExitCodes, after pkg.AfterRunning) advertisement.Event {
	switch {
	case o.TimedOut:
		return advertisement.EventExceededTime
	case o.Cancelled:
		return advertisement.EventCancelled
	}
	if len(codes.Success) == 0 && len(codes.Restart) == 0 && len(codes.Retry) == 0 {
		codes = advertisement.DefaultExitCodes()
	}
	switch codes.Classify(o.ExitCode) {
	case advertisement.ExitSuccess:
		return advertisement.EventSucceeded
	case advertisement.ExitSuccessRestart:
		if after == pkg.ConfigMgrRestarts || after == pkg.ProgramRestarts {
			return advertisement.EventRestartPending
		}
		return advertisement.EventSucceeded
	case advertisement.ExitRetry:
		return advertisement.EventRetrying
	}
	return advertisement.EventFailed
}
