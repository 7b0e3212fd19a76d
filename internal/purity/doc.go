// Package purity holds the test that keeps Consign's domain packages pure
// (DESIGN.md rule 1): they never import delivery or an adapter, do no I/O,
// start no goroutines and never read the clock. It has no exported API.
package purity
