package pkg

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
)

// OSRequirement is one entry of a program's supported platforms
// (SMS_OS_Details), e.g. {"Win NT", "I386", 5.10.0000.0, 5.10.9999.9999}
// for Windows XP on x86.
type OSRequirement struct {
	Name, Platform         string
	MinVersion, MaxVersion FileVersion
}

// OSInfo is a device's operating system as the offer decision sees it.
type OSInfo struct {
	Name, Platform string
	Version        FileVersion
}

// Program is a command line plus run-time requirements, owned by exactly one
// package (SMS_Program, §1.3). Its key is (PackageID, Name). The fields
// from RunMode to RunDependencyAlways are the ProgramFlags word in typed
// form; see Flags and FromFlags.
type Program struct {
	// PackageID is the owning package; immutable.
	PackageID consign.ObjectID
	// Name is ProgramName: at most 50 characters, unique within the package,
	// immutable once advertised.
	Name string
	// CommandLine is required, at most 255 bytes. A file without extension
	// is tried as .com, .exe and .bat on the client.
	CommandLine string
	// WorkingDirectory ("Start in") is at most 127 characters.
	WorkingDirectory string
	// Comment is at most 127 characters.
	Comment string
	// Category is shown in Add or Remove Programs.
	Category string
	// Requirements is free text shown to users ("Additional requirements").
	Requirements string
	// MaxRunTime is "Maximum allowed run time" (Duration) in minutes; 0 is
	// Unknown. See MonitoringLimit.
	MaxRunTime int
	// DiskSpace is "Estimated disk space": "<n> KB", "<n> MB", "<n> GB",
	// or "Unknown" (or "") when not given.
	DiskSpace string
	// DriveLetter is the letter, a to z, for SpecificDriveLetter, and empty
	// otherwise.
	DriveLetter string
	// AnyPlatform: "This program can run on any platform" (ANY_PLATFORM).
	// Without it Platforms lists where it may run.
	AnyPlatform bool
	// Platforms are the supported operating systems, required unless
	// AnyPlatform.
	Platforms []OSRequirement
	// RunMode is "Run with user's rights" or "Run with administrative
	// rights" (ADMINRIGHTS).
	RunMode RunMode
	// Logon is "Program can run" (USERCONTEXT, NOUSERLOGGEDIN).
	Logon LogonRequirement
	// AfterRunning is what happens once the program exits (OKTOREBOOT,
	// OKTOQUIT, OKTOLOGOFF).
	AfterRunning AfterRunning
	// Window is the program's window state (RUNMINIMIZED, RUNMAXIMIZED,
	// HIDEWINDOW).
	Window WindowMode
	// Drive is how the client reaches the content (USEUNCPATH plus
	// DriveLetter).
	Drive DriveMode
	// ReconnectAtLogon reconnects the program's drive letter at logon
	// (PERSISTCONNECTION); not with UNCPath.
	ReconnectAtLogon bool
	// Disabled: clients will not run the program (DISABLED).
	Disabled bool
	// EveryUser: run once for every user who logs on rather than once for
	// the computer (EVERYUSER).
	EveryUser bool
	// Unattended: the program needs no user input (UNATTENDED).
	Unattended bool
	// UserInteraction is "Allow users to interact with this program", which
	// shows a program running with administrative rights to the user
	// (§3.5). §1.3 documents no ProgramFlags bit for it, so Flags and
	// FromFlags leave it alone.
	UserInteraction bool
	// AuthorizedDynamicInstall lets the Install Software task sequence step
	// run the program without an advertisement.
	AuthorizedDynamicInstall bool
	// SuppressNotifications is "Suppress program notifications": no
	// countdown before a mandatory run (COUNTDOWN; mapping [UNVERIFIED]).
	SuppressNotifications bool
	// Dependency is "Run another program first" (DependentProgram). An
	// empty PackageID means the program's own package.
	Dependency *ProgramRef
	// RunDependencyAlways runs Dependency before every run, not only until
	// it has succeeded once (RUN_DEPENDANT_ALWAYS).
	RunDependencyAlways bool
	// OtherFlags holds the ProgramFlags bits the typed fields do not
	// represent (MOM alerts, WINDOWS_CE, SUPPORT_UNINSTALL, unused bits, …),
	// so that a program read from ConfigMgr keeps every bit.
	OtherFlags ProgramFlags
}

// DefaultMaxRunTime is the console's default maximum run time for a new
// program, in minutes (§1.3).
const DefaultMaxRunTime = 120

// UnknownRunTimeLimit is how long a client monitors a program whose maximum
// run time is Unknown (§1.3, §3.5).
const UnknownRunTimeLimit = 720 * time.Minute

// NewProgram returns a program with the New Program Wizard's defaults
// (§1.3, §2.2): DefaultProgramFlags (every user, UNC path, only when a user
// is logged on with the user's rights, unattended), any platform, a maximum
// run time of 120 minutes and unknown disk space. Its Flags() is therefore
// DefaultProgramFlags|ProgAnyPlatform.
func NewProgram(pkgID consign.ObjectID, name, commandLine string) *Program {
	p := &Program{
		PackageID:   pkgID,
		Name:        name,
		CommandLine: commandLine,
		MaxRunTime:  DefaultMaxRunTime,
		DiskSpace:   "Unknown",
	}
	p.FromFlags(DefaultProgramFlags)
	p.AnyPlatform = true
	return p
}

// Ref returns the reference that names p.
func (p *Program) Ref() ProgramRef { return ProgramRef{PackageID: p.PackageID, Program: p.Name} }

// DependsOn returns the program p runs first, with an empty PackageID
// resolved to p's package, and whether there is one.
func (p *Program) DependsOn() (ProgramRef, bool) {
	if p.Dependency == nil {
		return ProgramRef{}, false
	}
	r := *p.Dependency
	if r.PackageID == "" {
		r.PackageID = p.PackageID
	}
	return r, true
}

// MonitoringLimit is how long the client monitors a run before reporting
// that it exceeded its time: MaxRunTime, or 720 minutes when it is Unknown.
// The maintenance-window fit test treats Unknown differently (as 0, §3.6),
// so it reads MaxRunTime itself.
func (p *Program) MonitoringLimit() time.Duration {
	if p.MaxRunTime <= 0 {
		return UnknownRunTimeLimit
	}
	return time.Duration(p.MaxRunTime) * time.Minute
}

// SupportsOS reports whether p may run on os: it runs on any platform, or
// some requirement has os's Name and Platform (ignoring case) and os's
// version lies between its MinVersion and MaxVersion inclusive.
func (p *Program) SupportsOS(os OSInfo) bool {
	if p.AnyPlatform {
		return true
	}
	for _, r := range p.Platforms {
		if strings.EqualFold(r.Name, os.Name) && strings.EqualFold(r.Platform, os.Platform) &&
			r.MinVersion.Compare(os.Version) <= 0 && os.Version.Compare(r.MaxVersion) <= 0 {
			return true
		}
	}
	return false
}

// DiskSpaceBytes returns the estimated disk space in bytes, and false when
// it is unknown or malformed.
func (p *Program) DiskSpaceBytes() (int64, bool) {
	num, unit, ok := strings.Cut(p.DiskSpace, " ")
	if !ok || num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, false
	}
	var shift uint
	switch unit {
	case "KB":
		shift = 10
	case "MB":
		shift = 20
	case "GB":
		shift = 30
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}

// Limits from §1.3 and §5.1.
const (
	maxProgramName = 50  // characters
	maxCommandLine = 255 // bytes
	maxWorkingDir  = 127 // characters
)

// Validate checks every rule from §1.3 and reports all problems at once,
// with field paths like "Program.CommandLine".
func (p *Program) Validate() error {
	var probs consign.Problems
	if p.PackageID.Validate() != nil {
		probs.AddValue("Program.PackageID", string(p.PackageID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	checkText(&probs, "Program.Name", p.Name, maxProgramName, true)
	switch {
	case strings.TrimSpace(p.CommandLine) == "":
		probs.Add("Program.CommandLine", "required")
	case len(p.CommandLine) > maxCommandLine:
		probs.AddValue("Program.CommandLine", p.CommandLine, fmt.Sprintf("at most %d bytes", maxCommandLine))
	}
	checkText(&probs, "Program.WorkingDirectory", p.WorkingDirectory, maxWorkingDir, false)
	checkText(&probs, "Program.Comment", p.Comment, maxComment, false)
	probs.Check(p.MaxRunTime >= 0, "Program.MaxRunTime", "at least 0 minutes (0 is Unknown)")
	if _, ok := p.DiskSpaceBytes(); !ok && p.DiskSpace != "" && p.DiskSpace != "Unknown" {
		probs.AddValue("Program.DiskSpace", p.DiskSpace, `"<n> KB", "<n> MB", "<n> GB" or "Unknown"`)
	}
	p.checkPlatforms(&probs)
	p.checkEnvironment(&probs)
	if p.Dependency != nil {
		dep, _ := p.DependsOn()
		if dep.PackageID.Validate() != nil {
			probs.AddValue("Program.Dependency.PackageID", string(dep.PackageID), "a package ID, or empty for the program's own package")
		}
		checkText(&probs, "Program.Dependency.Program", dep.Program, maxProgramName, true)
		probs.Check(dep != p.Ref(), "Program.Dependency", "another program, not the program itself")
	} else {
		probs.Check(!p.RunDependencyAlways, "Program.RunDependencyAlways", "only with a Dependency")
	}
	if bad := p.OtherFlags &^ documentedProgramFlags; bad != 0 {
		probs.AddValue("Program.OtherFlags", bad, "only documented ProgramFlags bits")
	}
	if dup := p.OtherFlags & typedProgramFlags; dup != 0 {
		probs.AddValue("Program.OtherFlags", dup, "no bits the typed fields represent (these contradict them)")
	}
	return probs.Err()
}

func (p *Program) checkPlatforms(probs *consign.Problems) {
	probs.Check(p.AnyPlatform || len(p.Platforms) > 0, "Program.Platforms", "at least one platform unless AnyPlatform")
	for i, r := range p.Platforms {
		field := fmt.Sprintf("Program.Platforms[%d]", i)
		probs.Check(r.Name != "", field+".Name", "required")
		probs.Check(r.Platform != "", field+".Platform", "required")
		if r.MinVersion.Compare(r.MaxVersion) > 0 {
			probs.AddValue(field+".MinVersion", r.MinVersion.String(), "at most MaxVersion "+r.MaxVersion.String())
		}
	}
}

// checkEnvironment checks the Environment tab's choices, which the console
// only offers in certain combinations (§1.3).
func (p *Program) checkEnvironment(probs *consign.Problems) {
	if p.RunMode != RunWithUserRights && p.RunMode != RunWithAdminRights {
		probs.AddValue("Program.RunMode", int(p.RunMode), "RunWithUserRights or RunWithAdminRights")
	}
	switch p.Logon {
	case UserLoggedOn:
	case NoUserLoggedOn, EitherLogon:
		// Without a logged-on user there is no user token to run with.
		probs.Check(p.RunMode == RunWithAdminRights, "Program.RunMode", "RunWithAdminRights unless the program runs only when a user is logged on")
	default:
		probs.AddValue("Program.Logon", int(p.Logon), "UserLoggedOn, NoUserLoggedOn or EitherLogon")
	}
	probs.Check(!p.UserInteraction || p.RunMode == RunWithAdminRights, "Program.UserInteraction", "only with RunWithAdminRights")
	if p.AfterRunning < NoActionRequired || p.AfterRunning > ConfigMgrLogsOff {
		probs.AddValue("Program.AfterRunning", int(p.AfterRunning), "one of the four after-running actions")
	}
	if p.Window < WindowNormal || p.Window > WindowHidden {
		probs.AddValue("Program.Window", int(p.Window), "normal, minimized, maximized or hidden")
	}
	switch p.Drive {
	case UNCPath:
		probs.Check(!p.ReconnectAtLogon, "Program.ReconnectAtLogon", "only with a drive letter, not UNCPath")
		fallthrough
	case AnyDriveLetter:
		probs.Check(p.DriveLetter == "", "Program.DriveLetter", "empty unless Drive is SpecificDriveLetter")
	case SpecificDriveLetter:
		if len(p.DriveLetter) != 1 || !isLetter(p.DriveLetter[0]) {
			probs.AddValue("Program.DriveLetter", p.DriveLetter, "one letter, a to z")
		}
	default:
		probs.AddValue("Program.Drive", int(p.Drive), "UNCPath, AnyDriveLetter or SpecificDriveLetter")
	}
}
