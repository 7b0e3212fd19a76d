// Package updates models Configuration Manager 2007 Software Updates: the
// update catalog and its synchronisation, per-device compliance, update
// lists, deployment templates, deployments, and the client's enforcement
// decision (reference §1.11–1.15, §2.8–2.11, §3.6, §3.7, §4.3, §4.4).
// Section numbers (§) refer to the domain reference, configmgr2007.md.
//
// The package is pure: no I/O, no goroutines, no clock. Time is always a
// parameter. Implementations that read a catalog from somewhere live in
// subpackages (jsoncatalog).
package updates
