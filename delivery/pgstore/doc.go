// Package pgstore is the PostgreSQL delivery.Store (and delivery.BulkWriter):
// several Site processes share one database and stay coherent by following
// its change feed (DESIGN.md, "A Store contract that fits rule 5"). It
// passes storetest.RunPersistent.
//
//	s, err := pgstore.Open(ctx, "postgres://consign@db:5432/cm?sslmode=require", &pgstore.Options{Schema: "cen"})
//	…
//	site, err := delivery.Open(ctx, s, nil, &delivery.Options{SiteCode: "CEN"})
//
// Open makes and owns a pgx connection pool; New runs over a pool the
// caller owns (and leaves it open on Close). PostgreSQL 14 or later is
// needed (pg_xact_status, and pg_terminate_backend with a timeout).
//
// # Layout
//
// A store lives in one schema (Options.Schema, default "consign"), so
// several stores can share a database. Its tables (migrations/0001_*.sql):
//
//   - revision: one row, the last store-wide revision taken;
//   - records: (kind, key) → rev, deleted, index_names[], index_values[],
//     data; tombstones keep kind, key and the delete's revision, with
//     data and the index NULL. Indexed by (kind, key) and (rev, kind, key);
//   - record_index: (kind, name, value, key) for every index field of every
//     live record, its primary key being the order List with IndexName
//     walks;
//   - schema_version: the migrations applied.
//
// Kinds, keys and index fields are bytea: a Go string may hold any bytes,
// and bytea compares them the way delivery.Store orders keys (byte by
// byte, as text COLLATE "C" would, but for NUL and invalid UTF-8 too).
// Kind and Key together, and Kind, Key, field name and value together, are
// limited to 2,048 bytes (PostgreSQL's B-tree entries cannot be much
// larger); longer ones are refused with consign.ErrInvalid.
//
// # Revisions and visibility
//
// Every Apply and PutBatch is one transaction that starts by incrementing
// the revision row (UPDATE … RETURNING). The row lock that takes is held
// until the transaction ends, so writers are serialised: the one that got
// revision r+1 waited for revision r to commit or roll back (a rolled-back
// transaction gives its revision back, so revisions have no gaps).
// Transactions therefore commit in revision order, and any snapshot that
// sees revision r sees every revision below it. That is the guarantee
// Changes needs: a Site that has read up to r never later finds a change
// below r. A sequence would not give it (nextval does not wait, so 8 could
// commit and be read before 7), nor would commit timestamps.
//
// The price is that writes of one store do not overlap: each waits for the
// previous one's COMMIT, including its WAL flush. With synchronous_commit
// on (the default), store-wide throughput is about one write transaction
// per flush, whatever the number of Site processes; batch device state with
// PutBatch and large Applies, which pay one flush for thousands of records.
//
// # Writes
//
// Apply and PutBatch validate everything first (nothing is sent for
// invalid input), then run in two round trips:
//
//  1. BEGIN, take the revision, check every Expect in one query (a
//     primary-key probe per write; deleted records count as absent);
//  2. if all hold: upsert the puts in one statement, tombstone the deletes
//     in another, COMMIT.
//
// The upsert probes each put's record, updates the ones that exist (a
// tombstone included) and inserts the others — plain statements, since the
// revision lock keeps every other writer out — and touches record_index
// only for records whose index fields change, deleting the entries they no
// longer have and inserting the new ones. Puts travel as
// array parameters, or, from Options.CopyThreshold puts, are first copied
// with COPY into a temporary table (pgstore_stage, ON COMMIT DELETE ROWS)
// before the revision is taken, so the lock is held only while the server
// applies them. Every statement reaches rows of records and record_index by
// primary-key probes (LATERAL … OFFSET 0 subqueries the planner cannot turn
// into whole-table joins), so a write costs what its batch holds, not what
// the store holds. Writes run with jit off and custom plans (SET LOCAL).
//
// # Reads
//
// Get is a primary-key lookup. List pages by key (LIMIT n+1 to know whether
// a next page exists); with IndexName it walks record_index's primary key
// and probes records per key. Changes reads WHERE rev > after ORDER BY rev,
// kind, key along the (rev, kind, key) index; with a limit, the page ends
// at the revision of its limit-th row, computed in the same query, so it
// never ends inside a revision and sees one snapshot. List and Changes are
// planned for their actual arguments on every call (pgx's describe-cached
// mode, one round trip): a prepared statement's generic plan, which
// PostgreSQL may adopt after five runs, would guess them, and a guess made
// while a Site loaded the whole feed would scan the whole table for every
// later tail. Their rows are decoded from the binary format directly
// (reading a million-record feed went from about 270,000 to 340,000
// records/s; the rest is mostly allocating the records themselves).
//
// # Errors
//
// Errors match the consign codes with errors.Is: a missing record
// consign.ErrNotFound; a failed Expect or a unique violation (23505)
// consign.ErrConflict; invalid input, or a value PostgreSQL cannot index or
// store (54000, class 22), consign.ErrInvalid wrapping
// *consign.ValidationError; serialization failures (40001), deadlocks
// (40P01), lock and statement timeouts, shutdowns, terminated backends,
// lost or refused connections, and every other failure that left nothing
// written, consign.ErrUnavailable (retry). A cancelled context gives the
// context's error. A closed Store gives consign.ErrUnavailable.
//
// # Commit outcome
//
// A connection can fail after COMMIT was sent and before its reply
// arrived; the transaction may then have committed or not, and pgx cannot
// tell (pgconn.SafeToRetry is false: data was sent). Such a write is never
// reported as consign.ErrUnavailable, which promises that nothing was
// written. The store knows the transaction's ID (pg_current_xact_id, read
// with the revision) and asks PostgreSQL on another connection with
// pg_xact_status; if the old backend is still running the transaction it
// is first ended with pg_terminate_backend. Then:
//
//   - committed: the call succeeds and returns its revision;
//   - aborted: the call fails with consign.ErrUnavailable (or the context's
//     error, if it was cancelled);
//   - no answer within Options.ResolveTimeout: the call fails with an error
//     matching ErrCommitUnknown and no consign code; read the records to
//     find out.
//
// A failure before the second round trip was sent, or a statement error
// (severity ERROR) inside it, which makes the server skip COMMIT, needs no
// such question.
//
// # Cancellation
//
// A context cancelled before or during the first round trip (or the COPY
// before it) rolls the transaction back and returns the context's error;
// nothing is written. One cancelled while the second round trip is in
// flight is resolved as above: pgx closes the connection, and the store
// reports what PostgreSQL did with the COMMIT it may already have.
//
// # Migrations
//
// Open and New create the schema and its tables from the embedded SQL
// files, in one transaction holding pg_advisory_xact_lock on a key derived
// from the schema name, so processes starting together apply each
// migration once. A schema already at SchemaVersion is only read (no DDL,
// no lock). A schema migrated by a newer release is refused with
// consign.ErrFailedPrecondition.
//
// # Testing
//
// The tests need a database: set CONSIGN_TEST_POSTGRES (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); without it they
// skip. Each store a test opens gets a fresh schema, dropped at the end.
package pgstore
