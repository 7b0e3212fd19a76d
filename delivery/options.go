package delivery

import (
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
)

// Options configure a Site. A nil *Options, and every zero field, means the
// documented default.
type Options struct {
	// SiteCode is this site's three-character code; new object IDs start
	// with it. Default "CEN".
	SiteCode consign.SiteCode
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Logger receives the Site's log records. Default: none (silent).
	Logger *slog.Logger
	// Schema is the WQL schema collections are written against: ConfigMgr's
	// classes plus any the embedder adds (see collection.NewSchema).
	// Default collection.DefaultSchema().
	Schema *wql.Schema
	// Countdown is the Advertised Programs agent's countdown before a
	// mandatory program starts, used in the maintenance-window fit test
	// (§3.2 4d, §3.6). Default 5 minutes [UNVERIFIED: the 2007 default is
	// not documented; 5 minutes matches the restart countdown].
	Countdown time.Duration
	// WindowHorizon is how far ahead maintenance windows are computed for
	// the offer decision. Default 7 days.
	WindowHorizon time.Duration
	// UpdateAgent is the Software Updates client agent's settings (restart
	// countdown and turnaround, "enforce all mandatory deployments",
	// hiding deployments; §1.16) that UpdatePolicy decides with. The zero
	// value means ConfigMgr's defaults.
	UpdateAgent updates.AgentSettings
	// DPRetry is the site-wide DP copy retry policy (§1.4); zero means the
	// ConfigMgr defaults of 100 retries, 30 minutes apart.
	DPRetry distpoint.Retry

	// Libraries returns the content library of a distribution point, by
	// NAL path; DistributeContent and ValidateContent need it.
	Libraries func(nalPath string) (distpoint.Library, error)
	// SourceDirs maps a package to the local (or mounted) directory
	// holding its source files, for a site server whose package source
	// paths (UNC or drive paths, as ConfigMgr records them) are reached
	// elsewhere. DownloadUpdates writes update files into a deployment
	// package's directory; for a package it is creating, p.ID is still
	// empty. Default: the package's SourcePath itself.
	SourceDirs func(p *pkg.Package) (string, error)
	// Sources opens a package's source files. Default: the directory
	// SourceDirs gives.
	Sources func(p *pkg.Package) (fs.FS, error)
	// PackagesInParallel and ThreadsPerPackage are the Software
	// Distribution component's "maximum number of packages" and "maximum
	// threads per package" (§1.4). Defaults 3 and 5 [UNVERIFIED: believed
	// to be the 2007 defaults].
	PackagesInParallel, ThreadsPerPackage int
	// BytesInFlight bounds the bytes being copied to DPs at once. Default
	// 256 MiB.
	BytesInFlight int64
	// ContentValidation, when set, is the schedule on which
	// RunScheduledValidation re-hashes every package on every DP (content
	// validation on a schedule; the site server's clock, so it is read in
	// UTC).
	ContentValidation *schedule.Token
	// Checkpoint, when set, is the path of a file where the Site keeps a
	// checkpoint of what it derives from its devices (see
	// Site.Checkpoint): Open reads it back, when the store vouches for
	// it, instead of loading every device and evaluating every collection
	// over them, and Close writes it. A checkpoint that is missing,
	// damaged or not this store's is logged and ignored (Open then loads
	// the whole store). Each Site process needs a file of its own.
	// Default: none.
	Checkpoint string
	// Progress, when set, receives distribution progress: files and bytes
	// per DP, and state changes. It is called from several goroutines.
	Progress func(ProgressEvent)
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.SiteCode == "" {
		r.SiteCode = "CEN"
	}
	if r.Clock == nil {
		r.Clock = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Countdown == 0 {
		r.Countdown = 5 * time.Minute
	}
	if r.WindowHorizon == 0 {
		r.WindowHorizon = 7 * 24 * time.Hour
	}
	r.DPRetry = r.DPRetry.Limits()
	if r.SourceDirs == nil {
		r.SourceDirs = sourcePath
	}
	if r.Sources == nil {
		dirs := r.SourceDirs
		r.Sources = func(p *pkg.Package) (fs.FS, error) {
			dir, err := dirs(p)
			if err != nil {
				return nil, err
			}
			return os.DirFS(dir), nil
		}
	}
	if r.PackagesInParallel <= 0 {
		r.PackagesInParallel = 3
	}
	if r.ThreadsPerPackage <= 0 {
		r.ThreadsPerPackage = 5
	}
	if r.BytesInFlight <= 0 {
		r.BytesInFlight = 256 << 20
	}
	return r
}
