// Package delivery is where Consign runs: Site is the concrete type programs
// call. It holds a site's packages, programs, collections, devices and
// advertisements, runs the console's wizards as atomic workflows, answers a
// device's "what must I run, and when" (Policy), takes in status (Report) and
// keeps per-advertisement summaries.
//
// A Site sits on a Store (persistence, see Store and delivery/storetest) and a
// Transport (how devices are told that new policy waits). Both are small
// interfaces an integration author implements; delivery/memstore is the
// in-memory Store.
package delivery
