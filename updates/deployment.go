package updates

import (
	"time"

	"github.com/consign/consign"
)

// SuppressReboot is SMS_UpdatesAssignment.SuppressReboot (§1.15): which
// device classes must not be restarted by the deployment.
type SuppressReboot uint32

// The SuppressReboot bits.
const (
	SuppressWorkstations SuppressReboot = 1 << 0
	SuppressServers      SuppressReboot = 1 << 1
)

// DPLocality is SMS_UpdatesAssignment.DPLocality (§1.15): the download
// settings as a flag word.
type DPLocality uint32

// The DPLocality bits Consign models.
const (
	DPDownloadFromLocal     DPLocality = 0x10
	DPDownloadFromRemote    DPLocality = 0x40
	DPNoFallbackUnprotected DPLocality = 0x20000
)

// Settings are the deployment properties a deployment template saves: the
// pages of the Deploy Software Updates Wizard marked * (§1.13, §2.8). The
// zero value is the wizard's defaults.
type Settings struct {
	// CollectionID is the target collection; optional in a template, so
	// one template can serve phased roll-outs.
	CollectionID consign.ObjectID
	// NotifyUser shows display notifications on clients.
	NotifyUser bool
	// UseGMTTimes reads the deployment's times in UTC; false reads them in
	// each device's local time. [UNVERIFIED] which one 2007 templates
	// default to; Consign's zero value is local time, as the wizard's
	// first option.
	UseGMTTimes bool
	// Duration proposes the deadline: available time + Duration. Zero
	// means DefaultDuration.
	Duration time.Duration
	// SuppressReboot stops restarts on workstations and/or servers.
	SuppressReboot SuppressReboot
	// RebootOutsideServiceWindows allows the restart outside maintenance
	// windows.
	RebootOutsideServiceWindows bool
	// DisableMomAlerts and RaiseMomAlertsOnFailure are the Operations
	// Manager options (Event Generation page); stored, not acted on.
	DisableMomAlerts        bool
	RaiseMomAlertsOnFailure bool
	// DownloadOnSlowBoundary: a client on a slow or unreliable boundary
	// downloads and installs (DPLocality 0x40); false, the wizard's
	// default, means it does not install. On a fast boundary the client
	// always downloads.
	DownloadOnSlowBoundary bool
	// NoFallbackUnprotected denies fallback to unprotected DPs for a
	// client inside a protected boundary (DPLocality 0x20000).
	NoFallbackUnprotected bool
}

// DefaultDuration is the deadline a template proposes after the available
// time. [UNVERIFIED] believed to be two weeks (§1.13).
const DefaultDuration = 14 * 24 * time.Hour

// Template is a saved deployment template (SMS_Template, §1.13): site-local,
// named uniquely.
type Template struct {
	Name        string
	Description string
	Settings    Settings
	Modified    time.Time
}

// UpdateList is an admin-curated set of updates (SMS_AuthorizationList,
// §1.12).
type UpdateList struct {
	CIID        CIID
	Name        string
	Description string
	Updates     []CIID
	// ContainsExpiredUpdates and ContainsSupersededUpdates are computed
	// by the site from the catalog.
	ContainsExpiredUpdates    bool
	ContainsSupersededUpdates bool
}

// Deployment is a software update deployment (SMS_UpdatesAssignment,
// §1.15): a set of updates assigned to a collection, available from a time
// and, when it has a deadline, mandatory.
type Deployment struct {
	// ID is the AssignmentID, unique on the site.
	ID          uint32
	Name        string
	Description string
	// Updates are the AssignedCIs.
	Updates []CIID
	// Settings hold the collection and the template-able properties.
	Settings Settings
	// Available is StartTime, when the updates become available on
	// clients; Deadline is EnforcementDeadline (zero: an optional
	// deployment); Expiration is ExpirationTime (zero: none). With
	// Settings.UseGMTTimes false they are civil times read in each
	// device's zone (see At).
	Available  time.Time
	Deadline   time.Time
	Expiration time.Time
	// OverrideServiceWindows installs at the deadline even outside a
	// maintenance window (mandatory deployments only).
	OverrideServiceWindows bool
	// Enabled is false for a disabled deployment: clients ignore it.
	Enabled bool
	// PackageID is the deployment package the wizard put the content in.
	// Informational: there is no hard link, and a client installs an
	// update from any DP holding it in any deployment package (§1.14).
	PackageID consign.ObjectID
	// ContainsExpiredUpdates is set by the site when an assigned update
	// expires after the deployment was made.
	ContainsExpiredUpdates bool
	Created, Modified      time.Time
}

// Mandatory reports whether d has a deadline.
func (d *Deployment) Mandatory() bool { return !d.Deadline.IsZero() }

// DPLocality returns the deployment's download settings as the flag word.
func (s Settings) DPLocality() DPLocality {
	l := DPDownloadFromLocal
	if s.DownloadOnSlowBoundary {
		l |= DPDownloadFromRemote
	}
	if s.NoFallbackUnprotected {
		l |= DPNoFallbackUnprotected
	}
	return l
}

// At returns t as an instant for a device in loc: t itself in UTC mode,
// otherwise t's wall-clock reading in loc (nil loc means UTC). A zero t
// stays zero.
func (d *Deployment) At(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() || d.Settings.UseGMTTimes {
		return t
	}
	if loc == nil {
		loc = time.UTC
	}
	y, mo, day := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, day, h, mi, s, t.Nanosecond(), loc)
}
