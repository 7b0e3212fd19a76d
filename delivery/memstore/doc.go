// Package memstore is the in-memory delivery.Store: the embedded default,
// which needs nothing else to run, and the reference every other adapter is
// measured against with delivery/storetest.
//
// # Contents
//
// A Store keeps, per kind, the records in a map plus the live keys in
// ascending byte order and one such ordered key set per index field and
// value, so List finds its first record in O(log n) and then pays only for
// the records it returns, with or without an index filter. A store-wide
// change index orders every record by the revision of its last write, so
// Changes pages the same way.
//
// # Tombstones
//
// Deleting a record leaves a tombstone (kind, key and the delete's revision)
// in the change index so that Changes reports the delete to a Site following
// the feed. Tombstones are kept for as long as the Store lives: the feed has
// no horizon, and Changes(ctx, 0, 0) always returns every record ever
// deleted as well as every live one. Deleting an absent record changes
// nothing and leaves no tombstone.
//
// # Revisions
//
// Every successful Apply or PutBatch, even one with no writes, takes the
// next store-wide revision (1, 2, 3, …); all its writes carry it. A page of
// Changes never ends inside a revision: when limit falls inside one, the
// rest of that revision is returned too, so the last Revision of a page is
// always a safe value for the next call's after.
//
// # Concurrency
//
// A Store is safe for concurrent use. One sync.RWMutex guards it: Get, List
// and Changes share it, Apply and PutBatch hold it exclusively, so every
// reader sees each Apply entirely or not at all. Records are copied on the
// way in and on the way out (Index map and Data slice), so neither the
// caller's nor the returned values alias what the Store keeps.
package memstore
