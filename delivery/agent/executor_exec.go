package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign"
)

// DefaultOutputLimit is how many bytes of a program's output ExecExecutor
// keeps (the last ones) when OutputLimit is zero.
const DefaultOutputLimit = 64 << 10

// DefaultWaitDelay is how long ExecExecutor waits, once the program has
// exited or been stopped, for processes it left behind to close its output,
// when WaitDelay is zero.
const DefaultWaitDelay = 2 * time.Second

// ExitCodeFileEnv names the environment variable through which ExecExecutor
// tells a program the path of a file it may write its exit code to, as
// decimal text. Unix truncates exit statuses to 8 bits, so a program there
// cannot exit with 3010 ("restart required") or 1641; writing "3010" to
// this file reports it. The file is read only when the program exited by
// itself; empty or unparsable content is ignored.
const ExitCodeFileEnv = "CONSIGN_EXIT_CODE_FILE"

// ExecExecutor runs programs as operating-system processes. The zero value
// is ready to use.
//
// The command line is handed to the platform's shell, as ConfigMgr hands it
// to Windows: "/bin/sh -c <command line>" on Unix, "cmd /c <command line>"
// on Windows (see Shell), so quoting, redirections and "&&" work as the
// package author expects. The program starts in Command.WorkingDir with the
// agent's environment plus Command.Env and ExitCodeFileEnv, in a process
// group of its own.
//
// # Max run time
//
// When the program is still running at Command.MaxRunTime, or ctx is
// cancelled, its whole process group is killed (SIGKILL on Unix; "taskkill
// /T /F" on Windows) and Run reports TimedOut (or Cancelled). ConfigMgr
// instead stops monitoring and leaves the program running (§3.5); an agent
// library that did so would leak processes and let a hung installer block
// the next one, so this executor ends it. Either way the run is reported as
// failed (advertisement.EventExceededTime).
type ExecExecutor struct {
	// Shell is the program and arguments the command line is appended to.
	// Nil means {"/bin/sh", "-c"} on Unix and {"cmd", "/c"} on Windows.
	Shell []string
	// OutputLimit is how many bytes of output Outcome.Output keeps, the
	// last ones. Zero means DefaultOutputLimit; negative keeps none.
	OutputLimit int
	// WaitDelay bounds the wait for the program's output once it has
	// exited or been killed, in case a process it started keeps the output
	// open. Zero means DefaultWaitDelay.
	WaitDelay time.Duration
}

var _ Executor = (*ExecExecutor)(nil)

// Run runs cmd and waits for it to end (see Executor). A program that
// cannot be started (a missing working directory, no shell) gives an error
// matching consign.ErrFailedPrecondition.
func (x *ExecExecutor) Run(ctx context.Context, cmd Command) (Outcome, error) {
	const op = "agent.ExecExecutor.Run"
	key := string(cmd.PackageID) + ";;" + cmd.Program
	if err := cmd.Validate(); err != nil {
		return Outcome{}, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: key, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, &consign.Error{Op: op, Key: key, Err: err}
	}
	shell := x.Shell
	if len(shell) == 0 {
		shell = defaultShell
	}
	limit := x.OutputLimit
	if limit == 0 {
		limit = DefaultOutputLimit
	}
	wait := x.WaitDelay
	if wait <= 0 {
		wait = DefaultWaitDelay
	}

	exitFile, err := os.CreateTemp("", "consign-exit-*")
	if err != nil {
		return Outcome{}, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: key, Err: err}
	}
	exitPath := exitFile.Name()
	exitFile.Close()
	defer os.Remove(exitPath)

	runCtx, cancel := context.WithTimeout(ctx, cmd.limit())
	defer cancel()
	c := exec.CommandContext(runCtx, shell[0])
	setCommandLine(c, shell, cmd.CommandLine)
	c.Dir = cmd.WorkingDir
	c.Env = append(append(os.Environ(), cmd.Env...), ExitCodeFileEnv+"="+exitPath)
	out := newTail(limit)
	c.Stdout, c.Stderr = out, out
	newProcessGroup(c)
	var stopped atomic.Bool
	c.Cancel = func() error {
		stopped.Store(true)
		return killProcessGroup(c)
	}
	c.WaitDelay = wait

	started := time.Now()
	if err := c.Start(); err != nil {
		return Outcome{}, consign.Errorf(consign.ErrFailedPrecondition, op, key, "starting %q in %q: %w", cmd.CommandLine, cmd.WorkingDir, err)
	}
	waitErr := c.Wait()
	o := Outcome{Started: started, Ended: time.Now()}
	o.Output, o.OutputTruncated = out.bytes()
	ps := c.ProcessState
	if ps == nil {
		return Outcome{}, consign.Errorf(consign.ErrUnavailable, op, key, "waiting for %q: %w", cmd.CommandLine, waitErr)
	}
	if stopped.Load() && !exitedByItself(ps) {
		o.ExitCode = -1
		if err := ctx.Err(); err != nil {
			o.Cancelled = true
			return o, &consign.Error{Op: op, Key: key, Err: fmt.Errorf("stopped %q: %w", cmd.CommandLine, err)}
		}
		o.TimedOut = true
		return o, nil
	}
	o.ExitCode = ps.ExitCode()
	if ps.Exited() {
		if b, err := os.ReadFile(exitPath); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				o.ExitCode = v
			}
		}
	}
	// Any other waitErr is exec.ErrWaitDelay (a process the program started
	// kept its output open) or *exec.ExitError (a non-zero exit, already in
	// ExitCode): neither changes the result.
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return o, consign.Errorf(consign.ErrUnavailable, op, key, "waiting for %q: %w", cmd.CommandLine, waitErr)
	}
	return o, nil
}

// tail keeps the last n bytes written to it; it is safe for concurrent use.
type tail struct {
	mu        sync.Mutex
	buf       []byte // ring of capacity n
	start     int    // index of the oldest byte once full
	full      bool
	truncated bool
}

func newTail(n int) *tail {
	return &tail{buf: make([]byte, 0, max(n, 0))}
}

// Write keeps the end of p; it never fails.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	size := cap(t.buf)
	if size == 0 {
		t.truncated = t.truncated || n > 0
		return n, nil
	}
	if len(p) > size {
		p = p[len(p)-size:]
		t.truncated = true
	}
	if !t.full {
		room := size - len(t.buf)
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.full = true
		t.start = 0
	}
	t.truncated = t.truncated || len(p) > 0
	for len(p) > 0 {
		c := copy(t.buf[t.start:], p)
		p = p[c:]
		t.start = (t.start + c) % size
	}
	return n, nil
}

// bytes returns a copy of what is kept, oldest first, and whether anything
// was dropped.
func (t *tail) bytes() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]byte(nil), t.buf...), t.truncated
	}
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.start:]...)
	out = append(out, t.buf[:t.start]...)
	return out, t.truncated
}
