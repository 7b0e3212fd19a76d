package pkg

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consign/consign"
)

// Type is SMS_PackageBaseclass.PackageType: what kind of content a package
// holds (§1.2, [S-PKG]).
type Type int

// Package types. 8 (application content) exists only in later versions [CB]
// and is rejected.
const (
	TypeRegular         Type = 0 // software distribution package with programs
	TypeDriver          Type = 3
	TypeTaskSequence    Type = 4
	TypeSoftwareUpdates Type = 5 // software updates deployment package
	TypeDeviceSetting   Type = 6
	// TypeVirtualApplication is an App-V package, added in 2007 R2; that R2
	// uses the value 7 is [UNVERIFIED] (§1.2).
	TypeVirtualApplication Type = 7
	TypeOSImage            Type = 257
	TypeBootImage          Type = 258
	TypeOSInstall          Type = 259
)

func (t Type) valid() bool {
	switch t {
	case TypeRegular, TypeDriver, TypeTaskSequence, TypeSoftwareUpdates, TypeDeviceSetting,
		TypeVirtualApplication, TypeOSImage, TypeBootImage, TypeOSInstall:
		return true
	}
	return false
}

// SourceFlag is PkgSourceFlag: how Distribution Manager obtains the bytes of
// a package (§1.2).
type SourceFlag int

// Source storage modes.
const (
	// StorageNeedsSpecifying marks a package whose source has yet to be
	// chosen (for example one created from a definition file). Validate
	// rejects it: such a package cannot be distributed.
	StorageNeedsSpecifying SourceFlag = 0
	// StorageNoSource: the package has no source files and needs no
	// distribution point. The default.
	StorageNoSource SourceFlag = 1
	// StorageDirect: "always obtain files from the source directory".
	StorageDirect SourceFlag = 2
	// StorageCompress: "use a compressed copy of the source directory".
	StorageCompress SourceFlag = 3
	// StorageLocal: the source is local to the site server.
	StorageLocal SourceFlag = 4
)

// Flags is PkgFlags (§1.2, [S-PKG]).
type Flags uint32

// PkgFlags bits.
const (
	// FlagDoNotDownload: branch distribution points do not download the
	// content automatically; the administrator prestages it.
	FlagDoNotDownload Flags = 0x01000000
	// FlagPersistInCache: "Persist content in client cache".
	FlagPersistInCache Flags = 0x02000000
	// FlagUseBinaryDeltaRep: "Enable binary differential replication".
	FlagUseBinaryDeltaRep Flags = 0x04000000
	// FlagNoPackage: the package has no source files, so no DPs are needed.
	FlagNoPackage Flags = 0x10000000
	// FlagUseSpecialMIF: judge success by status-MIF matching.
	FlagUseSpecialMIF Flags = 0x20000000
	// FlagDistributeOnDemand: protected branch DPs fetch the content when a
	// client inside their boundaries asks for it.
	FlagDistributeOnDemand Flags = 0x40000000
)

var packageFlagNames = []bitName{
	{uint32(FlagDoNotDownload), "DO_NOT_DOWNLOAD"},
	{uint32(FlagPersistInCache), "PERSIST_IN_CACHE"},
	{uint32(FlagUseBinaryDeltaRep), "USE_BINARY_DELTA_REP"},
	{uint32(FlagNoPackage), "NO_PACKAGE"},
	{uint32(FlagUseSpecialMIF), "USE_SPECIAL_MIF"},
	{uint32(FlagDistributeOnDemand), "DISTRIBUTE_ON_DEMAND"},
}

// String lists the set bits by their ConfigMgr names, e.g.
// "PERSIST_IN_CACHE|NO_PACKAGE"; undocumented bits appear in hex.
func (f Flags) String() string { return formatBits(uint32(f), packageFlagNames) }

// Priority is the order in which content is sent to other sites: by
// priority, then by creation order (§1.2).
type Priority int

// Sending priorities.
const (
	PriorityHigh   Priority = 1
	PriorityNormal Priority = 2 // "Medium" in the console; the default
	PriorityLow    Priority = 3
)

// Package share types, the values of Package.ShareType.
const (
	// ShareCommon: content under the common SMSPKG<drive>$ share (default).
	ShareCommon = 1
	// ShareSpecific: content under the share named by ShareName.
	ShareSpecific = 2
)

// Package is a container of source files plus metadata (SMS_Package, §1.2).
type Package struct {
	// ID is PackageID: site code plus 5 hex digits, read-only once created.
	ID consign.ObjectID
	// Name is required, at most 50 characters.
	Name string
	// Version, Manufacturer and Language are shown to users; at most 32
	// characters each.
	Version, Manufacturer, Language string
	// Description is the package comment, at most 127 characters.
	Description string
	// Type is PackageType; TypeRegular for software distribution.
	Type Type
	// SourceFlag says whether there are source files and how they are
	// stored; StorageNoSource by default.
	SourceFlag SourceFlag
	// SourcePath is the source folder, a UNC path (\\server\share\...) or a
	// local path on the site server (C:\...); at most 127 characters.
	// Required exactly when the package has source files.
	SourcePath string
	// SourceVersion is incremented by every update (UpdateSource); it is 1
	// after the first content. DPs and child sites compare against it.
	SourceVersion uint32
	// SourceDate is when the current content was taken.
	SourceDate time.Time
	// Flags is PkgFlags.
	Flags Flags
	// Priority orders sending to child sites; PriorityNormal by default.
	Priority Priority
	// ShareType is ShareCommon or ShareSpecific.
	ShareType int
	// ShareName is "share" or `share\path`, only with ShareSpecific. It must
	// be unique across packages, which one package cannot check.
	ShareName string
	// RefreshSchedule holds schedule tokens (16 hex characters each, §1.8)
	// for "Update distribution points on a schedule"; only valid with
	// StorageDirect.
	RefreshSchedule []string
	// Manifest is the content of SourceVersion.
	Manifest Manifest
	// SourceSite is the site that created the package; it is read-only
	// everywhere else.
	SourceSite consign.SiteCode
}

// NewPackage returns a package with the New Package Wizard's defaults
// (§2.1): no source files, normal priority, the common share, created at the
// site named in id.
func NewPackage(id consign.ObjectID, name string) *Package {
	return &Package{
		ID:         id,
		Name:       name,
		Type:       TypeRegular,
		SourceFlag: StorageNoSource,
		Priority:   PriorityNormal,
		ShareType:  ShareCommon,
		SourceSite: id.Site(),
	}
}

// HasSource reports whether the package contains source files, which then
// have to be on a distribution point before a client can run its programs
// (§7 invariant 4).
func (p *Package) HasSource() bool {
	return p.Flags&FlagNoPackage == 0 && p.SourceFlag != StorageNoSource
}

// PersistInCache reports whether clients keep the content in their cache
// after running ("Persist content in client cache").
func (p *Package) PersistInCache() bool { return p.Flags&FlagPersistInCache != 0 }

// UpdateSource is ConfigMgr's *update* (RefreshPkgSource, §1.2 and §7
// invariant 6): it takes m as the new content at time at and increments
// SourceVersion, which sends the content to every DP. It fails, changing
// nothing, when the package has no source files or m is invalid for it.
func (p *Package) UpdateSource(m Manifest, at time.Time) error {
	if !p.HasSource() {
		return consign.Errorf(consign.ErrFailedPrecondition, "UpdateSource", string(p.ID), "the package has no source files")
	}
	var probs consign.Problems
	m.check(&probs, "Manifest")
	p.checkFullPaths(&probs, m, "Manifest")
	if err := probs.Err(); err != nil {
		return err
	}
	p.Manifest = m.Sorted()
	p.SourceVersion++
	p.SourceDate = at
	return nil
}

// Limits from the console (§1.2, §2.1, §5.1), in characters.
const (
	maxPackageName    = 50
	maxPackageInfo    = 32 // Version, Manufacturer, Language
	maxComment        = 127
	maxSourcePath     = 127
	maxSourceFilePath = 254 // source path plus file path; longer ones cannot be replicated
)

const knownPackageFlags = FlagDoNotDownload | FlagPersistInCache | FlagUseBinaryDeltaRep |
	FlagNoPackage | FlagUseSpecialMIF | FlagDistributeOnDemand

// Validate checks every rule from §1.2 and §2.1 and reports all problems at
// once, with field paths like "Package.Name".
func (p *Package) Validate() error {
	var probs consign.Problems
	if err := p.ID.Validate(); err != nil {
		probs.AddValue("Package.ID", string(p.ID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	checkText(&probs, "Package.Name", p.Name, maxPackageName, true)
	checkText(&probs, "Package.Version", p.Version, maxPackageInfo, false)
	checkText(&probs, "Package.Manufacturer", p.Manufacturer, maxPackageInfo, false)
	checkText(&probs, "Package.Language", p.Language, maxPackageInfo, false)
	checkText(&probs, "Package.Description", p.Description, maxComment, false)
	if !p.Type.valid() {
		probs.AddValue("Package.Type", int(p.Type), "a ConfigMgr 2007 package type (0, 3-7, 257-259)")
	}
	switch p.SourceFlag {
	case StorageNeedsSpecifying:
		probs.Add("Package.SourceFlag", "storage specified: no source, direct, compressed or local")
	case StorageNoSource, StorageDirect, StorageCompress, StorageLocal:
	default:
		probs.AddValue("Package.SourceFlag", int(p.SourceFlag), "0 to 4")
	}
	if p.Flags&^knownPackageFlags != 0 {
		probs.AddValue("Package.Flags", p.Flags, "only documented PkgFlags bits")
	}
	// The Distribution Settings tab offers on-demand distribution as a
	// sub-option of automatic download, the opposite of DO_NOT_DOWNLOAD.
	if p.Flags&(FlagDoNotDownload|FlagDistributeOnDemand) == FlagDoNotDownload|FlagDistributeOnDemand {
		probs.AddValue("Package.Flags", p.Flags, "DISTRIBUTE_ON_DEMAND needs automatic download (DO_NOT_DOWNLOAD clear)")
	}
	if p.Priority < PriorityHigh || p.Priority > PriorityLow {
		probs.AddValue("Package.Priority", int(p.Priority), "1 (high), 2 (normal) or 3 (low)")
	}
	p.checkShare(&probs)
	if p.SourceSite != "" && p.SourceSite.Validate() != nil {
		probs.AddValue("Package.SourceSite", string(p.SourceSite), "three letters or digits")
	}
	p.checkSource(&probs)
	return probs.Err()
}

func (p *Package) checkShare(probs *consign.Problems) {
	switch p.ShareType {
	case ShareCommon:
		probs.Check(p.ShareName == "", "Package.ShareName", "empty with the common share (ShareType 1)")
	case ShareSpecific:
		if p.ShareName == "" || strings.ContainsAny(p.ShareName, `/<>:"|?*`) || strings.HasPrefix(p.ShareName, `\`) ||
			strings.HasSuffix(p.ShareName, `\`) || strings.Contains(p.ShareName, `\\`) {
			probs.AddValue("Package.ShareName", p.ShareName, `"share" or "share\path" with ShareType 2`)
		}
	default:
		probs.AddValue("Package.ShareType", p.ShareType, "1 (common) or 2 (specific)")
	}
}

// checkSource checks the rules that depend on whether the package has
// source files.
func (p *Package) checkSource(probs *consign.Problems) {
	if !p.HasSource() {
		probs.Check(p.SourcePath == "", "Package.SourcePath", "empty when the package has no source files")
		probs.Check(len(p.Manifest.Files) == 0, "Package.Manifest", "empty when the package has no source files")
		// Both are options of the Data Source tab that need source files.
		if p.Flags&(FlagPersistInCache|FlagUseBinaryDeltaRep) != 0 {
			probs.AddValue("Package.Flags", p.Flags, "PERSIST_IN_CACHE and USE_BINARY_DELTA_REP need source files")
		}
	} else {
		switch {
		case p.SourcePath == "":
			probs.Add("Package.SourcePath", "required when the package has source files")
		case utf8.RuneCountInString(p.SourcePath) > maxSourcePath:
			probs.AddValue("Package.SourcePath", p.SourcePath, fmt.Sprintf("at most %d characters", maxSourcePath))
		case !validSourcePath(p.SourcePath):
			probs.AddValue("Package.SourcePath", p.SourcePath, `a UNC path (\\server\share) or a local path on the site server (C:\folder)`)
		}
		p.Manifest.check(probs, "Package.Manifest")
		p.checkFullPaths(probs, p.Manifest, "Package.Manifest")
	}
	// §7 invariant 5.
	if len(p.RefreshSchedule) > 0 && p.SourceFlag != StorageDirect {
		probs.Add("Package.RefreshSchedule", "only with SourceFlag 2 (always obtain files from the source directory)")
	}
	for i, tok := range p.RefreshSchedule {
		if !isScheduleToken(tok) {
			probs.AddValue(fmt.Sprintf("Package.RefreshSchedule[%d]", i), tok, "a schedule token of 16 hexadecimal characters")
		}
	}
}

// checkFullPaths applies §1.2's rule that no source path plus file name may
// exceed 254 characters (longer ones cannot be replicated).
func (p *Package) checkFullPaths(probs *consign.Problems, m Manifest, prefix string) {
	base := utf8.RuneCountInString(strings.TrimSuffix(p.SourcePath, `\`)) + 1
	for i, f := range m.Files {
		if base+utf8.RuneCountInString(f.Path) > maxSourceFilePath {
			probs.AddValue(fmt.Sprintf("%s.Files[%d].Path", prefix, i), f.Path,
				fmt.Sprintf("source path plus file path at most %d characters", maxSourceFilePath))
		}
	}
}

// validSourcePath reports whether s is \\server\share[\...] or X:\[...].
// Mapped drives are not allowed either, but cannot be told from local
// drives without the site server, so they are not checked here.
func validSourcePath(s string) bool {
	if strings.ContainsAny(s, `/<>"|?*`) {
		return false
	}
	if rest, ok := strings.CutPrefix(s, `\\`); ok {
		server, share, _ := strings.Cut(rest, `\`)
		share, _, _ = strings.Cut(share, `\`)
		return server != "" && share != "" && !strings.Contains(rest, ":")
	}
	return len(s) >= 3 && isLetter(s[0]) && s[1] == ':' && s[2] == '\\' && !strings.Contains(s[2:], ":")
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isScheduleToken checks the form of a schedule token (§1.8) without
// decoding it; package schedule owns the meaning.
func isScheduleToken(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkText records a problem when s is longer than max characters, or
// empty while required.
func checkText(probs *consign.Problems, field, s string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(s) == "":
		probs.Add(field, "required")
	case utf8.RuneCountInString(s) > max:
		probs.AddValue(field, s, fmt.Sprintf("at most %d characters", max))
	}
}

// bitName names one bit of a flag word.
type bitName struct {
	bit  uint32
	name string
}

// formatBits lists the set bits of v by name, in the order of names, then
// any unnamed bits in hex; "0" when none is set.
func formatBits(v uint32, names []bitName) string {
	var parts []string
	for _, n := range names {
		if v&n.bit != 0 {
			parts = append(parts, n.name)
			v &^= n.bit
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("0x%08X", v))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Clone returns a deep copy of p.
func (p *Package) Clone() *Package {
	np := *p
	np.RefreshSchedule = slices.Clone(p.RefreshSchedule)
	np.Manifest.Files = slices.Clone(p.Manifest.Files)
	return &np
}
