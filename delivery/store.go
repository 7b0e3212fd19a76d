package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/consign/consign"
)

// Record is one stored object. The Site encodes domain objects into records
// and back; a Store only keeps bytes and a few index fields.
type Record struct {
	// Kind groups records, e.g. "package", "program", "advertisement",
	// "device", "adstatus". A Store treats it as an opaque string.
	Kind string
	// Key is unique within Kind. Stores order keys by byte value.
	Key string
	// Revision is set by the Store on every write: the store-wide revision of
	// the write that last changed this record. Zero means absent. Revisions
	// increase strictly across the whole store, so every write is ordered.
	Revision int64
	// Index holds the few fields the Site looks records up by (List's
	// IndexName/IndexValue). Nil and empty maps are equivalent.
	Index map[string]string
	// Data is the encoded object. A Store keeps it verbatim and must not
	// retain or modify the caller's slice after the call returns.
	Data []byte
}

// Query narrows List.
type Query struct {
	// IndexName and IndexValue, when IndexName is set, keep only records
	// that have the field IndexName and whose value equals IndexValue.
	IndexName, IndexValue string
	// After, when set, keeps only keys greater than After (for paging).
	After string
	// Limit is the most records to return; 0 means no limit.
	Limit int
}

// Op says what a Write does.
type Op int

const (
	// Put creates or replaces the record.
	Put Op = iota + 1
	// Delete removes the record. Deleting an absent record with Expect
	// AnyRevision or 0 is not an error and leaves no tombstone.
	Delete
)

// AnyRevision as Write.Expect writes whatever the record's current revision.
const AnyRevision int64 = -1

// Write is one change inside an atomic Apply.
type Write struct {
	Op     Op
	Record Record // Kind and Key always; Index and Data for Put
	// Expect is the revision the record must have for the whole Apply to
	// succeed: AnyRevision for no check, 0 for "must not exist", otherwise
	// the exact revision last read.
	Expect int64
}

// Change is one entry of the change feed: the latest state of a record whose
// last write has a revision greater than the one asked for.
type Change struct {
	Record  Record // Revision is the write's revision; Data and Index are empty when Deleted
	Deleted bool
}

// Store is the persistence contract a Site runs on. It is deliberately small
// and knows nothing of the domain, so an adapter can be written in a day and
// does not change when the domain grows. delivery/storetest is its
// definition: every adapter must pass storetest.Run.
//
// Implementations must be safe for concurrent use. Errors must match the
// consign error codes with errors.Is: consign.ErrNotFound,
// consign.ErrConflict and consign.ErrUnavailable (the call had no effect and
// may be retried). A cancelled context returns ctx.Err() (possibly wrapped)
// and must leave nothing written.
type Store interface {
	// Get returns the record, or an error matching consign.ErrNotFound.
	Get(ctx context.Context, kind, key string) (Record, error)
	// List returns the records of kind matching q in ascending key order.
	// The returned string is the key to pass as q.After for the next page,
	// or "" when there are no more records.
	List(ctx context.Context, kind string, q Query) ([]Record, string, error)
	// Apply performs every write or none. If any write's Expect does not
	// hold, nothing is written and the error matches consign.ErrConflict.
	// All writes of one Apply share one new revision, returned on success;
	// every successful call (even an empty one) returns a revision higher
	// than any before. A Kind and Key may appear at most once in one Apply,
	// and a negative Expect other than AnyRevision is invalid
	// (consign.ErrInvalid).
	Apply(ctx context.Context, writes []Write) (int64, error)
	// Changes returns, in increasing revision order, the latest state of
	// every record last written with a revision greater than after
	// (deleted records as tombstones), at most limit of them (0 = no limit).
	// Changes(ctx, 0, 0) therefore returns the whole store, which is how a
	// Site loads itself; later calls let it follow writes made by others.
	// A page never ends inside a revision: when limit falls inside the
	// writes of one Apply or PutBatch, the rest of that revision is returned
	// too, so that paging with after = the last revision seen skips nothing.
	// Tombstones are kept (memstore keeps them forever). A revision must
	// become visible in the feed only after every lower revision has, so a
	// reader that has seen revision r never later finds a new change below r.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Close releases the store. Calls after Close return an error matching
	// consign.ErrUnavailable; a second Close returns nil.
	Close() error
}

// BulkWriter is an optional Store capability for high-volume device state
// (status messages, inventory): unconditional upserts of many records in one
// call, cheaper than Apply. A Store without it gets the same records through
// Apply. PutBatch is all or nothing and returns the revision it used.
type BulkWriter interface {
	PutBatch(ctx context.Context, records []Record) (int64, error)
}

// ErrCommitUnknown is what a Store returns when it cannot tell whether an
// Apply or PutBatch committed (the connection dropped after the commit was
// sent and the outcome could not be learnt). It matches no consign code:
// the write may have happened, so it is not ErrUnavailable ("nothing was
// written, retry"). A Site that gets it catches up from the change feed
// before its next workflow, and returns it to the caller.
var ErrCommitUnknown = errors.New("commit outcome unknown")

// CheckWrites adds to p every way writes break the Store contract's input
// rules, each naming the write ("writes[2].Record.Key"): an empty Kind or
// Key, a Kind and Key named twice, an Op other than Put or Delete, an
// Expect below AnyRevision. A Store calls it first in Apply, adds its own
// limits, and returns p.Err() wrapped in consign.ErrInvalid if anything
// was found.
func CheckWrites(p *consign.Problems, writes []Write) {
	seen := make(map[[2]string]int, len(writes))
	for i, w := range writes {
		checkKey(p, seen, "writes", ".Record", i, w.Record)
		if w.Op != Put && w.Op != Delete {
			p.AddValue(fmt.Sprintf("writes[%d].Op", i), int(w.Op), "Put or Delete")
		}
		if w.Expect < AnyRevision {
			p.AddValue(fmt.Sprintf("writes[%d].Expect", i), w.Expect, "AnyRevision, 0 or a revision")
		}
	}
}

// CheckRecords is CheckWrites for BulkWriter.PutBatch: fields such as
// "records[3].Key".
func CheckRecords(p *consign.Problems, records []Record) {
	seen := make(map[[2]string]int, len(records))
	for i, r := range records {
		checkKey(p, seen, "records", "", i, r)
	}
}

// checkKey adds a problem for an empty Kind or Key of the i-th element of
// the call's list, or for a Kind and Key that an earlier element (in seen)
// already names.
func checkKey(p *consign.Problems, seen map[[2]string]int, list, field string, i int, r Record) {
	path := func(name string) string { return fmt.Sprintf("%s[%d]%s.%s", list, i, field, name) }
	if r.Kind == "" {
		p.Add(path("Kind"), "must not be empty")
	}
	if r.Key == "" {
		p.Add(path("Key"), "must not be empty")
	}
	k := [2]string{r.Kind, r.Key}
	if first, dup := seen[k]; dup {
		p.AddValue(path("Key"), r.Key, fmt.Sprintf("must not repeat %s[%d] in one call", list, first))
	} else {
		seen[k] = i
	}
}
