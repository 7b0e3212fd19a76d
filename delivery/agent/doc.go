// Package agent is a Consign device agent as a library: the device side of
// software distribution (§3.1–3.5 of the domain reference,
// configmgr2007.md), and its building blocks.
//
// # Agent
//
// New and Run: the agent registers through a ManagementPoint (the
// httpmp.Client speaks to an httpmp.Server), asks for its policy at start,
// on a jittered poll (never aligned to the clock) and whenever a long poll
// says it changed, and takes only policy whose signature, subject, serial
// and expiry verify (signing.Verifier: no rollback, no acting on frozen
// policy). It decides each offer itself with the site's own pure functions
// (advertisement.Decide over collection.EffectiveWindows), runs what is due
// one program at a time — dependencies first, content located, its signed
// manifest checked against the policy's hash, downloaded into the Cache and
// run by the Executor — and queues every status message in the Outbox,
// which a sender drains to the site. Registration, execution history and
// the last good policy survive restarts in the State.
//
// # State
//
// OpenState opens the agent's one durable file (bbolt). It holds the outbox,
// the cache index and a small key/value area (Get, Put, Delete) for what the
// agent loop keeps between runs: policy high-water marks, the last policy
// ETag, task-sequence progress. One process at a time may open the file; a
// second agent on the same file waits StateOptions.LockTimeout and fails
// with an error matching consign.ErrUnavailable that says the file is
// locked.
//
// # Outbox
//
// Outbox is the durable queue of status messages (§1.18, §4.2). Add makes
// messages durable before it returns; Pending reads the oldest; Ack removes
// what the site accepted. Delivery is at least once: a message stays until
// acked, so a crash or an unreachable site resends it, and the site drops
// duplicates by Message.ID. The outbox is bounded, and refuses an Add that
// would pass the bound (*OutboxFullError) rather than silently dropping
// status.
//
// # Cache
//
// Cache is the client cache (§3.4): a directory per package version
// ("<PackageID>.<SourceVersion>"), with sizes, last-use times and the
// "persist content in client cache" flag in the State. Reserve makes room
// by evicting least-recently-used content that is not persisted, not in use
// and not referenced within the last day; content larger than the cache
// fails with status 10050 (*CacheSpaceError with TooSmall), a full cache
// with a retryable *CacheSpaceError.
//
// # Executors
//
// Executor runs a Command (a program's command line, working directory and
// maximum run time) and returns an Outcome; Outcome.Event maps it to the
// status event to report, using advertisement.ExitCodes (§3.5): success,
// success with restart (3010, 1641…), retry, failure, exceeded time.
// ExecExecutor runs real processes through the platform shell and kills
// those that pass their maximum run time; SimExecutor scripts outcomes, with
// a seeded random failure rate and an injectable clock (SimClock), for tests
// and simulated fleets.
//
// # Errors
//
// Errors match the consign codes with errors.Is: ErrInvalid for bad input
// (wrapping a *consign.ValidationError naming the field and the rule),
// ErrNotFound, ErrFailedPrecondition (a damaged or foreign state file, a
// cache too small, an entry in use, a program that cannot start) and
// ErrUnavailable (a locked or closed state file, a full outbox or cache: the
// call had no effect and may be retried).
//
// # Concurrency
//
// State, Outbox, Cache and both executors are safe for concurrent use.
package agent
