package updates

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
)

// CIID is a configuration item's site-local ID (CI_ID, §1.11): the key of
// an update or an update list on the site.
type CIID uint32

// Classification is the WSUS classification of an update (§1.11).
type Classification int

// The classifications a site synchronises.
const (
	CriticalUpdates Classification = iota + 1
	SecurityUpdates
	ServicePacks
	UpdateRollups
	DefinitionUpdates
	FeaturePacks
	Tools
	Drivers
	Updates
)

// Classifications lists every classification in declaration order.
var Classifications = []Classification{CriticalUpdates, SecurityUpdates, ServicePacks, UpdateRollups, DefinitionUpdates, FeaturePacks, Tools, Drivers, Updates}

// String returns the classification's name as the console shows it.
func (c Classification) String() string {
	switch c {
	case CriticalUpdates:
		return "Critical Updates"
	case SecurityUpdates:
		return "Security Updates"
	case ServicePacks:
		return "Service Packs"
	case UpdateRollups:
		return "Update Rollups"
	case DefinitionUpdates:
		return "Definition Updates"
	case FeaturePacks:
		return "Feature Packs"
	case Tools:
		return "Tools"
	case Drivers:
		return "Drivers"
	case Updates:
		return "Updates"
	}
	return fmt.Sprintf("Classification(%d)", int(c))
}

// Severity is the vendor's severity rating (Severity, §1.11).
type Severity int

// The severities and their numeric values.
const (
	SeverityNone      Severity = 0
	SeverityLow       Severity = 2
	SeverityModerate  Severity = 6
	SeverityImportant Severity = 8
	SeverityCritical  Severity = 10
)

// String returns the severity's name.
func (s Severity) String() string {
	switch s {
	case SeverityNone:
		return "None"
	case SeverityLow:
		return "Low"
	case SeverityModerate:
		return "Moderate"
	case SeverityImportant:
		return "Important"
	case SeverityCritical:
		return "Critical"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// RestartBehavior is whether installing an update restarts the device
// (the WSUS installation behaviour).
type RestartBehavior int

// The restart behaviours; the zero value is NeverRestarts.
const (
	// NeverRestarts: the update installs without a restart.
	NeverRestarts RestartBehavior = iota
	// AlwaysRequiresRestart: every install needs a restart to finish.
	AlwaysRequiresRestart
	// CanRequestRestart: the installer may ask for one (exit code 3010).
	CanRequestRestart
)

// String returns the behaviour's name.
func (r RestartBehavior) String() string {
	switch r {
	case NeverRestarts:
		return "NeverRestarts"
	case AlwaysRequiresRestart:
		return "AlwaysRequiresRestart"
	case CanRequestRestart:
		return "CanRequestRestart"
	}
	return fmt.Sprintf("RestartBehavior(%d)", int(r))
}

// Default maximum execution times (MaxExecutionTime, §1.11, §3.6): what the
// client budgets for an install when fitting it into a maintenance window.
const (
	DefaultMaxExecutionTime            = 20 * time.Minute
	DefaultServicePackMaxExecutionTime = 60 * time.Minute
)

// Update is one software update in the site's catalog (SMS_SoftwareUpdate,
// §1.11), with the metadata that drives decisions.
type Update struct {
	// CIID is the site-local key, assigned by the site at first sync.
	CIID CIID
	// UniqueID is the WSUS update ID (a GUID), the key a catalog Source
	// uses; Revision is its RevisionNumber, which grows when the vendor
	// revises the metadata.
	UniqueID string
	Revision uint32
	// ArticleID is the KB number (digits only, "958644"); BulletinID the
	// security bulletin, if any ("MS08-067").
	ArticleID  string
	BulletinID string
	// Title and Description are the localised display name and text.
	Title       string
	Description string
	// Classification and Product place the update in the catalog's
	// taxonomy; sync filters on them.
	Classification Classification
	Product        string
	Severity       Severity
	// Released and Revised are DatePosted and DateRevised.
	Released time.Time
	Revised  time.Time
	// Languages are the languages the update's files exist in; empty means
	// language-neutral.
	Languages []string
	// MaxExecutionTime is the install budget; zero means the site default
	// (EffectiveMaxExecutionTime).
	MaxExecutionTime time.Duration
	// Restart says whether installing it restarts the device.
	Restart RestartBehavior
	// SupersededBy names (by UniqueID) the updates that supersede this
	// one. In ConfigMgr 2007 a superseded update is expired at sync
	// (§1.11 IsSuperseded).
	SupersededBy []string
	// Expired is IsExpired: the vendor (or supersedence) expired it, and it
	// can no longer be deployed.
	Expired bool
	// Files are the update's content: what a deployment package must hold
	// for clients to install it.
	Files []ContentFile
}

// ContentFile is one file of an update's content (SMS_CIContentFiles).
type ContentFile struct {
	// Name is the file name in the deployment package.
	Name string
	// URL is where the vendor publishes it (http, https or file); a
	// content source may find it elsewhere by name and hash.
	URL string
	// Size and SHA256 identify the bytes exactly.
	Size   int64
	SHA256 [32]byte
	// Language is the file's language; "" means every language.
	Language string
}

// Superseded reports whether another update supersedes u.
func (u *Update) Superseded() bool { return len(u.SupersededBy) > 0 }

// EffectiveMaxExecutionTime is u's install budget: MaxExecutionTime, or
// the site default for its classification (60 minutes for service packs,
// 20 otherwise).
func (u *Update) EffectiveMaxExecutionTime() time.Duration {
	switch {
	case u.MaxExecutionTime > 0:
		return u.MaxExecutionTime
	case u.Classification == ServicePacks:
		return DefaultServicePackMaxExecutionTime
	}
	return DefaultMaxExecutionTime
}

// ComplianceState is a device's state for one update
// (SMS_UpdateComplianceStatus.Status, topic 500, §3.7 step 2, §4.3).
type ComplianceState uint8

// The compliance states. The zero value is Unknown: a device that never
// reported is never silently compliant.
const (
	// Unknown: no scan result received from the device for the update.
	Unknown ComplianceState = 0
	// NotRequired: the update does not apply to the device.
	NotRequired ComplianceState = 1
	// Required: applicable and missing, or installed but pending a restart.
	Required ComplianceState = 2
	// Installed: present on the device.
	Installed ComplianceState = 3
)

// String returns the state's console name.
func (s ComplianceState) String() string {
	switch s {
	case Unknown:
		return "Unknown"
	case NotRequired:
		return "Not Required"
	case Required:
		return "Required"
	case Installed:
		return "Installed"
	}
	return fmt.Sprintf("ComplianceState(%d)", int(s))
}

// Valid reports whether c is one of the nine classifications.
func (c Classification) Valid() bool { return c >= CriticalUpdates && c <= Updates }

// ParseClassification returns the classification named s: the console name
// ("Security Updates") or the WSUS enumeration name without spaces
// ("SecurityUpdates"), in any case. Anything else is a
// *consign.ValidationError for field "Classification".
func ParseClassification(s string) (Classification, error) {
	key := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	for _, c := range Classifications {
		if strings.EqualFold(key, strings.ReplaceAll(c.String(), " ", "")) {
			return c, nil
		}
	}
	return 0, &consign.ValidationError{Field: "Classification", Value: s, Rule: "one of the nine WSUS classifications (§1.11), e.g. \"Security Updates\""}
}

// Valid reports whether s is one of the five severities (0, 2, 6, 8, 10).
func (s Severity) Valid() bool {
	switch s {
	case SeverityNone, SeverityLow, SeverityModerate, SeverityImportant, SeverityCritical:
		return true
	}
	return false
}

// ParseSeverity returns the severity named s ("Critical", any case) or
// numbered s ("10"). Anything else is a *consign.ValidationError for field
// "Severity".
func ParseSeverity(s string) (Severity, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil && Severity(n).Valid() {
		return Severity(n), nil
	}
	for _, v := range []Severity{SeverityNone, SeverityLow, SeverityModerate, SeverityImportant, SeverityCritical} {
		if strings.EqualFold(t, v.String()) {
			return v, nil
		}
	}
	return 0, &consign.ValidationError{Field: "Severity", Value: s, Rule: "None (0), Low (2), Moderate (6), Important (8) or Critical (10) (§1.11)"}
}

// Valid reports whether r is one of the three restart behaviours.
func (r RestartBehavior) Valid() bool { return r >= NeverRestarts && r <= CanRequestRestart }

// ParseRestartBehavior returns the behaviour named s ("CanRequestRestart",
// any case). Anything else is a *consign.ValidationError for field
// "Restart".
func ParseRestartBehavior(s string) (RestartBehavior, error) {
	t := strings.TrimSpace(s)
	for r := NeverRestarts; r <= CanRequestRestart; r++ {
		if strings.EqualFold(t, r.String()) {
			return r, nil
		}
	}
	return 0, &consign.ValidationError{Field: "Restart", Value: s, Rule: "NeverRestarts, AlwaysRequiresRestart or CanRequestRestart"}
}

// ParseUniqueID returns s as an update's UniqueID in Consign's canonical
// form: the GUID's 32 hexadecimal digits in lower case, grouped 8-4-4-4-12
// by hyphens, without braces — the form the WSUS API prints an update ID in.
// It accepts upper case and one pair of surrounding braces
// ("{C1D0F0E2-...}"). Anything else is a *consign.ValidationError for field
// "UniqueID". Update.Validate accepts only the canonical form, so catalog
// sources normalise with ParseUniqueID.
func ParseUniqueID(s string) (string, error) {
	t := s
	if len(t) == 38 && t[0] == '{' && t[37] == '}' {
		t = t[1:37]
	}
	if !isGUID(t) {
		return "", &consign.ValidationError{Field: "UniqueID", Value: s, Rule: guidRule}
	}
	return strings.ToLower(t), nil
}

const guidRule = "a GUID: 8-4-4-4-12 hexadecimal digits"

// isGUID reports whether s is 8-4-4-4-12 hexadecimal digits, in any case.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isCanonicalGUID reports whether s is a GUID in ParseUniqueID's form.
func isCanonicalGUID(s string) bool {
	if !isGUID(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'F' {
			return false
		}
	}
	return true
}
