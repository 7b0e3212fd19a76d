package tasksequence

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Variables the engine sets (§1.10); names are case-insensitive.
const (
	// VarLastActionRetCode holds the exit code of the last action run.
	VarLastActionRetCode = "_SMSTSLastActionRetCode"
	// VarLastActionSucceeded is "true" or "false" after each action run;
	// skipped steps leave it as it was.
	VarLastActionSucceeded = "_SMSTSLastActionSucceeded"
	// VarCurrentActionName is the name of the action being run.
	VarCurrentActionName = "_SMSTSCurrentActionName"
)

// StepState is how a step of a run ended.
type StepState int

// Step states.
const (
	// StepSucceeded: the action succeeded, or every step of the group
	// succeeded or failed with ContinueOnError.
	StepSucceeded StepState = iota + 1
	// StepFailed: the action failed, or a step of the group failed without
	// ContinueOnError. StepResult.Continued says whether the sequence went
	// on past it.
	StepFailed
	// StepSkippedDisabled: the step (a group: with every step in it) is
	// disabled and did not run.
	StepSkippedDisabled
	// StepSkippedCondition: the step's condition was false; it (a group:
	// every step in it) did not run.
	StepSkippedCondition
)

var stepStateNames = [...]string{"invalid", "Succeeded", "Failed", "SkippedDisabled", "SkippedCondition"}

// String returns the state's name.
func (s StepState) String() string {
	if s < 0 || int(s) >= len(stepStateNames) {
		return fmt.Sprintf("StepState(%d)", int(s))
	}
	return stepStateNames[s]
}

// ParseStepState parses a state's name as String writes it.
func ParseStepState(s string) (StepState, error) {
	for i, n := range stepStateNames[1:] {
		if n == s {
			return StepState(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown step state %q", s)
}

// StepResult is how one step of a run ended. Steps skipped because a step
// before them failed their group have no result: they were never reached.
type StepResult struct {
	Path Path
	Name string
	Kind Kind
	// State is how it ended.
	State StepState
	// ExitCode is the action's exit code (0 for groups and skipped steps).
	ExitCode int
	// Continued is set on a failed step with ContinueOnError: the sequence
	// went on with the step after it.
	Continued bool
	// Detail says more, for people.
	Detail string
}

// Outcome is how an action the agent ran ended, for Complete.
type Outcome struct {
	Succeeded bool
	ExitCode  int
	// Restart asks for a restart before the next step: an Install Software
	// program, or an update the Install Software Updates step installed,
	// exiting with a restart code (§1.10, §3.5). The run waits in
	// RestartPending until Resume.
	Restart bool
	Detail  string
}

// Run is one execution of a sequence on one device: the whole state of
// the task sequence engine, so that an agent that saves it (it encodes as
// JSON) can resume it in another process.
//
// The agent drives it: Next returns the next action to run (evaluating
// conditions, skipping disabled steps and running Set Task Sequence
// Variable steps itself); the agent saves the Run, runs the action and
// hands its Outcome to Complete, and saves again. A Run saved between Next
// and Complete records the action as Current. When the agent starts again
// and finds a saved Run, it calls Resume:
//   - after a Restart Computer step, or a restart a completed Install
//     Software step asked for, the run goes on with the next step;
//   - any other action that was Current never reported its outcome (the
//     device or the agent stopped while it ran): it is recorded as failed
//     and handled like any failure, never started again.
//
// So no action ever runs twice, whatever the interruption.
type Run struct {
	Sequence Sequence
	// Variables are the task sequence variables by upper-case name:
	// variables are case-insensitive. Use Variable and SetVariable.
	Variables map[string]string
	// Cursor is the next step to consider.
	Cursor Path
	// Current is the action Next handed out and Complete has not yet
	// taken; nil when none.
	Current Path
	// RestartPending says the last completed action asked for a restart
	// that has not happened yet; Next returns nothing until Resume.
	RestartPending bool
	// Results are the steps' results in the order they ended (a group's
	// after its steps').
	Results []StepResult
	// Done is set when the run has ended; Failed when it ended because a
	// step failed without ContinueOnError in every group up to the top.
	Done, Failed bool
}

// NewRun starts a run of seq with the given initial variables (for
// example the advertisement's and package's IDs); seq is copied.
func NewRun(seq *Sequence, vars map[string]string) *Run {
	r := &Run{Sequence: *seq.Clone(), Variables: make(map[string]string, len(vars)+3), Cursor: Path{0}}
	for k, v := range vars {
		r.SetVariable(k, v)
	}
	return r
}

// Clone returns a deep copy of s.
func (s *Sequence) Clone() *Sequence {
	return &Sequence{SchemaVersion: s.SchemaVersion, Steps: cloneSteps(s.Steps)}
}

func cloneSteps(steps []Step) []Step {
	if steps == nil {
		return nil
	}
	out := make([]Step, len(steps))
	for i, st := range steps {
		c := st
		if st.Condition != nil {
			c.Condition = cloneCondition(st.Condition)
		}
		if st.Group != nil {
			c.Group = &Group{Steps: cloneSteps(st.Group.Steps)}
		}
		if st.InstallSoftware != nil {
			v := *st.InstallSoftware
			c.InstallSoftware = &v
		}
		if st.InstallUpdates != nil {
			v := *st.InstallUpdates
			c.InstallUpdates = &v
		}
		if st.RunCommandLine != nil {
			v := *st.RunCommandLine
			v.SuccessCodes = slices.Clone(v.SuccessCodes)
			c.RunCommandLine = &v
		}
		if st.Restart != nil {
			v := *st.Restart
			c.Restart = &v
		}
		if st.SetVariable != nil {
			v := *st.SetVariable
			c.SetVariable = &v
		}
		out[i] = c
	}
	return out
}

func cloneCondition(c *Condition) *Condition {
	out := *c
	if c.Operands != nil {
		out.Operands = make([]Condition, len(c.Operands))
		for i := range c.Operands {
			out.Operands[i] = *cloneCondition(&c.Operands[i])
		}
	}
	return &out
}

// Variable returns variable name's value; names are case-insensitive.
func (r *Run) Variable(name string) (string, bool) {
	v, ok := r.Variables[strings.ToUpper(name)]
	return v, ok
}

// SetVariable sets variable name (case-insensitive) to value.
func (r *Run) SetVariable(name, value string) {
	if r.Variables == nil {
		r.Variables = make(map[string]string)
	}
	r.Variables[strings.ToUpper(name)] = value
}

// Succeeded reports whether the run ended without a failure reaching the
// top of the sequence. Failures that ContinueOnError stepped over are in
// Failures either way.
func (r *Run) Succeeded() bool { return r.Done && !r.Failed }

// Failures returns the results of the actions and groups that failed,
// including those ContinueOnError stepped over, in the order they failed.
func (r *Run) Failures() []StepResult {
	var out []StepResult
	for _, res := range r.Results {
		if res.State == StepFailed {
			out = append(out, res)
		}
	}
	return out
}

// Next returns the next action to run and its path, or nil when there is
// none: the run is Done, or a restart is pending (RestartPending; call
// Resume after it). Disabled steps and steps whose condition is false are
// recorded as skipped; Set Task Sequence Variable steps are run here. The
// action returned is Current until Complete; calling Next again before
// that returns it again.
func (r *Run) Next(env Env) (Path, *Step) {
	if r.Done || r.RestartPending {
		return nil, nil
	}
	if r.Current != nil {
		return slices.Clone(r.Current), r.Sequence.Step(r.Current)
	}
	for {
		st := r.Sequence.Step(r.Cursor)
		if st == nil {
			// Past the end of a container: the sequence is done, or the
			// group's steps all ended without failing it.
			if len(r.Cursor) == 1 {
				r.Done = true
				return nil, nil
			}
			parent := r.Cursor[:len(r.Cursor)-1]
			r.record(parent, StepSucceeded, 0, false, "")
			r.Cursor = advance(parent)
			continue
		}
		switch {
		case st.Disabled:
			r.record(r.Cursor, StepSkippedDisabled, 0, false, "disabled")
			r.Cursor = advance(r.Cursor)
			continue
		case !st.Condition.Evaluate(r.Variables, env):
			r.record(r.Cursor, StepSkippedCondition, 0, false, "condition false")
			r.Cursor = advance(r.Cursor)
			continue
		case st.Group != nil:
			r.Cursor = append(slices.Clone(r.Cursor), 0)
			continue
		case st.SetVariable != nil:
			r.SetVariable(st.SetVariable.Name, st.SetVariable.Value)
			r.SetVariable(VarLastActionRetCode, "0")
			r.SetVariable(VarLastActionSucceeded, "true")
			r.record(r.Cursor, StepSucceeded, 0, false, fmt.Sprintf("%s set", st.SetVariable.Name))
			r.Cursor = advance(r.Cursor)
			continue
		}
		r.Current = slices.Clone(r.Cursor)
		r.SetVariable(VarCurrentActionName, st.Name)
		return slices.Clone(r.Current), st
	}
}

// Complete records the outcome of the Current action and moves on. A
// failure of a step without ContinueOnError skips the rest of its group
// and fails the group, and so on up to a group with ContinueOnError, after
// which the run goes on, or to the top, where the run ends failed. It
// returns an error, and changes nothing, when no action is Current.
func (r *Run) Complete(o Outcome) error {
	if r.Current == nil {
		return fmt.Errorf("tasksequence: Complete without a current action")
	}
	p := r.Current
	st := r.Sequence.Step(p)
	r.Current = nil
	r.SetVariable(VarLastActionRetCode, strconv.Itoa(o.ExitCode))
	r.SetVariable(VarLastActionSucceeded, strconv.FormatBool(o.Succeeded))
	if o.Succeeded {
		r.record(p, StepSucceeded, o.ExitCode, false, o.Detail)
		r.RestartPending = o.Restart
		r.Cursor = advance(p)
		return nil
	}
	r.record(p, StepFailed, o.ExitCode, st.ContinueOnError, o.Detail)
	if st.ContinueOnError {
		r.Cursor = advance(p)
		return nil
	}
	for {
		if len(p) == 1 {
			r.Done, r.Failed = true, true
			r.Cursor = nil
			return nil
		}
		p = p[:len(p)-1]
		g := r.Sequence.Step(p)
		r.record(p, StepFailed, 0, g.ContinueOnError, "a step of the group failed")
		if g.ContinueOnError {
			r.Cursor = advance(p)
			return nil
		}
	}
}

// Resume is called when an agent picks up a saved run after the device
// or the agent restarted. It reports whether the run was waiting for that
// restart (a Restart Computer step was Current, or a restart was pending),
// in which case the run goes on with the next step. Otherwise the Current
// action, if any, was cut short: it is recorded as failed with exit code
// -1, and the failure handled as Complete does. A run with nothing Current
// and no restart pending is left as it is.
func (r *Run) Resume() (restarted bool) {
	if r.RestartPending {
		r.RestartPending = false
		return true
	}
	if r.Current == nil {
		return false
	}
	if st := r.Sequence.Step(r.Current); st != nil && st.Restart != nil {
		_ = r.Complete(Outcome{Succeeded: true, Detail: "restarted"})
		return true
	}
	_ = r.Complete(Outcome{ExitCode: -1, Detail: "interrupted: the device or the agent stopped while the step ran"})
	return false
}

func (r *Run) record(p Path, s StepState, exit int, continued bool, detail string) {
	st := r.Sequence.Step(p)
	r.Results = append(r.Results, StepResult{Path: slices.Clone(p), Name: st.Name, Kind: st.Kind(),
		State: s, ExitCode: exit, Continued: continued, Detail: detail})
}

// advance returns the path of the step after p in its container.
func advance(p Path) Path {
	q := slices.Clone(p)
	q[len(q)-1]++
	return q
}
