// Package consign is the root of the Consign SDK: it delivers software
// packages and software updates to fleets of devices, modelled on
// Configuration Manager 2007's Software Distribution and Software Updates
// features.
//
// This package holds only what every other package shares: the error codes
// (ErrNotFound, ErrConflict, ErrInvalid, …), *ValidationError, and the
// identifier types SiteCode and ObjectID. The work is done elsewhere:
//
//   - package/ (import as pkg): packages, programs, program flags, the
//     "run another program first" chain, content manifests, 4-part versions.
//   - schedule: ConfigMgr schedule tokens (the 16-hex-character strings),
//     their next occurrences in a time zone.
//   - collection: devices and their inventory, collections with direct and
//     query rules, maintenance windows, full and incremental evaluation.
//   - collection/wql: ConfigMgr's WQL dialect — parse, compile, evaluate.
//   - advertisement: advertisements, their flag words, the per-device offer
//     decision, rerun rules, exit-code classes, client status and summaries.
//   - tasksequence: task sequences — groups and steps with conditions,
//     their package references, the XML form, and the execution engine a
//     device agent drives and persists (tasksequence.Run).
//   - delivery: Site, the type programs call — wizards as atomic workflows,
//     policy for a device, status intake, summaries — over a pluggable Store
//     and Transport.
//   - delivery/memstore: the in-memory Store; delivery/storetest: the
//     conformance suite every Store must pass.
//   - distpoint: distribution points, boundaries, the package-on-DP state
//     machine, content location, and the Library interface for content on a
//     DP (distpoint/librarytest is its conformance suite).
//   - delivery/fslibrary: a Library on a directory, single-instance by
//     SHA-256; delivery/source: reading package source into a manifest.
//
// The domain packages (pkg, schedule, collection, collection/wql,
// advertisement, tasksequence, distpoint, updates) are pure: no I/O, no goroutines, no clock. Time is always a
// parameter. delivery orchestrates them.
//
// # Errors
//
// Every error matches one of the codes in this package with errors.Is. Bad
// input is reported as one or more *ValidationError values (find them with
// errors.As), each naming the field and the rule it broke.
package consign
