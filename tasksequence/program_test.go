package tasksequence_test

import (
	"testing"
	"time"

	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

func TestProgramRunTime(t *testing.T) {
	run := func(name string, timeout time.Duration) tasksequence.Step {
		return tasksequence.Step{Name: name, Timeout: timeout, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "x"}}
	}
	for _, tc := range []struct {
		name    string
		steps   []tasksequence.Step
		bound   time.Duration
		bounded bool
		minutes int
	}{
		{"empty", nil, 0, true, 0},
		{"every action timed", []tasksequence.Step{run("a", 10*time.Minute),
			{Name: "g", Group: &tasksequence.Group{Steps: []tasksequence.Step{run("b", 90*time.Second)}}}}, 11*time.Minute + 30*time.Second, true, 12},
		{"a restart waits its notify time-out", []tasksequence.Step{run("a", time.Minute), {Name: "r", Restart: &tasksequence.RestartComputer{}}},
			time.Minute + tasksequence.DefaultNotifyTimeout, true, 2},
		{"variables and disabled steps cost nothing", []tasksequence.Step{run("a", time.Minute),
			{Name: "v", SetVariable: &tasksequence.SetVariable{Name: "X"}}, {Name: "off", Disabled: true, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "x"}}},
			time.Minute, true, 1},
		{"an action without a timeout: unknown", []tasksequence.Step{run("a", time.Minute), run("b", 0)}, time.Minute, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &tasksequence.Sequence{Steps: tc.steps}
			d, ok := s.MaxRunTime()
			if d != tc.bound || ok != tc.bounded {
				t.Errorf("MaxRunTime = %v, %v; want %v, %v", d, ok, tc.bound, tc.bounded)
			}
			p := s.Program("CEN00001")
			if p.MaxRunTime != tc.minutes || p.Name != tasksequence.ProgramName || p.RunMode != pkg.RunWithAdminRights ||
				p.Logon != pkg.EitherLogon || !p.AnyPlatform || p.Flags() != tasksequence.DefaultProgramFlags {
				t.Errorf("Program = %+v (flags %v); want MaxRunTime %d, the default task sequence flags", p, p.Flags(), tc.minutes)
			}
		})
	}
}
