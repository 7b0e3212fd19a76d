// Package boltstore is the embedded persistent delivery.Store: one bbolt
// (go.etcd.io/bbolt) file, pure Go, no server. It passes
// storetest.RunPersistent and implements delivery.BulkWriter.
//
//	s, err := boltstore.Open("/var/lib/consign/site.db", nil)
//	…
//	site, err := delivery.Open(ctx, s, nil, nil)
//
// One process at a time can have a file open (bbolt locks it); several
// Sites in that process may share it, through one Store or through several
// Opens of the same path, which share one database. Site processes that
// must run side by side need a shared database server instead
// (delivery/pgstore).
//
// # Layout
//
// The file holds five top-level buckets. Kinds get a nested bucket of their
// own under records, index and tombstones, so that a kind is a contiguous
// key range that List walks without touching other kinds. Revisions are
// written as 8-byte big-endian integers, so byte order is revision order;
// strings inside composite keys are prefixed with their length as a uvarint,
// so no byte value needs escaping and Data, keys and index values may hold
// any bytes.
//
//	boltstore                 meta: "format" → 8-byte format version (1);
//	                          "revision" → the last revision taken;
//	                          "entries" → the number of change entries (a
//	                          hint that sizes Changes' buffers)
//	records/<kind>            Key → revision, index, Data (see below)
//	index/<kind>              len(name) name len(value) value Key → (empty)
//	tombstones/<kind>         Key → revision of the delete
//	changes                   revision len(kind) kind Key → "" (live) or "d" (tombstone)
//
// A record value is its revision, its index (a uvarint field count, then
// each field's name and value, length-prefixed, in name order) and Data,
// verbatim, to the end.
//
// Get is one lookup in records/<kind>. List walks records/<kind> from
// Query.After in key order; with an index filter it walks the entries of
// index/<kind> under the prefix for that field and value instead, which are
// in key order too, and looks each record up, so its cost is that of the
// page it returns, not of the kind. Changes walks changes from after+1: the
// bucket holds exactly one entry per record ever written (its latest write,
// or its tombstone), because a write deletes the record's previous entry.
// It then reads the live records the page names in kind and key order, so
// that reading the whole store (as a Site does when it opens) walks each
// kind's bucket once, stepping a cursor instead of searching per record.
//
// # Format version
//
// FormatVersion (1) is stored in the meta bucket when a file is created.
// Open refuses a file of a higher version with an error matching
// consign.ErrFailedPrecondition that says so, and likewise a bbolt file
// that boltstore did not create. A later version that changes the layout
// will raise FormatVersion and convert older files at Open.
//
// # Writes
//
// Apply and PutBatch validate their input first (writing nothing if any
// write is invalid), then run one bbolt read-write transaction: check
// every Expect against the records as stored, then write, then commit,
// taking the next revision from the meta counter. Each write costs a lookup
// and a few puts, and each call one commit (two fsyncs); writes are applied
// in kind and key order (a sort, skipped when they come in order), so that
// neighbouring writes find their pages in the processor's caches. Deletes
// leave a tombstone in tombstones/<kind> and changes, kept forever like
// memstore's; writing the record again removes it.
//
// bbolt is a copy-on-write B+tree: a commit rewrites every page it
// touched. Writes to keys that follow each other (new devices, a load in
// key order) share pages, and buckets only appended to in a transaction
// are written with fuller pages; writes scattered over a large kind cost
// about one 4 KiB page each. BENCHMARKS.md has the figures.
//
// Concurrent Applies and PutBatches share commits (group commit): while one
// transaction commits, others queue; the first queued then runs everything
// queued in one transaction, each call under its own revision, checked
// against the writes of the calls before it. A call whose Expect fails
// wrote nothing and fails alone; the others commit. No call waits for a
// timer, unlike bbolt's DB.Batch, so a lone writer pays no delay.
//
// # Cancellation
//
// A context cancelled before a call starts returns ctx.Err() (wrapped). A
// write checks its context every 1,024 writes and just before the commit;
// a cancelled write rolls back and leaves nothing. One cancelled after the
// commit began has committed and reports success.
//
// # Reads
//
// Each Get, List and Changes runs in one read transaction, a consistent
// snapshot: writes commit whole and in revision order, so a revision never
// becomes visible before a lower one. Records are copied out, so callers may
// keep and modify what they get.
//
// # Errors
//
// Errors match the consign codes: ErrNotFound, ErrConflict, ErrInvalid
// (wrapping a *consign.ValidationError per problem), ErrUnavailable for a
// closed store, a locked file or a failed commit (nothing was written), and
// ErrFailedPrecondition, together with ErrCorrupt, for stored bytes that do
// not decode (a damaged file): the error names the file and the record, and
// nothing panics.
//
// # Durability
//
// Every commit is fsynced before Apply returns, unless Options.NoSync is
// set, which is for tests and benchmarks only.
package boltstore
