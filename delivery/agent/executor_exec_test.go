//go:build unix

package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

func TestExecExecutorExitCodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "setup.sh"), []byte("echo installing \"$1\" in \"$PWD\"; echo oops >&2; exit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		line   string
		env    []string
		code   int
		event  advertisement.Event
		output string
	}{
		{"success", `./setup.sh "my app"`, nil, 0, advertisement.EventSucceeded, "installing my app in " + dir + "\noops\n"},
		{"failure", "exit 2", nil, 2, advertisement.EventFailed, ""},
		// Unix truncates exit statuses to 8 bits: 3010 arrives as 194, a
		// failure, and 1603 as 67, a retry code.
		{"3010 truncated by Unix", "exit 3010", nil, 3010 & 0xff, advertisement.EventFailed, ""},
		{"1603 truncated by Unix", "exit 1603", nil, 1603 & 0xff, advertisement.EventRetrying, ""},
		{"1603 through the exit-code file", `echo 1603 > "$` + ExitCodeFileEnv + `"; exit 1`, nil, 1603, advertisement.EventFailed, ""},
		{"3010 through the exit-code file", `echo 3010 > "$` + ExitCodeFileEnv + `"; exit 0`, nil, 3010, advertisement.EventRestartPending, ""},
		{"exit-code file with junk is ignored", `echo junk > "$` + ExitCodeFileEnv + `"; exit 5`, nil, 5, advertisement.EventRetrying, ""},
		{"environment", `printf %s "$PKG_MODE"; exit 0`, []string{"PKG_MODE=quiet"}, 0, advertisement.EventSucceeded, "quiet"},
	}
	var x ExecExecutor
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := Command{PackageID: "CEN00001", Program: "Install", CommandLine: tt.line, WorkingDir: dir, MaxRunTime: 10 * time.Second, Env: tt.env}
			o, err := x.Run(context.Background(), cmd)
			if err != nil {
				t.Fatal(err)
			}
			if o.ExitCode != tt.code || o.TimedOut || o.Cancelled {
				t.Errorf("outcome %+v; want exit code %d", o, tt.code)
			}
			if got := o.Event(advertisement.DefaultExitCodes(), pkg.ConfigMgrRestarts); got != tt.event {
				t.Errorf("event %v; want %v", got, tt.event)
			}
			if tt.output != "" && string(o.Output) != tt.output {
				t.Errorf("output %q; want %q", o.Output, tt.output)
			}
			if o.Started.IsZero() || o.Ended.Before(o.Started) {
				t.Errorf("times %v..%v", o.Started, o.Ended)
			}
		})
	}
}

func TestExecExecutorMaxRunTime(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "survived")
	// The shell starts a child that would leave a marker after a second:
	// killing the process group must stop it too.
	line := `(sleep 1; touch ` + marker + `) & sleep 5; exit 0`
	var x ExecExecutor
	start := time.Now()
	o, err := x.Run(context.Background(), Command{CommandLine: line, WorkingDir: dir, MaxRunTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("run took %v with a 200ms limit", el)
	}
	if !o.TimedOut || o.Cancelled || o.ExitCode != -1 || o.Duration() < 200*time.Millisecond {
		t.Errorf("outcome %+v; want TimedOut after at least 200ms, exit code -1", o)
	}
	if got := o.Event(advertisement.ExitCodes{}, pkg.NoActionRequired); got != advertisement.EventExceededTime {
		t.Errorf("event %v; want ExceededTime", got)
	}
	time.Sleep(1200 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("a process the program started outlived the kill")
	}
}

func TestExecExecutorCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var x ExecExecutor
	start := time.Now()
	o, err := x.Run(ctx, Command{CommandLine: "sleep 5", WorkingDir: t.TempDir(), MaxRunTime: time.Minute})
	if !errors.Is(err, context.Canceled) || !o.Cancelled || o.TimedOut {
		t.Fatalf("Run = %+v, %v; want Cancelled and context.Canceled", o, err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("cancelled run took %v", el)
	}
	if _, err := x.Run(ctx, Command{CommandLine: "true"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a done context = %v; want context.Canceled", err)
	}
}

func TestExecExecutorStartFailures(t *testing.T) {
	var x ExecExecutor
	_, err := x.Run(context.Background(), Command{CommandLine: "true", WorkingDir: filepath.Join(t.TempDir(), "missing")})
	if !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("missing working directory: %v; want ErrFailedPrecondition", err)
	}
	_, err = (&ExecExecutor{Shell: []string{"/no/such/shell", "-c"}}).Run(context.Background(), Command{CommandLine: "true"})
	if !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("missing shell: %v; want ErrFailedPrecondition", err)
	}
	if _, err := x.Run(context.Background(), Command{}); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("empty command: %v; want ErrInvalid", err)
	}
}

func TestExecExecutorOutputTail(t *testing.T) {
	x := ExecExecutor{OutputLimit: 10}
	o, err := x.Run(context.Background(), Command{CommandLine: `i=0; while [ $i -lt 50 ]; do printf '%02d' $i; i=$((i+1)); done`, WorkingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Output) != "4546474849" || !o.OutputTruncated {
		t.Errorf("output %q, truncated %v; want the last 10 bytes, truncated", o.Output, o.OutputTruncated)
	}
	x.OutputLimit = -1
	o, err = x.Run(context.Background(), Command{CommandLine: "echo hello", WorkingDir: t.TempDir()})
	if err != nil || len(o.Output) != 0 || !o.OutputTruncated {
		t.Errorf("OutputLimit -1: %q, %v, %v; want no output, truncated", o.Output, o.OutputTruncated, err)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		limit  int
		writes []string
		want   string
		trunc  bool
	}{
		{5, []string{"ab", "cd"}, "abcd", false},
		{5, []string{"abcde"}, "abcde", false},
		{5, []string{"abc", "def"}, "bcdef", true},
		{5, []string{"abcdefgh"}, "defgh", true},
		{5, []string{"ab", "cdefghijkl", "m"}, "ijklm", true},
		{3, []string{"a", "b", "c", "d", "e", "f", "g"}, "efg", true},
		{4, []string{"abcdef", "gh", "ijklmnop", "q"}, "nopq", true},
	}
	for _, tt := range tests {
		tl := newTail(tt.limit)
		var all bytes.Buffer
		for _, w := range tt.writes {
			n, err := tl.Write([]byte(w))
			if n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			all.WriteString(w)
		}
		got, trunc := tl.bytes()
		if string(got) != tt.want || trunc != tt.trunc || !strings.HasSuffix(all.String(), string(got)) {
			t.Errorf("tail(%d) of %q = %q, %v; want %q, %v", tt.limit, tt.writes, got, trunc, tt.want, tt.trunc)
		}
	}
}
