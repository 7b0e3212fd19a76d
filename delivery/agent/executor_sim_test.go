package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

func simCmd(program string, max time.Duration) Command {
	return Command{PackageID: "CEN00001", Program: program, CommandLine: program + ".exe", MaxRunTime: max}
}

func TestSimExecutorScripts(t *testing.T) {
	clk := NewSimClock(t0)
	x := NewSimExecutor(&SimOptions{Now: clk.Now, Sleep: clk.Sleep, Default: SimOutcome{ExitCode: 0, Duration: time.Minute}})
	x.Script("CEN00001", "Install",
		SimOutcome{ExitCode: 1618, Duration: 2 * time.Minute},               // another install running: retry
		SimOutcome{ExitCode: 3010, Duration: 5 * time.Minute, Output: "ok"}, // then success, restart
	)
	x.Script("CEN00001", "Hang", SimOutcome{ExitCode: 0, Duration: 3 * time.Hour})
	x.Script("CEN00001", "Broken", SimOutcome{StartErr: errors.New("file not found")})

	tests := []struct {
		program  string
		max      time.Duration
		code     int
		dur      time.Duration
		timedOut bool
		event    advertisement.Event
	}{
		{"Install", time.Hour, 1618, 2 * time.Minute, false, advertisement.EventRetrying},
		{"Install", time.Hour, 3010, 5 * time.Minute, false, advertisement.EventRestartPending},
		{"Install", time.Hour, 3010, 5 * time.Minute, false, advertisement.EventRestartPending}, // the last repeats
		{"Other", time.Hour, 0, time.Minute, false, advertisement.EventSucceeded},               // the default
		{"Hang", 2 * time.Hour, -1, 2 * time.Hour, true, advertisement.EventExceededTime},
		{"Hang", 0, 0, 3 * time.Hour, false, advertisement.EventSucceeded}, // Unknown: 720 minutes
	}
	for i, tt := range tests {
		start := clk.Now()
		o, err := x.Run(context.Background(), simCmd(tt.program, tt.max))
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if o.ExitCode != tt.code || o.TimedOut != tt.timedOut || o.Duration() != tt.dur || !o.Started.Equal(start) {
			t.Errorf("run %d (%s): %+v; want exit %d after %v, timed out %v", i, tt.program, o, tt.code, tt.dur, tt.timedOut)
		}
		if got := o.Event(advertisement.DefaultExitCodes(), pkg.ConfigMgrRestarts); got != tt.event {
			t.Errorf("run %d (%s): event %v; want %v", i, tt.program, got, tt.event)
		}
	}
	if _, err := x.Run(context.Background(), simCmd("Broken", time.Hour)); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("scripted start failure: %v; want ErrFailedPrecondition", err)
	}
	if _, err := x.Run(context.Background(), Command{}); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("invalid command: %v; want ErrInvalid", err)
	}
	if n := len(x.Runs()); n != len(tests)+1 {
		t.Errorf("%d runs recorded; want %d", n, len(tests)+1)
	}
	x.Script("CEN00001", "Install")
	if o, _ := x.Run(context.Background(), simCmd("Install", time.Hour)); o.ExitCode != 0 {
		t.Errorf("after removing the script: exit %d; want the default 0", o.ExitCode)
	}
}

func TestSimExecutorFailureRate(t *testing.T) {
	run := func(seed uint64) (fails int, codes []int) {
		clk := NewSimClock(t0)
		x := NewSimExecutor(&SimOptions{Seed: seed, Now: clk.Now, Sleep: clk.Sleep,
			Default: SimOutcome{ExitCode: 0, FailureRate: 0.25}})
		for range 2000 {
			o, err := x.Run(context.Background(), simCmd("Install", time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, o.ExitCode)
			switch o.ExitCode {
			case DefaultSimFailureCode:
				fails++
			case 0:
			default:
				t.Fatalf("exit code %d", o.ExitCode)
			}
		}
		return fails, codes
	}
	f1, c1 := run(42)
	f2, c2 := run(42)
	if f1 != f2 || len(c1) != len(c2) {
		t.Fatalf("same seed, different runs: %d vs %d failures", f1, f2)
	}
	for i := range c1 {
		if c1[i] != c2[i] {
			t.Fatalf("same seed, run %d differs: %d vs %d", i, c1[i], c2[i])
		}
	}
	if f1 < 400 || f1 > 600 {
		t.Errorf("%d failures in 2000 runs at rate 0.25; want about 500", f1)
	}
	if f3, _ := run(43); f3 == f1 {
		t.Logf("seeds 42 and 43 gave the same failure count %d (possible, unlikely)", f1)
	}
}

func TestSimExecutorCancel(t *testing.T) {
	// Real sleeping: cancellation must interrupt it.
	x := NewSimExecutor(&SimOptions{Default: SimOutcome{Duration: time.Minute}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	o, err := x.Run(ctx, simCmd("Install", time.Hour))
	if !errors.Is(err, context.DeadlineExceeded) || !o.Cancelled || o.ExitCode != -1 {
		t.Fatalf("Run = %+v, %v; want Cancelled", o, err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("cancellation took %v", time.Since(start))
	}
	if _, err := x.Run(ctx, simCmd("Install", time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with a done context = %v", err)
	}
	clk := NewSimClock(t0)
	if err := clk.Sleep(ctx, time.Hour); err == nil || !clk.Now().Equal(t0) {
		t.Errorf("SimClock.Sleep with a done context = %v, now %v", err, clk.Now())
	}
}

func TestSimExecutorConcurrent(t *testing.T) {
	clk := NewSimClock(t0)
	x := NewSimExecutor(&SimOptions{Seed: 1, Now: clk.Now, Sleep: clk.Sleep, Default: SimOutcome{Duration: time.Second, FailureRate: 0.5}})
	x.Script("CEN00001", "A", SimOutcome{ExitCode: 1}, SimOutcome{ExitCode: 2}, SimOutcome{ExitCode: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	for range 8 {
		wg.Go(func() {
			for range 20 {
				o, err := x.Run(context.Background(), simCmd("A", time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[o.ExitCode]++
				mu.Unlock()
				if _, err := x.Run(context.Background(), simCmd("B", time.Hour)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if seen[1] != 1 || seen[2] != 1 || seen[3] != 158 {
		t.Errorf("exit codes %v; want 1 and 2 once each, then 3 repeated", seen)
	}
	if n := len(x.Runs()); n != 320 {
		t.Errorf("%d runs recorded; want 320", n)
	}
	if got := clk.Now().Sub(t0); got != 160*time.Second {
		t.Errorf("clock advanced %v; want 160s (B runs take 1s, A runs 0)", got)
	}
}
