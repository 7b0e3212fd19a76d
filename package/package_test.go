package pkg

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
)

func TestNewPackageDefaults(t *testing.T) {
	p := NewPackage("CEN00012", "Office 2007")
	want := Package{ID: "CEN00012", Name: "Office 2007", Type: TypeRegular, SourceFlag: StorageNoSource,
		Priority: PriorityNormal, ShareType: ShareCommon, SourceSite: "CEN"}
	if p.ID != want.ID || p.Name != want.Name || p.Type != want.Type || p.SourceFlag != want.SourceFlag ||
		p.Priority != want.Priority || p.ShareType != want.ShareType || p.SourceSite != want.SourceSite ||
		p.Flags != 0 || p.SourceVersion != 0 {
		t.Errorf("NewPackage = %+v, want %+v", *p, want)
	}
	if p.HasSource() || p.PersistInCache() {
		t.Errorf("new package: HasSource %v, PersistInCache %v; want false, false", p.HasSource(), p.PersistInCache())
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestPackageHasSource(t *testing.T) {
	tests := []struct {
		flag  SourceFlag
		flags Flags
		want  bool
	}{
		{StorageNoSource, 0, false},
		{StorageDirect, 0, true},
		{StorageCompress, 0, true},
		{StorageLocal, 0, true},
		{StorageCompress, FlagNoPackage, false},
		{StorageNoSource, FlagPersistInCache, false},
	}
	for _, tt := range tests {
		p := Package{SourceFlag: tt.flag, Flags: tt.flags}
		if got := p.HasSource(); got != tt.want {
			t.Errorf("SourceFlag %d, Flags %v: HasSource = %v, want %v", tt.flag, tt.flags, got, tt.want)
		}
	}
}

// withSource returns a valid package with source files.
func withSource() *Package {
	p := NewPackage("CEN00012", "Office 2007")
	p.SourceFlag = StorageCompress
	p.SourcePath = `\\srv01\source$\office2007`
	p.Manifest = Manifest{Files: []File{file("setup.exe", 100)}}
	p.SourceVersion = 1
	return p
}

func TestPackageValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	tests := []struct {
		name   string
		change func(p *Package)
		fields []string
	}{
		{"valid with source", func(p *Package) {}, nil},
		{"valid direct with schedule", func(p *Package) {
			p.SourceFlag = StorageDirect
			p.RefreshSchedule = []string{"0034394008100008"}
		}, nil},
		{"valid local path", func(p *Package) { p.SourcePath = `D:\Sources\Office` }, nil},
		{"valid specific share", func(p *Package) { p.ShareType, p.ShareName = ShareSpecific, `office\2007` }, nil},
		{"valid limits", func(p *Package) {
			p.Name, p.Version, p.Manufacturer, p.Language, p.Description = long(50), long(32), long(32), long(32), long(127)
		}, nil},
		{"bad ID", func(p *Package) { p.ID = "CEN0001" }, []string{"Package.ID"}},
		{"name required", func(p *Package) { p.Name = " " }, []string{"Package.Name"}},
		{"name too long", func(p *Package) { p.Name = long(51) }, []string{"Package.Name"}},
		{"texts too long", func(p *Package) {
			p.Version, p.Manufacturer, p.Language, p.Description = long(33), long(33), long(33), long(128)
		}, []string{"Package.Version", "Package.Manufacturer", "Package.Language", "Package.Description"}},
		{"CB type 8", func(p *Package) { p.Type = 8 }, []string{"Package.Type"}},
		{"storage needs specifying", func(p *Package) { p.SourceFlag = StorageNeedsSpecifying }, []string{"Package.SourceFlag"}},
		{"storage out of range", func(p *Package) { p.SourceFlag = 5 }, []string{"Package.SourceFlag"}},
		{"unknown flag bit", func(p *Package) { p.Flags = 0x00000001 }, []string{"Package.Flags"}},
		{"on demand with prestage", func(p *Package) { p.Flags = FlagDoNotDownload | FlagDistributeOnDemand }, []string{"Package.Flags"}},
		{"priority", func(p *Package) { p.Priority = 0 }, []string{"Package.Priority"}},
		{"share name with common share", func(p *Package) { p.ShareName = "x" }, []string{"Package.ShareName"}},
		{"specific share without name", func(p *Package) { p.ShareType = ShareSpecific }, []string{"Package.ShareName"}},
		{"bad share name", func(p *Package) { p.ShareType, p.ShareName = ShareSpecific, `\office` }, []string{"Package.ShareName"}},
		{"share type", func(p *Package) { p.ShareType = 3 }, []string{"Package.ShareType"}},
		{"source site", func(p *Package) { p.SourceSite = "CENTRAL" }, []string{"Package.SourceSite"}},
		{"source path required", func(p *Package) { p.SourcePath = "" }, []string{"Package.SourcePath"}},
		{"source path too long", func(p *Package) { p.SourcePath = `\\srv\share\` + strings.Repeat("a", 116) }, []string{"Package.SourcePath"}},
		{"mapped or relative path", func(p *Package) { p.SourcePath = `office\2007` }, []string{"Package.SourcePath"}},
		{"UNC without share", func(p *Package) { p.SourcePath = `\\srv01` }, []string{"Package.SourcePath"}},
		{"full path too long", func(p *Package) {
			// 26 characters of source path + 1 separator + 228 = 255 > 254.
			p.Manifest.Files = append(p.Manifest.Files, file(strings.Repeat("a", 228), 1), file(strings.Repeat("b", 227), 1))
		}, []string{"Package.Manifest.Files[1].Path"}},
		{"manifest problems", func(p *Package) {
			p.Manifest.Files = append(p.Manifest.Files, file("SETUP.EXE", -1))
		}, []string{"Package.Manifest.Files[1].Path", "Package.Manifest.Files[1].Size"}},
		{"no source but path and content", func(p *Package) { p.SourceFlag = StorageNoSource },
			[]string{"Package.SourcePath", "Package.Manifest"}},
		{"NO_PACKAGE with cache flags", func(p *Package) {
			p.Flags = FlagNoPackage | FlagPersistInCache
			p.SourcePath, p.Manifest = "", Manifest{}
		}, []string{"Package.Flags"}},
		{"refresh schedule needs direct", func(p *Package) { p.RefreshSchedule = []string{"0034394008100008"} },
			[]string{"Package.RefreshSchedule"}},
		{"refresh schedule token form", func(p *Package) {
			p.SourceFlag = StorageDirect
			p.RefreshSchedule = []string{"0034394008100008", "0034394008G00008", "00343940081000"}
		}, []string{"Package.RefreshSchedule[1]", "Package.RefreshSchedule[2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := withSource()
			tt.change(p)
			wantProblems(t, p.Validate(), tt.fields...)
		})
	}
}

func TestPackageUpdateSource(t *testing.T) {
	p := withSource()
	at := time.Date(2008, 3, 1, 12, 0, 0, 0, time.UTC)
	m := Manifest{Files: []File{file("setup.exe", 1), file("a.msi", 2)}}
	if err := p.UpdateSource(m, at); err != nil {
		t.Fatal(err)
	}
	if p.SourceVersion != 2 || !p.SourceDate.Equal(at) || p.Manifest.Files[0].Path != "a.msi" || p.Manifest.Hash() != m.Hash() {
		t.Errorf("after update: version %d, date %v, manifest %v", p.SourceVersion, p.SourceDate, p.Manifest)
	}

	before := *p
	bad := Manifest{Files: []File{file("../x", 1), file(strings.Repeat("a", 250), 1)}}
	wantProblems(t, p.UpdateSource(bad, at.Add(time.Hour)), "Manifest.Files[0].Path", "Manifest.Files[1].Path")
	if p.SourceVersion != before.SourceVersion || !p.SourceDate.Equal(before.SourceDate) || p.Manifest.Hash() != before.Manifest.Hash() {
		t.Errorf("a failed update changed the package")
	}

	none := NewPackage("CEN00013", "Scripts")
	if err := none.UpdateSource(m, at); !errors.Is(err, consign.ErrFailedPrecondition) || none.SourceVersion != 0 {
		t.Errorf("UpdateSource without source files = %v, version %d; want ErrFailedPrecondition, 0", err, none.SourceVersion)
	}
}

func TestFlagsString(t *testing.T) {
	if got, want := (FlagPersistInCache | FlagNoPackage | 0x1).String(), "PERSIST_IN_CACHE|NO_PACKAGE|0x00000001"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := Flags(0).String(); got != "0" {
		t.Errorf("String(0) = %q", got)
	}
}
