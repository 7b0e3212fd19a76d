package pkg

// ProgramFlags is SMS_Program.ProgramFlags (§1.3, [S-PRG]). Program exposes
// the bits as typed fields; see Program.Flags and Program.FromFlags.
type ProgramFlags uint32

// ProgramFlags bits, named after ConfigMgr's (§1.3).
const (
	// ProgAuthorizedDynamicInstall: the Install Software task sequence step
	// may run the program without an advertisement.
	ProgAuthorizedDynamicInstall ProgramFlags = 0x00000001
	// ProgUseCustomProgressMsg: a task sequence shows a custom progress
	// message.
	ProgUseCustomProgressMsg ProgramFlags = 0x00000002
	// ProgDefaultProgram marks the package's default program.
	ProgDefaultProgram ProgramFlags = 0x00000010
	// ProgDisableMOMAlertOnRunning suppresses Operations Manager alerts
	// while the program runs.
	ProgDisableMOMAlertOnRunning ProgramFlags = 0x00000020
	// ProgMOMAlertOnFail raises an Operations Manager alert on failure.
	ProgMOMAlertOnFail ProgramFlags = 0x00000040
	// ProgRunDependantAlways runs the dependent program every time, not
	// only the first time (RUN_DEPENDANT_ALWAYS).
	ProgRunDependantAlways ProgramFlags = 0x00000080
	// ProgWindowsCE marks a device program.
	ProgWindowsCE ProgramFlags = 0x00000100
	// ProgCountdown is believed to be "Suppress program notifications"
	// ([UNVERIFIED], §8 item 12).
	ProgCountdown ProgramFlags = 0x00000400
	// ProgForceRerun is unused.
	ProgForceRerun ProgramFlags = 0x00000800
	// ProgDisabled: "Disable this program on computers where it is
	// advertised"; clients do not run it.
	ProgDisabled ProgramFlags = 0x00001000
	// ProgUnattended: the program needs no user input.
	ProgUnattended ProgramFlags = 0x00002000
	// ProgUserContext: the program runs in the logged-on user's context, so
	// it needs a logged-on user.
	ProgUserContext ProgramFlags = 0x00004000
	// ProgAdminRights: "Run with administrative rights".
	ProgAdminRights ProgramFlags = 0x00008000
	// ProgEveryUser: run once for every user who logs on, not once for the
	// computer.
	ProgEveryUser ProgramFlags = 0x00010000
	// ProgNoUserLoggedOn: "Only when no user is logged on".
	ProgNoUserLoggedOn ProgramFlags = 0x00020000
	// ProgOKToQuit: after running, the program restarts the computer.
	ProgOKToQuit ProgramFlags = 0x00040000
	// ProgOKToReboot: after running, ConfigMgr restarts the computer.
	ProgOKToReboot ProgramFlags = 0x00080000
	// ProgUseUNCPath runs the program through a UNC path, not a drive
	// letter.
	ProgUseUNCPath ProgramFlags = 0x00100000
	// ProgPersistConnection reconnects the drive letter at logon.
	ProgPersistConnection ProgramFlags = 0x00200000
	// ProgRunMinimized runs the program minimized.
	ProgRunMinimized ProgramFlags = 0x00400000
	// ProgRunMaximized runs the program maximized.
	ProgRunMaximized ProgramFlags = 0x00800000
	// ProgHideWindow hides the program's window.
	ProgHideWindow ProgramFlags = 0x01000000
	// ProgOKToLogoff: after running, ConfigMgr logs the user off.
	ProgOKToLogoff ProgramFlags = 0x02000000
	// ProgRunAccount is unused.
	ProgRunAccount ProgramFlags = 0x04000000
	// ProgAnyPlatform: "This program can run on any platform".
	ProgAnyPlatform ProgramFlags = 0x08000000
	// ProgStillRunning is unused.
	ProgStillRunning ProgramFlags = 0x10000000
	// ProgSupportUninstall: the program supports uninstall (RemovalKey).
	ProgSupportUninstall ProgramFlags = 0x20000000
	// ProgPlatformNotSupported: the program's platform is not supported.
	ProgPlatformNotSupported ProgramFlags = 0x40000000
	// ProgShowInARP is unused.
	ProgShowInARP ProgramFlags = 0x80000000

	// DefaultProgramFlags is SMS_Program's documented default,
	// EVERYUSER|USEUNCPATH|USERCONTEXT|UNATTENDED (1138688).
	DefaultProgramFlags = ProgEveryUser | ProgUseUNCPath | ProgUserContext | ProgUnattended
)

var programFlagNames = []bitName{
	{uint32(ProgAuthorizedDynamicInstall), "AUTHORIZED_DYNAMIC_INSTALL"},
	{uint32(ProgUseCustomProgressMsg), "USECUSTOMPROGRESSMSG"},
	{uint32(ProgDefaultProgram), "DEFAULT_PROGRAM"},
	{uint32(ProgDisableMOMAlertOnRunning), "DISABLEMOMALERTONRUNNING"},
	{uint32(ProgMOMAlertOnFail), "MOMALERTONFAIL"},
	{uint32(ProgRunDependantAlways), "RUN_DEPENDANT_ALWAYS"},
	{uint32(ProgWindowsCE), "WINDOWS_CE"},
	{uint32(ProgCountdown), "COUNTDOWN"},
	{uint32(ProgForceRerun), "FORCERERUN"},
	{uint32(ProgDisabled), "DISABLED"},
	{uint32(ProgUnattended), "UNATTENDED"},
	{uint32(ProgUserContext), "USERCONTEXT"},
	{uint32(ProgAdminRights), "ADMINRIGHTS"},
	{uint32(ProgEveryUser), "EVERYUSER"},
	{uint32(ProgNoUserLoggedOn), "NOUSERLOGGEDIN"},
	{uint32(ProgOKToQuit), "OKTOQUIT"},
	{uint32(ProgOKToReboot), "OKTOREBOOT"},
	{uint32(ProgUseUNCPath), "USEUNCPATH"},
	{uint32(ProgPersistConnection), "PERSISTCONNECTION"},
	{uint32(ProgRunMinimized), "RUNMINIMIZED"},
	{uint32(ProgRunMaximized), "RUNMAXIMIZED"},
	{uint32(ProgHideWindow), "HIDEWINDOW"},
	{uint32(ProgOKToLogoff), "OKTOLOGOFF"},
	{uint32(ProgRunAccount), "RUNACCOUNT"},
	{uint32(ProgAnyPlatform), "ANY_PLATFORM"},
	{uint32(ProgStillRunning), "STILL_RUNNING"},
	{uint32(ProgSupportUninstall), "SUPPORT_UNINSTALL"},
	{uint32(ProgPlatformNotSupported), "PLATFORM_NOT_SUPPORTED"},
	{uint32(ProgShowInARP), "SHOW_IN_ARP"},
}

// String lists the set bits by their ConfigMgr names, e.g.
// "UNATTENDED|USERCONTEXT|EVERYUSER|USEUNCPATH"; undocumented bits appear
// in hex.
func (f ProgramFlags) String() string { return formatBits(uint32(f), programFlagNames) }

const (
	// documentedProgramFlags is every bit §1.3 names.
	documentedProgramFlags = ProgramFlags(0xFFFFFDF3)
	// typedProgramFlags is every bit a typed field of Program represents;
	// OtherFlags holds the rest.
	typedProgramFlags = ProgAuthorizedDynamicInstall | ProgRunDependantAlways | ProgCountdown |
		ProgDisabled | ProgUnattended | ProgUserContext | ProgAdminRights | ProgEveryUser |
		ProgNoUserLoggedOn | ProgOKToQuit | ProgOKToReboot | ProgUseUNCPath | ProgPersistConnection |
		ProgRunMinimized | ProgRunMaximized | ProgHideWindow | ProgOKToLogoff | ProgAnyPlatform
)

// RunMode is the Environment tab's "Run mode" (§1.3, §3.5).
type RunMode int

// Run modes.
const (
	// RunWithUserRights runs the program with the logged-on user's token.
	// The default.
	RunWithUserRights RunMode = iota
	// RunWithAdminRights runs the program as LocalSystem (ADMINRIGHTS).
	RunWithAdminRights
)

// LogonRequirement is the Environment tab's "Program can run" (§1.3).
//
// §1.3 names a bit only for "Only when no user is logged on". This model
// reads USERCONTEXT as "Only when a user is logged on" and takes the run
// mode from ADMINRIGHTS alone, leaving "Whether or not" as neither bit
// [UNVERIFIED]: user rights need a logged-on user, the SDK forbids
// USERCONTEXT with NOUSERLOGGEDIN, and the default (USERCONTEXT without
// ADMINRIGHTS) is the console's default of "only when a user is logged on,
// with the user's rights".
type LogonRequirement int

// Logon requirements.
const (
	// UserLoggedOn: "Only when a user is logged on" (USERCONTEXT). The
	// default.
	UserLoggedOn LogonRequirement = iota
	// NoUserLoggedOn: "Only when no user is logged on" (NOUSERLOGGEDIN).
	NoUserLoggedOn
	// EitherLogon: "Whether or not a user is logged on" (neither bit).
	EitherLogon
)

// AfterRunning is the General tab's "After running" (§1.3, §3.5).
type AfterRunning int

// After-running actions.
const (
	// NoActionRequired: even after exit code 3010 the client does not
	// restart; the restart is left pending. The default.
	NoActionRequired AfterRunning = iota
	// ConfigMgrRestarts: the client restarts the computer (OKTOREBOOT).
	ConfigMgrRestarts
	// ProgramRestarts: the program restarts the computer itself
	// (OKTOQUIT).
	ProgramRestarts
	// ConfigMgrLogsOff: the client logs the user off (OKTOLOGOFF).
	ConfigMgrLogsOff
)

// WindowMode is the General tab's "Run" window state.
type WindowMode int

// Window modes.
const (
	WindowNormal    WindowMode = iota // the default
	WindowMinimized                   // RUNMINIMIZED
	WindowMaximized                   // RUNMAXIMIZED
	WindowHidden                      // HIDEWINDOW
)

// DriveMode is the Environment tab's "Drive mode".
type DriveMode int

// Drive modes. ConfigMgr stores them as the USEUNCPATH bit plus the
// DriveLetter field: no bit and no letter is AnyDriveLetter.
const (
	// UNCPath: "Runs with UNC name" (USEUNCPATH). The default.
	UNCPath DriveMode = iota
	// AnyDriveLetter: "Requires drive letter".
	AnyDriveLetter
	// SpecificDriveLetter: "Requires specific drive letter", the one in
	// Program.DriveLetter.
	SpecificDriveLetter
)

// Flags returns the ProgramFlags word for p's typed fields and OtherFlags.
func (p *Program) Flags() ProgramFlags {
	f := p.OtherFlags
	set := func(on bool, bit ProgramFlags) {
		if on {
			f |= bit
		}
	}
	set(p.AuthorizedDynamicInstall, ProgAuthorizedDynamicInstall)
	set(p.RunDependencyAlways, ProgRunDependantAlways)
	set(p.SuppressNotifications, ProgCountdown)
	set(p.Disabled, ProgDisabled)
	set(p.Unattended, ProgUnattended)
	set(p.EveryUser, ProgEveryUser)
	set(p.ReconnectAtLogon, ProgPersistConnection)
	set(p.AnyPlatform, ProgAnyPlatform)
	set(p.RunMode == RunWithAdminRights, ProgAdminRights)
	set(p.Logon == UserLoggedOn, ProgUserContext)
	set(p.Logon == NoUserLoggedOn, ProgNoUserLoggedOn)
	set(p.AfterRunning == ConfigMgrRestarts, ProgOKToReboot)
	set(p.AfterRunning == ProgramRestarts, ProgOKToQuit)
	set(p.AfterRunning == ConfigMgrLogsOff, ProgOKToLogoff)
	set(p.Window == WindowMinimized, ProgRunMinimized)
	set(p.Window == WindowMaximized, ProgRunMaximized)
	set(p.Window == WindowHidden, ProgHideWindow)
	set(p.Drive == UNCPath, ProgUseUNCPath)
	return f
}

// FromFlags sets p's typed fields from f and keeps the remaining bits in
// OtherFlags, so that p.Flags() == f afterwards for every f.
//
// Where f sets bits that exclude each other (USERCONTEXT with
// NOUSERLOGGEDIN; two after-running actions; two window states), the first
// in the order of the typed field's constants wins and the others stay in
// OtherFlags, where Validate reports them. The drive mode also reads
// DriveLetter, because ConfigMgr stores "specific drive letter" there rather
// than in a bit. UserInteraction, which has no bit in §1.3, is left alone.
func (p *Program) FromFlags(f ProgramFlags) {
	has := func(bit ProgramFlags) bool { return f&bit != 0 }
	p.AuthorizedDynamicInstall = has(ProgAuthorizedDynamicInstall)
	p.RunDependencyAlways = has(ProgRunDependantAlways)
	p.SuppressNotifications = has(ProgCountdown)
	p.Disabled = has(ProgDisabled)
	p.Unattended = has(ProgUnattended)
	p.EveryUser = has(ProgEveryUser)
	p.ReconnectAtLogon = has(ProgPersistConnection)
	p.AnyPlatform = has(ProgAnyPlatform)
	p.RunMode = RunWithUserRights
	if has(ProgAdminRights) {
		p.RunMode = RunWithAdminRights
	}
	switch {
	case has(ProgUserContext):
		p.Logon = UserLoggedOn
	case has(ProgNoUserLoggedOn):
		p.Logon = NoUserLoggedOn
	default:
		p.Logon = EitherLogon
	}
	switch {
	case has(ProgOKToReboot):
		p.AfterRunning = ConfigMgrRestarts
	case has(ProgOKToQuit):
		p.AfterRunning = ProgramRestarts
	case has(ProgOKToLogoff):
		p.AfterRunning = ConfigMgrLogsOff
	default:
		p.AfterRunning = NoActionRequired
	}
	switch {
	case has(ProgRunMinimized):
		p.Window = WindowMinimized
	case has(ProgRunMaximized):
		p.Window = WindowMaximized
	case has(ProgHideWindow):
		p.Window = WindowHidden
	default:
		p.Window = WindowNormal
	}
	switch {
	case has(ProgUseUNCPath):
		p.Drive = UNCPath
	case p.DriveLetter != "":
		p.Drive = SpecificDriveLetter
	default:
		p.Drive = AnyDriveLetter
	}
	p.OtherFlags = 0
	p.OtherFlags = f &^ p.Flags()
}
