package pkg

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestProgramFlagBits(t *testing.T) {
	// Values from §1.3 [S-PRG].
	bits := []struct {
		got  ProgramFlags
		want uint32
	}{
		{ProgAuthorizedDynamicInstall, 0x00000001}, {ProgUseCustomProgressMsg, 0x00000002},
		{ProgDefaultProgram, 0x00000010}, {ProgDisableMOMAlertOnRunning, 0x00000020},
		{ProgMOMAlertOnFail, 0x00000040}, {ProgRunDependantAlways, 0x00000080},
		{ProgWindowsCE, 0x00000100}, {ProgCountdown, 0x00000400}, {ProgForceRerun, 0x00000800},
		{ProgDisabled, 0x00001000}, {ProgUnattended, 0x00002000}, {ProgUserContext, 0x00004000},
		{ProgAdminRights, 0x00008000}, {ProgEveryUser, 0x00010000}, {ProgNoUserLoggedOn, 0x00020000},
		{ProgOKToQuit, 0x00040000}, {ProgOKToReboot, 0x00080000}, {ProgUseUNCPath, 0x00100000},
		{ProgPersistConnection, 0x00200000}, {ProgRunMinimized, 0x00400000}, {ProgRunMaximized, 0x00800000},
		{ProgHideWindow, 0x01000000}, {ProgOKToLogoff, 0x02000000}, {ProgRunAccount, 0x04000000},
		{ProgAnyPlatform, 0x08000000}, {ProgStillRunning, 0x10000000}, {ProgSupportUninstall, 0x20000000},
		{ProgPlatformNotSupported, 0x40000000}, {ProgShowInARP, 0x80000000},
		{DefaultProgramFlags, 0x00116000},
	}
	var all ProgramFlags
	for _, b := range bits[:len(bits)-1] {
		all |= b.got
	}
	for _, b := range bits {
		if uint32(b.got) != b.want {
			t.Errorf("%v = %#08x, want %#08x", b.got, uint32(b.got), b.want)
		}
	}
	if all != documentedProgramFlags {
		t.Errorf("documentedProgramFlags = %v, want %v", documentedProgramFlags, all)
	}
	if DefaultProgramFlags != 1138688 {
		t.Errorf("DefaultProgramFlags = %d, want 1138688", DefaultProgramFlags)
	}
	if got, want := DefaultProgramFlags.String(), "UNATTENDED|USERCONTEXT|EVERYUSER|USEUNCPATH"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestFromFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags ProgramFlags
		want  Program
	}{
		{"default", DefaultProgramFlags, Program{EveryUser: true, Unattended: true, Logon: UserLoggedOn,
			RunMode: RunWithUserRights, Drive: UNCPath}},
		{"zero", 0, Program{Logon: EitherLogon, Drive: AnyDriveLetter}},
		{"no user, admin, hidden, reboot", ProgNoUserLoggedOn | ProgAdminRights | ProgHideWindow | ProgOKToReboot | ProgUseUNCPath,
			Program{Logon: NoUserLoggedOn, RunMode: RunWithAdminRights, Window: WindowHidden, AfterRunning: ConfigMgrRestarts}},
		{"whether or not, admin", ProgAdminRights | ProgUseUNCPath, Program{Logon: EitherLogon, RunMode: RunWithAdminRights}},
		{"program restarts, minimized", ProgOKToQuit | ProgRunMinimized | ProgUseUNCPath,
			Program{Logon: EitherLogon, AfterRunning: ProgramRestarts, Window: WindowMinimized}},
		{"logs off, maximized", ProgOKToLogoff | ProgRunMaximized | ProgUseUNCPath,
			Program{Logon: EitherLogon, AfterRunning: ConfigMgrLogsOff, Window: WindowMaximized}},
		{"bools", ProgAuthorizedDynamicInstall | ProgRunDependantAlways | ProgCountdown | ProgDisabled |
			ProgPersistConnection | ProgAnyPlatform | ProgUseUNCPath,
			Program{Logon: EitherLogon, AuthorizedDynamicInstall: true, RunDependencyAlways: true,
				SuppressNotifications: true, Disabled: true, ReconnectAtLogon: true, AnyPlatform: true}},
		{"other bits", ProgUseUNCPath | ProgMOMAlertOnFail | ProgWindowsCE | ProgSupportUninstall | 0x4,
			Program{Logon: EitherLogon, OtherFlags: ProgMOMAlertOnFail | ProgWindowsCE | ProgSupportUninstall | 0x4}},
		{"contradictions kept in OtherFlags", ProgUserContext | ProgNoUserLoggedOn | ProgOKToReboot | ProgOKToQuit |
			ProgRunMinimized | ProgHideWindow | ProgUseUNCPath,
			Program{Logon: UserLoggedOn, AfterRunning: ConfigMgrRestarts, Window: WindowMinimized,
				OtherFlags: ProgNoUserLoggedOn | ProgOKToQuit | ProgHideWindow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Program
			p.FromFlags(tt.flags)
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("FromFlags(%v) = %+v, want %+v", tt.flags, p, tt.want)
			}
			if got := p.Flags(); got != tt.flags {
				t.Errorf("Flags() = %v, want %v", got, tt.flags)
			}
		})
	}
}

func TestFromFlagsDriveLetter(t *testing.T) {
	p := Program{DriveLetter: "X"}
	p.FromFlags(0)
	if p.Drive != SpecificDriveLetter {
		t.Errorf("no USEUNCPATH with a drive letter: Drive = %d, want SpecificDriveLetter", p.Drive)
	}
	p.FromFlags(ProgUseUNCPath)
	if p.Drive != UNCPath {
		t.Errorf("USEUNCPATH: Drive = %d, want UNCPath", p.Drive)
	}
}

func TestNewProgramDefaults(t *testing.T) {
	p := NewProgram("CEN00012", "Install", "setup.exe /q")
	if p.Flags() != DefaultProgramFlags|ProgAnyPlatform {
		t.Errorf("Flags = %v, want %v", p.Flags(), DefaultProgramFlags|ProgAnyPlatform)
	}
	if p.MaxRunTime != 120 || p.MonitoringLimit() != 2*time.Hour || p.DiskSpace != "Unknown" || !p.AnyPlatform {
		t.Errorf("NewProgram = %+v", *p)
	}
	if p.Ref() != (ProgramRef{"CEN00012", "Install"}) {
		t.Errorf("Ref = %v", p.Ref())
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// genProgram generates programs whose typed fields are consistent with each
// other the way FromFlags can represent them: DriveLetter set exactly for
// SpecificDriveLetter, and OtherFlags free of typed bits.
func genProgram() *rapid.Generator[*Program] {
	return rapid.Custom(func(t *rapid.T) *Program {
		p := &Program{
			PackageID:                "CEN00012",
			Name:                     rapid.StringN(1, 10, 50).Draw(t, "name"),
			CommandLine:              "setup.exe",
			MaxRunTime:               rapid.IntRange(0, 1440).Draw(t, "maxRunTime"),
			AnyPlatform:              rapid.Bool().Draw(t, "anyPlatform"),
			RunMode:                  RunMode(rapid.IntRange(0, 1).Draw(t, "runMode")),
			Logon:                    LogonRequirement(rapid.IntRange(0, 2).Draw(t, "logon")),
			AfterRunning:             AfterRunning(rapid.IntRange(0, 3).Draw(t, "afterRunning")),
			Window:                   WindowMode(rapid.IntRange(0, 3).Draw(t, "window")),
			Drive:                    DriveMode(rapid.IntRange(0, 2).Draw(t, "drive")),
			ReconnectAtLogon:         rapid.Bool().Draw(t, "reconnect"),
			Disabled:                 rapid.Bool().Draw(t, "disabled"),
			EveryUser:                rapid.Bool().Draw(t, "everyUser"),
			Unattended:               rapid.Bool().Draw(t, "unattended"),
			UserInteraction:          rapid.Bool().Draw(t, "userInteraction"),
			AuthorizedDynamicInstall: rapid.Bool().Draw(t, "dynamicInstall"),
			SuppressNotifications:    rapid.Bool().Draw(t, "suppress"),
			RunDependencyAlways:      rapid.Bool().Draw(t, "runDependencyAlways"),
			OtherFlags:               ProgramFlags(rapid.Uint32().Draw(t, "other")) &^ typedProgramFlags,
		}
		if p.Drive == SpecificDriveLetter {
			p.DriveLetter = rapid.StringMatching(`[a-zA-Z]`).Draw(t, "driveLetter")
		}
		if rapid.Bool().Draw(t, "hasDependency") {
			p.Dependency = &ProgramRef{Program: "Prepare"}
		}
		return p
	})
}

func TestFlagsFromFlagsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genProgram().Draw(t, "program")
		x := ProgramFlags(rapid.Uint32().Draw(t, "x"))
		p.FromFlags(x)
		if got := p.Flags(); got != x {
			t.Fatalf("Flags(FromFlags(%#08x)) = %#08x", uint32(x), uint32(got))
		}
	})
}

func TestFromFlagsReproducesTypedFields(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genProgram().Draw(t, "program")
		q := *p
		q.FromFlags(p.Flags())
		if !reflect.DeepEqual(*p, q) {
			t.Fatalf("FromFlags(Flags()) changed the program:\n got %+v\nwant %+v", q, *p)
		}
	})
}

func TestProgramValidate(t *testing.T) {
	xp := OSRequirement{"Win NT", "I386", FileVersion{5, 10, 0, 0}, FileVersion{5, 10, 9999, 9999}}
	tests := []struct {
		name   string
		change func(p *Program)
		fields []string
	}{
		{"defaults", func(p *Program) {}, nil},
		{"limits", func(p *Program) {
			p.Name = strings.Repeat("n", 50)
			p.CommandLine = strings.Repeat("c", 255)
			p.WorkingDirectory = strings.Repeat("w", 127)
			p.Comment = strings.Repeat("ü", 127)
		}, nil},
		{"platform list", func(p *Program) { p.AnyPlatform, p.Platforms = false, []OSRequirement{xp} }, nil},
		{"admin whether or not, interactive", func(p *Program) {
			p.RunMode, p.Logon, p.UserInteraction = RunWithAdminRights, EitherLogon, true
		}, nil},
		{"specific drive letter", func(p *Program) { p.Drive, p.DriveLetter, p.ReconnectAtLogon = SpecificDriveLetter, "x", true }, nil},
		{"disk space", func(p *Program) { p.DiskSpace = "250 MB" }, nil},
		{"dependency in same package", func(p *Program) { p.Dependency = &ProgramRef{Program: "Prepare"} }, nil},
		{"dependency elsewhere, always", func(p *Program) {
			p.Dependency, p.RunDependencyAlways = &ProgramRef{"CEN00001", "Install"}, true
		}, nil},
		{"other flags", func(p *Program) { p.OtherFlags = ProgMOMAlertOnFail | ProgShowInARP }, nil},

		{"bad package ID", func(p *Program) { p.PackageID = "" }, []string{"Program.PackageID"}},
		{"name required", func(p *Program) { p.Name = "" }, []string{"Program.Name"}},
		{"name too long", func(p *Program) { p.Name = strings.Repeat("n", 51) }, []string{"Program.Name"}},
		{"command line required", func(p *Program) { p.CommandLine = "  " }, []string{"Program.CommandLine"}},
		{"command line 255 bytes", func(p *Program) { p.CommandLine = strings.Repeat("é", 128) }, []string{"Program.CommandLine"}},
		{"working dir, comment", func(p *Program) {
			p.WorkingDirectory, p.Comment = strings.Repeat("w", 128), strings.Repeat("c", 128)
		}, []string{"Program.WorkingDirectory", "Program.Comment"}},
		{"max run time", func(p *Program) { p.MaxRunTime = -1 }, []string{"Program.MaxRunTime"}},
		{"disk space forms", func(p *Program) { p.DiskSpace = "250MB" }, []string{"Program.DiskSpace"}},
		{"disk space unit", func(p *Program) { p.DiskSpace = "3 TB" }, []string{"Program.DiskSpace"}},
		{"platforms required", func(p *Program) { p.AnyPlatform = false }, []string{"Program.Platforms"}},
		{"platform entries", func(p *Program) {
			p.AnyPlatform = false
			p.Platforms = []OSRequirement{xp, {MinVersion: FileVersion{6, 0, 0, 0}, MaxVersion: FileVersion{5, 2, 0, 0}}}
		}, []string{"Program.Platforms[1].Name", "Program.Platforms[1].Platform", "Program.Platforms[1].MinVersion"}},
		{"user rights need a logged-on user", func(p *Program) { p.Logon = NoUserLoggedOn }, []string{"Program.RunMode"}},
		{"interaction needs admin", func(p *Program) { p.UserInteraction = true }, []string{"Program.UserInteraction"}},
		{"enums out of range", func(p *Program) {
			p.RunMode, p.Logon, p.AfterRunning, p.Window, p.Drive = 2, 3, 4, -1, 3
		}, []string{"Program.RunMode", "Program.Logon", "Program.AfterRunning", "Program.Window", "Program.Drive"}},
		{"reconnect with UNC", func(p *Program) { p.ReconnectAtLogon = true }, []string{"Program.ReconnectAtLogon"}},
		{"drive letter without specific mode", func(p *Program) { p.Drive, p.DriveLetter = AnyDriveLetter, "x" }, []string{"Program.DriveLetter"}},
		{"drive letter a-z", func(p *Program) { p.Drive, p.DriveLetter = SpecificDriveLetter, "1" }, []string{"Program.DriveLetter"}},
		{"drive letter missing", func(p *Program) { p.Drive = SpecificDriveLetter }, []string{"Program.DriveLetter"}},
		{"dependency on itself", func(p *Program) { p.Dependency = &ProgramRef{Program: "Install"} }, []string{"Program.Dependency"}},
		{"dependency malformed", func(p *Program) { p.Dependency = &ProgramRef{"X", ""} },
			[]string{"Program.Dependency.PackageID", "Program.Dependency.Program"}},
		{"always without dependency", func(p *Program) { p.RunDependencyAlways = true }, []string{"Program.RunDependencyAlways"}},
		{"undocumented bits", func(p *Program) { p.OtherFlags = 0x200 }, []string{"Program.OtherFlags"}},
		{"contradictory bits", func(p *Program) { p.FromFlags(p.Flags() | ProgNoUserLoggedOn) }, []string{"Program.OtherFlags"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProgram("CEN00012", "Install", "setup.exe /q")
			tt.change(p)
			wantProblems(t, p.Validate(), tt.fields...)
		})
	}
}

func TestMonitoringLimit(t *testing.T) {
	for _, tt := range []struct {
		minutes int
		want    time.Duration
	}{{0, 720 * time.Minute}, {1, time.Minute}, {120, 2 * time.Hour}, {900, 15 * time.Hour}} {
		p := Program{MaxRunTime: tt.minutes}
		if got := p.MonitoringLimit(); got != tt.want {
			t.Errorf("MaxRunTime %d: MonitoringLimit = %v, want %v", tt.minutes, got, tt.want)
		}
	}
}

func TestSupportsOS(t *testing.T) {
	xp := OSRequirement{"Win NT", "I386", FileVersion{5, 10, 0, 0}, FileVersion{5, 10, 9999, 9999}}
	vista := OSRequirement{"Win NT", "x64", FileVersion{6, 0, 0, 0}, FileVersion{6, 0, 9999, 9999}}
	p := Program{Platforms: []OSRequirement{xp, vista}}
	tests := []struct {
		os   OSInfo
		want bool
	}{
		{OSInfo{"Win NT", "I386", FileVersion{5, 10, 2600, 0}}, true},
		{OSInfo{"win nt", "i386", FileVersion{5, 10, 0, 0}}, true},       // case-insensitive, lower bound
		{OSInfo{"Win NT", "I386", FileVersion{5, 10, 9999, 9999}}, true}, // upper bound
		{OSInfo{"Win NT", "I386", FileVersion{5, 11, 0, 0}}, false},
		{OSInfo{"Win NT", "I386", FileVersion{5, 2, 3790, 0}}, false},
		{OSInfo{"Win NT", "X64", FileVersion{6, 0, 6001, 0}}, true},
		{OSInfo{"Win NT", "I386", FileVersion{6, 0, 6001, 0}}, false}, // Vista x86 not listed
		{OSInfo{"Win 9x", "I386", FileVersion{5, 10, 2600, 0}}, false},
	}
	for _, tt := range tests {
		if got := p.SupportsOS(tt.os); got != tt.want {
			t.Errorf("SupportsOS(%+v) = %v, want %v", tt.os, got, tt.want)
		}
	}
	p.AnyPlatform = true
	if !p.SupportsOS(OSInfo{Name: "Win 9x"}) {
		t.Errorf("AnyPlatform program does not support every OS")
	}
}

func TestDiskSpaceBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512 KB", 512 << 10, true}, {"250 MB", 250 << 20, true}, {"2 GB", 2 << 30, true}, {"0 KB", 0, true},
		{"Unknown", 0, false}, {"", 0, false}, {"250MB", 0, false}, {"250 mb", 0, false}, {"-1 KB", 0, false},
		{"1.5 GB", 0, false}, {"8589934592 GB", 0, false}, {"8589934591 GB", 8589934591 << 30, true},
	}
	for _, tt := range tests {
		p := Program{DiskSpace: tt.in}
		if got, ok := p.DiskSpaceBytes(); got != tt.want || ok != tt.ok {
			t.Errorf("DiskSpaceBytes(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
