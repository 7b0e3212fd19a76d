// Package delivery is where Consign runs: Site is the concrete type programs
// call. It holds a site's packages, programs, distribution points,
// collections, devices and advertisements, runs the console's wizards as
// atomic workflows, answers a device's "what must I run, and when" (Policy),
// takes in status (Report) and keeps per-advertisement summaries.
//
// A Site sits on a Store (persistence; see Store and delivery/storetest) and
// a Transport (how devices are told that new policy waits). Both are small
// interfaces an integration author implements; delivery/memstore is the
// in-memory Store and ChannelTransport the in-process Transport.
//
// # Workflows
//
// Every change is validate → plan → apply: the workflow is checked against
// a snapshot of the site (every problem reported at once, as
// *consign.ValidationError values naming the field and the rule), planned
// as a list of record writes, and applied by one atomic Store.Apply. A
// workflow that fails leaves nothing behind. DistributeSoftware is the
// Distribute Software Wizard of §2.5 as one such call.
//
// # Content
//
// Package content reaches distribution points through their content
// libraries (Options.Libraries; delivery/fslibrary is one on a directory).
// The package-on-DP rows are the desired state: workflows move them to
// Install Pending or Removal Pending, and DistributeContent does what they
// ask — copying, verifying and publishing each version, or removing it —
// and records the outcome on each row, so work resumes after a crash.
// ValidateContent re-hashes what a DP holds; Locate tells a device which
// DPs to use (§3.3).
//
// # Consistency
//
// The Site keeps the whole model in memory — collection membership,
// advertisement targeting, device status and summaries are maintained
// incrementally — and memory is always a function of the stored records:
// Open loads the Store's change feed, and each workflow updates memory from
// the records it wrote. Each write expects the revision the Site last saw,
// so several Site processes can share one Store: the one that loses a race
// catches up from the feed and plans again.
//
// # Concurrency
//
// All methods are safe for concurrent use. Workflows are serialised per
// Site; Policy and the other read methods run in parallel with each other.
// Values a Policy returns point to the Site's immutable copies and must not
// be modified.
//
// # Errors
//
// Errors match the codes of package consign with errors.Is: ErrNotFound for
// a missing object, ErrInvalid for bad input, ErrConflict when a concurrent
// writer won repeatedly, ErrPermissionDenied for objects of another site or
// built-in ones, ErrFailedPrecondition when the site's state forbids the
// change (deleting a program still advertised), ErrUnavailable when the
// Store is unreachable or the Site closed.
package delivery
