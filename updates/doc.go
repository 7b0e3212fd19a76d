// Package updates models Configuration Manager 2007 Software Updates: the
// update catalog and its synchronisation, per-device compliance, update
// lists, deployment templates, deployments, and the client's enforcement
// decision (reference §1.11–1.15, §2.8–2.11, §3.6, §3.7, §4.3, §4.4).
// Section numbers (§) refer to the domain reference, configmgr2007.md.
//
// The package is pure: no I/O, no goroutines, no clock. Time is always a
// parameter. Implementations that read a catalog from somewhere live in
// subpackages (jsoncatalog).
//
// # Updates and their identity
//
// Update is one SMS_SoftwareUpdate (§1.11): the site-local CIID, the
// vendor's UniqueID (a GUID, held in lower case without braces; see
// ParseUniqueID) and Revision, the taxonomy a sync filters on
// (Classification, Product, Languages), the install budget
// (MaxExecutionTime), and its content Files with their SHA-256. Expired and
// SupersededBy say whether it may still be deployed. ParseClassification,
// ParseSeverity and ParseRestartBehavior read the names catalogs use.
//
// # Validation
//
// Update.Validate, UpdateList.Validate, Template.Validate,
// Settings.Validate and Deployment.Validate report every rule an object
// breaks at once, each as a *consign.ValidationError whose Field is a path
// such as "Update.Files[2].Name" (errors.Is(err, consign.ErrInvalid) holds).
// Deployment.Validate looks the deployed updates up in the catalog and
// refuses any that is expired or superseded (§1.11, §7 invariant 8); its
// error carries the refused update's UpdateRef. A deployment may ignore
// maintenance windows only when it has a deadline, as an advertisement may
// only when it is mandatory.
//
// # Catalog synchronisation
//
// A Source is where a site synchronises from (the software update point's
// WSUS, or any vendor feed). Its Fetch returns a Batch: the updates new or
// changed since a cursor, and the next cursor; the Source documentation
// states the contract (idempotence, ordering, how expiry and supersedence
// arrive). Package jsoncatalog is a Source over a JSON file.
//
// PlanSync is the synchronisation as a pure function: from a lookup of the
// stored catalog, the incoming batch, a Filter (classifications, products,
// languages; §1.11) and a CI_ID allocator, it returns a SyncPlan — New
// updates with fresh CI_IDs, Revised ones at a higher revision, Expired ones
// (including every update now superseded, since ConfigMgr 2007 expires
// superseded updates at sync, §5.2 item 4), and the Unchanged, Skipped and
// Rejected ones. An invalid update is rejected by name and the rest of the
// batch still synchronises. Syncing a batch twice changes nothing the second
// time; a language filter changed after a sync applies to new and revised
// updates only, as in ConfigMgr (§1.11).
//
// After a sync expires updates, ContainsExpired, UpdateList.RefreshFlags and
// Deployment.RefreshFlags recompute the ContainsExpiredUpdates and
// ContainsSupersededUpdates flags of the lists and deployments holding them
// (§1.12, §1.15).
//
// # Compliance
//
// ComplianceIndex is the site's in-memory index of every device's state
// for every update (SMS_UpdateComplianceStatus, topic 500, §1.11, §3.7
// step 2, §4.3). State messages arrive in batches (Apply, SetDevice); the
// summaries the console shows are kept up to date as they do, so reading
// one costs a few nanoseconds whatever the fleet size: per update
// NumMissing/NumPresent/NumNotApplicable/NumUnknown/PercentCompliant
// (UpdateSummary), per deployment its collection's members by topic 300
// assignment compliance (ComplianceSummary, §3.7 step 7), per collection
// its members over every update, and per device its counts, its states
// (DeviceStates) and its Required updates, the enforcement decision's
// input (§3.7 step 3). A device that never reported is Unknown, never
// compliant. The index is owned by one goroutine (the caller locks).
//
// # Enforcement
//
// Enforce is the software updates client agent's decision for one device at
// one instant (§3.6, §3.7, §4.4): from the device's Required updates, the
// deployments targeting it (read in its time zone unless UseGMTTimes), its
// maintenance windows, cache, slow boundary and running or pending installs,
// it returns an EnforcePlan — what to download (mandatory updates at once,
// never gated by windows), what to install now (shortest max run time
// first, each fitting the open window at max run time + restart countdown +
// restart turnaround after those before it), what waits and why, what no
// window can ever hold (11717), what the user may install, the restart
// decision (now, next window, or suppressed for the device's class), each
// deployment's topic 301 state and topic 300 compliance, and when to decide
// again. "Enforce all mandatory deployments" (AgentSettings, 7 days) pulls
// nearby deadlines into the pass. StateAfterInstall is the §4.3 transition
// after an install: Required until a needed restart happens. The topic 300,
// 301 and 302 states and the status message IDs 11700–11756 are typed
// constants (status.go).
//
// # Choices where the reference is silent
//
//   - UniqueIDs are compared in one canonical form, lower-case GUIDs
//     without braces (the WSUS API's form); sources normalise with
//     ParseUniqueID.
//   - Names of update lists, templates and deployments hold at most 255
//     characters and descriptions 512 (the reference gives lengths only for
//     deployment packages, §1.14). Update titles and products hold at most
//     255.
//   - MaxExecutionTime is at most 24 hours (MaxMaxExecutionTime): every
//     maintenance window is shorter (§1.7), so a longer budget could never
//     fit one.
//   - An update's Languages list exactly the languages of its files, so a
//     language filter decides on Languages; an update with no Languages is
//     language-neutral and always passes a language filter.
//   - Expiry is one-way and always applied, even to an update the filter no
//     longer selects, so that nothing the vendor withdrew stays deployable.
//   - The deployment template Duration default (two weeks) and the
//     local-time default for deployment times are [UNVERIFIED] (§1.13, §8
//     item 3).
package updates
