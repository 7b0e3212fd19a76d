package tasksequence

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
)

// Limits and defaults of SMS_TaskSequence and SMS_TaskSequence_Step (§1.10).
const (
	// DefaultSchemaVersion is SMS_TaskSequence.SchemaVersion's default; a
	// client runs only a sequence whose schema it knows.
	DefaultSchemaVersion = "3.00"
	MaxNameLen           = 100 // Step.Name: 1–100 characters
	MaxDescriptionLen    = 255 // Step.Description
	// MaxDepth bounds how deeply groups nest. The console sets no limit the
	// reference records; 32 is a guard against runaway documents
	// [UNVERIFIED].
	MaxDepth = 32
	// MaxSteps bounds the groups and steps of one sequence together, a guard
	// against runaway documents [UNVERIFIED: the console records no limit].
	MaxSteps = 1000
)

// Sequence is SMS_TaskSequence (§1.10): the ordered steps of a task
// sequence package.
type Sequence struct {
	// SchemaVersion is the schema the sequence is written in; empty means
	// DefaultSchemaVersion, the only one this package knows.
	SchemaVersion string
	// Steps run in order; groups nest.
	Steps []Step
}

// Step is one entry of a sequence: a group of steps or one action
// (SMS_TaskSequence_Group and the SMS_TaskSequence_Action subclasses).
// Exactly one of Group, InstallSoftware, InstallUpdates, RunCommandLine,
// Restart and SetVariable is set; it says what kind of step it is.
type Step struct {
	// Name is shown in progress and status; 1–100 characters.
	Name string
	// Description is at most 255 characters.
	Description string
	// Disabled is the Options tab's "Disable this step": the step (a group:
	// every step in it) is skipped. SMS_TaskSequence_Step.Enabled, inverted
	// so that the zero value runs; the XML form writes disable="true".
	Disabled bool
	// ContinueOnError: when the step (or a step of the group) fails, the
	// sequence goes on with the next step instead of failing the group
	// that contains it. The failure is still recorded and reported.
	ContinueOnError bool
	// Condition, when set, must be true for the step to run; otherwise the
	// step (a group: every step in it) is skipped.
	Condition *Condition
	// Timeout is SMS_TaskSequence_Action.Timeout: how long the action may
	// run before it is stopped and fails. Zero means no limit of its own.
	// Only actions have one.
	Timeout time.Duration

	Group           *Group
	InstallSoftware *InstallSoftware
	InstallUpdates  *InstallUpdates
	RunCommandLine  *RunCommandLine
	Restart         *RestartComputer
	SetVariable     *SetVariable
}

// Group is SMS_TaskSequence_Group: steps run in order as one unit. A step
// that fails without ContinueOnError skips the rest of its group and fails
// the group.
type Group struct {
	Steps []Step
}

// InstallSoftware is the Install Software step
// (SMS_TaskSequence_InstallSoftwareAction): run one program of a software
// distribution package, which need not be advertised. A program exiting
// with a restart code (3010 and the other codes of §3.5) makes the task
// sequence restart the computer and continue (§1.10).
type InstallSoftware struct {
	PackageID consign.ObjectID
	Program   string
}

// UpdateScope chooses what the Install Software Updates step installs.
type UpdateScope int

// Update scopes (the step's "Mandatory software updates" / "All software
// updates" choice).
const (
	// UpdatesMandatory installs the required updates of deployments with a
	// deadline. The default.
	UpdatesMandatory UpdateScope = iota
	// UpdatesAll installs every required update deployed to the device,
	// optional deployments' too.
	UpdatesAll
)

// String returns the scope's name.
func (s UpdateScope) String() string {
	switch s {
	case UpdatesMandatory:
		return "Mandatory"
	case UpdatesAll:
		return "All"
	}
	return fmt.Sprintf("UpdateScope(%d)", int(s))
}

// InstallUpdates is the Install Software Updates step
// (SMS_TaskSequence_InstallUpdateAction): install the software updates
// deployed to the device that its last scan found required.
type InstallUpdates struct {
	Scope UpdateScope
}

// RunCommandLine is the Run Command Line step
// (SMS_TaskSequence_RunCommandLineAction).
type RunCommandLine struct {
	// CommandLine is run by the device's shell; required.
	CommandLine string
	// WorkingDirectory is where it starts, relative to the package's
	// content when PackageID is set; empty means that content directory
	// (or the agent's own directory without a package).
	WorkingDirectory string
	// PackageID, when set, names a package whose content the command runs
	// from ("Package" on the step's Properties tab).
	PackageID consign.ObjectID
	// SuccessCodes are the exit codes that count as success; empty means
	// the console's default, 0 and 3010.
	SuccessCodes []int
}

// defaultSuccessCodes are a Run Command Line step's success codes unless it
// lists its own: the console's "0 3010".
var defaultSuccessCodes = [...]int{0, 3010}

// Succeeded reports whether exit code c counts as success for the step.
func (r *RunCommandLine) Succeeded(c int) bool {
	if len(r.SuccessCodes) == 0 {
		return slices.Contains(defaultSuccessCodes[:], c)
	}
	return slices.Contains(r.SuccessCodes, c)
}

// RestartTarget is where the Restart Computer step boots.
type RestartTarget int

// Restart targets.
const (
	// RestartToInstalledOS boots the currently installed operating system.
	// The default, and the only target this SDK's agent can run.
	RestartToInstalledOS RestartTarget = iota
	// RestartToBootImage boots the boot image the task sequence package
	// names (WinPE). Devices running the full OS cannot execute WinPE
	// steps; an agent reports the step as failed.
	RestartToBootImage
)

// RestartComputer is the Restart Computer step
// (SMS_TaskSequence_RebootAction).
type RestartComputer struct {
	Target RestartTarget
	// Message is shown to the logged-on user before the restart.
	Message string
	// NotifyTimeout is how long the message is shown; zero means
	// DefaultNotifyTimeout.
	NotifyTimeout time.Duration
}

// DefaultNotifyTimeout is the Restart Computer step's message display
// time-out unless it sets its own: 60 seconds, the console's default
// [UNVERIFIED for 2007].
const DefaultNotifyTimeout = 60 * time.Second

// SetVariable is the Set Task Sequence Variable step
// (SMS_TaskSequence_SetVariableAction).
type SetVariable struct {
	Name  string
	Value string
}

// Kind names what a step is: a group or one of the action types.
type Kind int

// Step kinds, named after their ConfigMgr classes by String.
const (
	KindInvalid Kind = iota // none or several of the kind fields set
	KindGroup
	KindInstallSoftware
	KindInstallUpdates
	KindRunCommandLine
	KindRestart
	KindSetVariable
)

var kindClasses = [...]string{
	KindInvalid:         "invalid",
	KindGroup:           "SMS_TaskSequence_Group",
	KindInstallSoftware: "SMS_TaskSequence_InstallSoftwareAction",
	KindInstallUpdates:  "SMS_TaskSequence_InstallUpdateAction",
	KindRunCommandLine:  "SMS_TaskSequence_RunCommandLineAction",
	KindRestart:         "SMS_TaskSequence_RebootAction",
	KindSetVariable:     "SMS_TaskSequence_SetVariableAction",
}

// String returns the ConfigMgr class of the kind, e.g.
// "SMS_TaskSequence_RunCommandLineAction".
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindClasses) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindClasses[k]
}

// Kind returns what the step is; KindInvalid when not exactly one kind
// field is set.
func (s *Step) Kind() Kind {
	k, n := KindInvalid, 0
	for _, c := range []struct {
		set  bool
		kind Kind
	}{
		{s.Group != nil, KindGroup},
		{s.InstallSoftware != nil, KindInstallSoftware},
		{s.InstallUpdates != nil, KindInstallUpdates},
		{s.RunCommandLine != nil, KindRunCommandLine},
		{s.Restart != nil, KindRestart},
		{s.SetVariable != nil, KindSetVariable},
	} {
		if c.set {
			k, n = c.kind, n+1
		}
	}
	if n != 1 {
		return KindInvalid
	}
	return k
}

// Path locates a step: its index in the sequence's Steps, then in that
// group's Steps, and so on.
type Path []int

// String formats the path as the field path of the step,
// e.g. "Steps[1].Group.Steps[0]".
func (p Path) String() string {
	var b strings.Builder
	for i, n := range p {
		if i > 0 {
			b.WriteString(".Group.")
		}
		fmt.Fprintf(&b, "Steps[%d]", n)
	}
	return b.String()
}

// Step returns the step at p, or nil when p does not name one.
func (s *Sequence) Step(p Path) *Step {
	steps := s.Steps
	var st *Step
	for i, n := range p {
		if n < 0 || n >= len(steps) {
			return nil
		}
		st = &steps[n]
		if i < len(p)-1 {
			if st.Group == nil {
				return nil
			}
			steps = st.Group.Steps
		}
	}
	return st
}

// Walk calls f for every step in order (a group before its steps), with
// its path, until f returns false. The path is f's to keep.
func (s *Sequence) Walk(f func(p Path, st *Step) bool) {
	walk(s.Steps, nil, f)
}

func walk(steps []Step, prefix Path, f func(Path, *Step) bool) bool {
	for i := range steps {
		p := append(slices.Clip(prefix), i)
		if !f(p, &steps[i]) {
			return false
		}
		if g := steps[i].Group; g != nil && !walk(g.Steps, p, f) {
			return false
		}
	}
	return true
}

// ReadOnlyVariablePrefix starts the names of the variables the task
// sequence engine sets; a Set Task Sequence Variable step cannot set them.
const ReadOnlyVariablePrefix = "_SMSTS"

// Validate reports every rule the sequence breaks, each as a
// *consign.ValidationError whose Field is the step's path (for example
// "Steps[1].Group.Steps[0].RunCommandLine.CommandLine") and whose Rule names
// the step: `step "Install Office": required`. References to packages are
// checked by CheckReferences, which needs the site's packages.
func (s *Sequence) Validate() error {
	var ps consign.Problems
	if s.SchemaVersion != "" && s.SchemaVersion != DefaultSchemaVersion {
		ps.AddValue("Sequence.SchemaVersion", s.SchemaVersion, "must be "+DefaultSchemaVersion+", the schema clients run")
	}
	n := 0
	var check func(steps []Step, prefix Path)
	check = func(steps []Step, prefix Path) {
		for i := range steps {
			n++
			p := append(slices.Clip(prefix), i)
			if len(p) > MaxDepth {
				ps.Add(p.String(), fmt.Sprintf("groups nest at most %d deep", MaxDepth))
				continue // not into it, but on with the steps after it
			}
			steps[i].check(&ps, p.String())
			if g := steps[i].Group; g != nil {
				check(g.Steps, p)
			}
		}
	}
	check(s.Steps, nil)
	if n > MaxSteps {
		ps.AddValue("Sequence.Steps", n, fmt.Sprintf("at most %d groups and steps", MaxSteps))
	}
	return ps.Err()
}

// check adds the problems of one step (not of the steps it contains).
func (st *Step) check(ps *consign.Problems, field string) {
	rule := func(r string) string { return fmt.Sprintf("step %q: %s", st.Name, r) }
	l := utf8.RuneCountInString(st.Name)
	ps.Check(l >= 1 && l <= MaxNameLen, field+".Name", rule(fmt.Sprintf("1 to %d characters", MaxNameLen)))
	ps.Check(utf8.RuneCountInString(st.Description) <= MaxDescriptionLen, field+".Description", rule(fmt.Sprintf("at most %d characters", MaxDescriptionLen)))
	if st.Condition != nil {
		if err := st.Condition.validate(field+".Condition", rule); err != nil {
			ps.Merge(err)
		}
	}
	k := st.Kind()
	switch {
	case k == KindInvalid:
		ps.Add(field, rule("exactly one of Group, InstallSoftware, InstallUpdates, RunCommandLine, Restart and SetVariable"))
		return
	case k == KindGroup:
		ps.Check(st.Timeout == 0, field+".Timeout", rule("only actions have a timeout (SMS_TaskSequence_Action.Timeout), not groups"))
	default:
		ps.Check(st.Timeout >= 0, field+".Timeout", rule("zero (no limit) or positive"))
	}
	switch k {
	case KindInstallSoftware:
		a := st.InstallSoftware
		if a.PackageID.Validate() != nil {
			ps.AddValue(field+".InstallSoftware.PackageID", string(a.PackageID), rule("a package ID: site code and 5 hexadecimal digits"))
		}
		ps.Check(a.Program != "", field+".InstallSoftware.Program", rule("required"))
		ps.Check(a.Program != "*", field+".InstallSoftware.Program", rule(`a program name, not "*"`))
	case KindInstallUpdates:
		ps.Check(st.InstallUpdates.Scope == UpdatesMandatory || st.InstallUpdates.Scope == UpdatesAll,
			field+".InstallUpdates.Scope", rule("UpdatesMandatory or UpdatesAll"))
	case KindRunCommandLine:
		a := st.RunCommandLine
		ps.Check(strings.TrimSpace(a.CommandLine) != "", field+".RunCommandLine.CommandLine", rule("required"))
		if a.PackageID != "" && a.PackageID.Validate() != nil {
			ps.AddValue(field+".RunCommandLine.PackageID", string(a.PackageID), rule("empty or a package ID: site code and 5 hexadecimal digits"))
		}
	case KindRestart:
		a := st.Restart
		ps.Check(a.Target == RestartToInstalledOS || a.Target == RestartToBootImage, field+".Restart.Target", rule("RestartToInstalledOS or RestartToBootImage"))
		ps.Check(a.NotifyTimeout >= 0, field+".Restart.NotifyTimeout", rule("zero (the default) or positive"))
	case KindSetVariable:
		a := st.SetVariable
		ps.Check(validVariableName(a.Name), field+".SetVariable.Name", rule("a variable name: letters, digits and underscores, not starting with a digit"))
		ps.Check(!strings.HasPrefix(strings.ToUpper(a.Name), ReadOnlyVariablePrefix), field+".SetVariable.Name",
			rule("variables starting with "+ReadOnlyVariablePrefix+" are set by the task sequence engine and read-only"))
	}
}

func validVariableName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Reference is one use of a package by a step: SMS_TaskSequence_Reference
// with the step that makes it.
type Reference struct {
	PackageID consign.ObjectID
	// Program is the program an Install Software step runs; empty when the
	// step only uses the package's content (Run Command Line).
	Program string
	// Path and StepName say which step refers to the package.
	Path     Path
	StepName string
}

// References returns every package reference of the sequence's steps, in
// step order, disabled steps included: their content is distributed with
// the sequence like any other (the console lists them too).
func (s *Sequence) References() []Reference {
	var refs []Reference
	s.Walk(func(p Path, st *Step) bool {
		switch {
		case st.InstallSoftware != nil:
			refs = append(refs, Reference{PackageID: st.InstallSoftware.PackageID, Program: st.InstallSoftware.Program, Path: p, StepName: st.Name})
		case st.RunCommandLine != nil && st.RunCommandLine.PackageID != "":
			refs = append(refs, Reference{PackageID: st.RunCommandLine.PackageID, Path: p, StepName: st.Name})
		}
		return true
	})
	return refs
}

// Packages returns the IDs of the packages the sequence refers to, sorted
// and without repeats: SMS_TaskSequencePackage.References (§1.10).
func (s *Sequence) Packages() []consign.ObjectID {
	var ids []consign.ObjectID
	for _, r := range s.References() {
		ids = append(ids, r.PackageID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Lookup finds the packages and programs a sequence refers to.
type Lookup struct {
	Package func(consign.ObjectID) (*pkg.Package, bool)
	Program func(pkg.ProgramRef) (*pkg.Program, bool)
}

// CheckReferences reports every reference that cannot be honoured, naming
// the step (§1.10: a task sequence with a missing reference is DANGLING_REF
// and cannot run):
//   - the package must exist and be a software distribution package
//     (type 0) with its content;
//   - an Install Software program must exist and be able to run without a
//     user: the task sequence runs it as LocalSystem with nobody to answer
//     it, so it must run with administrative rights, whether or not a user
//     is logged on, without user interaction, and must not restart the
//     computer itself ("Program restarts computer" would cut the sequence
//     short). These are the Install Package step's documented
//     requirements in later versions, [UNVERIFIED] for 2007.
func (s *Sequence) CheckReferences(l Lookup) error {
	var ps consign.Problems
	for _, r := range s.References() {
		field := r.Path.String()
		rule := func(x string) string { return fmt.Sprintf("step %q: %s", r.StepName, x) }
		if r.Program != "" {
			field += ".InstallSoftware"
		} else {
			field += ".RunCommandLine"
		}
		p, ok := l.Package(r.PackageID)
		if !ok {
			ps.AddValue(field+".PackageID", string(r.PackageID), rule("must name an existing package"))
			continue
		}
		if p.Type != pkg.TypeRegular {
			ps.AddValue(field+".PackageID", string(r.PackageID), rule(fmt.Sprintf("must name a software distribution package (type 0), not type %d", p.Type)))
			continue
		}
		if r.Program == "" {
			ps.Check(p.HasSource(), field+".PackageID", rule(fmt.Sprintf("package %s has no source files to run the command from", r.PackageID)))
			continue
		}
		ref := pkg.ProgramRef{PackageID: r.PackageID, Program: r.Program}
		prog, ok := l.Program(ref)
		if !ok {
			ps.AddValue(field+".Program", r.Program, rule("must name a program of package "+string(r.PackageID)))
			continue
		}
		ps.Check(!prog.Disabled, field+".Program", rule(fmt.Sprintf("program %s is disabled", ref)))
		ps.Check(prog.RunMode == pkg.RunWithAdminRights, field+".Program", rule(fmt.Sprintf("program %s must run with administrative rights", ref)))
		ps.Check(prog.Logon == pkg.EitherLogon, field+".Program", rule(fmt.Sprintf("program %s must run whether or not a user is logged on", ref)))
		ps.Check(!prog.UserInteraction, field+".Program", rule(fmt.Sprintf("program %s must not need user interaction", ref)))
		ps.Check(prog.AfterRunning != pkg.ProgramRestarts, field+".Program", rule(fmt.Sprintf("program %s must not restart the computer itself", ref)))
	}
	return ps.Err()
}

// Index returns the position of the step at p in the order Walk visits
// steps (a group before its steps), from 0, or -1 when p names no step.
// Status messages identify a step by it (advertisement.StepStatus).
func (s *Sequence) Index(p Path) int {
	i, found := 0, -1
	s.Walk(func(q Path, _ *Step) bool {
		if slices.Equal(p, q) {
			found = i
			return false
		}
		i++
		return true
	})
	return found
}

// Len returns how many groups and steps the sequence has, nested ones
// included.
func (s *Sequence) Len() int {
	n := 0
	s.Walk(func(Path, *Step) bool { n++; return true })
	return n
}

// DefaultProgramFlags is SMS_TaskSequencePackage.ProgramFlags' documented
// default, 0x0910A010: DEFAULT_PROGRAM | UNATTENDED | ADMINRIGHTS |
// USEUNCPATH | HIDEWINDOW | ANY_PLATFORM (§1.10).
const DefaultProgramFlags = pkg.ProgDefaultProgram | pkg.ProgUnattended | pkg.ProgAdminRights |
	pkg.ProgUseUNCPath | pkg.ProgHideWindow | pkg.ProgAnyPlatform

// ProgramName is the program name a task sequence is advertised with:
// SMS_Advertisement.ProgramName "*" ([UNVERIFIED] for 2007; §1.9).
const ProgramName = "*"

// Program returns the program package packageID, holding s, is advertised
// as, so that the offer decision (requirements, run time, rerun rules)
// treats it like any program: name "*", the task sequence package's
// default ProgramFlags (run with administrative rights whether or not a
// user is logged on, on any platform, unattended) and, as MaxRunTime,
// MaxRunTime's bound in whole minutes, or 0 (Unknown, 720 minutes) when
// there is none. SMS_TaskSequencePackage.Duration, the console's estimate,
// is not modelled: a bound the engine enforces is one a maintenance window
// can trust (§3.6).
func (s *Sequence) Program(packageID consign.ObjectID) *pkg.Program {
	p := &pkg.Program{PackageID: packageID, Name: ProgramName}
	if d, ok := s.MaxRunTime(); ok && d > 0 {
		p.MaxRunTime = int((d + time.Minute - 1) / time.Minute)
	}
	p.FromFlags(DefaultProgramFlags)
	return p
}

// MaxRunTime returns the longest the sequence can run when every enabled
// action has a timeout (the engine stops each at its timeout; a Restart
// Computer step waits its notify time-out), and false when one has none.
func (s *Sequence) MaxRunTime() (time.Duration, bool) {
	var total time.Duration
	bounded := true
	var walk func(steps []Step)
	walk = func(steps []Step) {
		for i := range steps {
			st := &steps[i]
			switch {
			case st.Disabled:
			case st.Group != nil:
				walk(st.Group.Steps)
			case st.SetVariable != nil:
			case st.Restart != nil:
				total += st.Restart.NotifyTimeout
				if st.Restart.NotifyTimeout == 0 {
					total += DefaultNotifyTimeout
				}
			case st.Timeout > 0:
				total += st.Timeout
			default:
				bounded = false
			}
		}
	}
	walk(s.Steps)
	return total, bounded
}
