package agent

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

func TestOutcomeEvent(t *testing.T) {
	defaults := advertisement.DefaultExitCodes()
	custom := advertisement.ExitCodes{Success: []int{0, 1707}, Restart: []int{3010}, Retry: []int{1618}}
	tests := []struct {
		name  string
		o     Outcome
		codes advertisement.ExitCodes
		after pkg.AfterRunning
		want  advertisement.Event
	}{
		{"success", Outcome{ExitCode: 0}, defaults, pkg.NoActionRequired, advertisement.EventSucceeded},
		{"zero ExitCodes means the defaults", Outcome{ExitCode: 0}, advertisement.ExitCodes{}, pkg.NoActionRequired, advertisement.EventSucceeded},
		{"zero ExitCodes, 1618 retries", Outcome{ExitCode: 1618}, advertisement.ExitCodes{}, pkg.NoActionRequired, advertisement.EventRetrying},
		{"3010, no action required: success, restart left pending", Outcome{ExitCode: 3010}, defaults, pkg.NoActionRequired, advertisement.EventSucceeded},
		{"3010, ConfigMgr restarts", Outcome{ExitCode: 3010}, defaults, pkg.ConfigMgrRestarts, advertisement.EventRestartPending},
		{"1641, program restarts", Outcome{ExitCode: 1641}, defaults, pkg.ProgramRestarts, advertisement.EventRestartPending},
		{"3010, ConfigMgr logs off", Outcome{ExitCode: 3010}, defaults, pkg.ConfigMgrLogsOff, advertisement.EventSucceeded},
		{"retry code", Outcome{ExitCode: 1618}, defaults, pkg.NoActionRequired, advertisement.EventRetrying},
		{"failure", Outcome{ExitCode: 1603}, defaults, pkg.ConfigMgrRestarts, advertisement.EventFailed},
		{"killed by a signal", Outcome{ExitCode: -1}, defaults, pkg.NoActionRequired, advertisement.EventFailed},
		{"custom success", Outcome{ExitCode: 1707}, custom, pkg.NoActionRequired, advertisement.EventSucceeded},
		{"custom lists drop the defaults", Outcome{ExitCode: 1641}, custom, pkg.ConfigMgrRestarts, advertisement.EventFailed},
		{"timed out", Outcome{ExitCode: -1, TimedOut: true}, defaults, pkg.NoActionRequired, advertisement.EventExceededTime},
		{"timed out wins over exit code 0", Outcome{ExitCode: 0, TimedOut: true}, defaults, pkg.NoActionRequired, advertisement.EventExceededTime},
		{"cancelled", Outcome{ExitCode: -1, Cancelled: true}, defaults, pkg.NoActionRequired, advertisement.EventCancelled},
	}
	for _, tt := range tests {
		if got := tt.o.Event(tt.codes, tt.after); got != tt.want {
			t.Errorf("%s: Event = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestCommandFor(t *testing.T) {
	content := filepath.FromSlash("/cache/CEN00001.3")
	p := pkg.NewProgram("CEN00001", "Install", `msiexec /i app.msi /qn`)
	c := CommandFor(p, content)
	if c.PackageID != "CEN00001" || c.Program != "Install" || c.CommandLine != p.CommandLine ||
		c.WorkingDir != content || c.MaxRunTime != 120*time.Minute {
		t.Errorf("CommandFor(default program) = %+v", c)
	}
	p.WorkingDirectory = "bin/x64"
	p.MaxRunTime = 0
	c = CommandFor(p, content)
	if c.WorkingDir != filepath.Join(content, "bin", "x64") || c.MaxRunTime != pkg.UnknownRunTimeLimit {
		t.Errorf("CommandFor(Start in bin/x64, Unknown run time) = %+v", c)
	}
	abs := filepath.Join(t.TempDir(), "work")
	p.WorkingDirectory = abs
	if c = CommandFor(p, content); c.WorkingDir != abs {
		t.Errorf("absolute Start in: WorkingDir %q; want %q", c.WorkingDir, abs)
	}
}

func TestCommandValidate(t *testing.T) {
	tests := []struct {
		c     Command
		field string // "" = valid
	}{
		{Command{CommandLine: "setup.exe"}, ""},
		{Command{CommandLine: "setup.exe", Env: []string{"A=1", "B="}}, ""},
		{Command{}, "Command.CommandLine"},
		{Command{CommandLine: "x", MaxRunTime: -time.Second}, "Command.MaxRunTime"},
		{Command{CommandLine: "x", Env: []string{"A=1", "=1"}}, "Command.Env[1]"},
		{Command{CommandLine: "x", Env: []string{"NOEQUALS"}}, "Command.Env[0]"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tt.c, err)
			}
			continue
		}
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("Validate(%+v) = %v; want a problem with %s", tt.c, err, tt.field)
		}
	}
}
