// Package collection models ConfigMgr 2007 collections: devices with their
// discovery and inventory data, collections built from membership rules,
// subcollection links, maintenance windows, and the evaluation that turns
// rules into members (reference §1.6, §1.7, §2.7, §3.6, §7).
//
// The package is pure: no I/O, no clock, and it starts no goroutines. Every
// evaluation takes the time to use for GETDATE() as a parameter; an Engine
// spreads long work over goroutines only when its caller lends them
// (Engine.SetParallel).
//
// # Devices
//
// A Device is one SMS_R_System resource plus its hardware and software
// inventory rows, keyed by ConfigMgr's class and property names
// (SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName, …). DefaultSchema lists the
// classes queries may read; NewSchema adds an embedder's own.
//
// # Storage
//
// EncodeDevice gives a Device's storage form, the compact bytes a store
// keeps for it (the format is documented in storage.go, and fixed under its
// format byte); DecodeDevice reverses it, and DecodeDeviceFields reads only
// the Device fields. Engine.PutEncodedDevices puts devices straight from
// their storage form, as a site loading itself from its store does.
//
// # Membership
//
// A collection's members are the union of its rules (§1.6, S-COLL):
//
//   - a DirectRule pins one resource, for as long as that resource exists;
//   - a QueryRule selects the resources its WQL query matches, intersected
//     with the members of its LimitToCollectionID when one is set.
//
// ConfigMgr 2007 has no include or exclude rules, and limiting is per query
// rule, not per collection. Subcollections (Tree) are organisational only:
// they inherit neither membership nor maintenance windows.
//
// # Evaluation
//
// Engine holds the devices and collections of one site and keeps every
// collection's membership. EvaluateAll and Evaluate re-run queries in full, as
// ConfigMgr does on a collection's refresh schedule; PutDevice and
// RemoveDevice re-evaluate only what the change can affect, and always give
// the result a full evaluation would (§5.2 item 1 names full re-query as a
// pain point). Each call returns a Delta listing the membership changes, which
// is what policy generation needs (§3.1).
//
// Loading a site is two calls: PutEncodedDevices with every device record,
// then LoadCollections with every collection, which evaluates them all in
// one pass over the devices and skips the Delta (tens of millions of
// changes for a million devices); the caller reads memberships afterwards.
//
// # Maintenance windows
//
// ServiceWindow is SMS_ServiceWindow (§1.7). A device's effective windows are
// the union of the enabled windows of every collection it is a member of, with
// no inheritance from parent collections (§3.6); EffectiveWindows computes
// their openings in a time range.
package collection

import "github.com/consign/consign"

// AllSystemsID is the built-in "All Systems" collection: every SMS_R_System
// resource (§1.1, S-COLL). It exists in every Engine and cannot be changed or
// removed.
const AllSystemsID consign.ObjectID = "SMS00001"

// RootID is COLLROOT, the pseudo collection at the top of the console's
// collection tree (§1.1, §1.6).
const RootID = "COLLROOT"
