// Package jsoncatalog is an updates.Source that reads a catalog of software
// updates from a JSON file: a vendor feed, or a catalog an administrator
// curates, for sites that do not synchronise from WSUS (reference §1.11).
//
// # Using it
//
// Open (or New, over any fs.FS) checks the file once and returns a *Source.
// Every Fetch reads the file again, so a catalog republished in place is
// picked up by the next synchronisation:
//
//	src, err := jsoncatalog.Open("/srv/catalog/contoso.json")
//	batch, err := src.Fetch(ctx, cursor) // "" the first time
//	plan, err := updates.PlanSync(have, batch.Updates, filter, alloc)
//	// apply plan, then store batch.Cursor for the next Fetch
//
// Decode and Catalog.Encode read and write the format for tools that
// publish catalogs.
//
// # The format (version 1)
//
// A catalog is one JSON object:
//
//	{
//	  "format": 1,                       // required; this package reads version 1
//	  "catalog": "contoso-updates",      // required; 1–64 of A–Z a–z 0–9 . _ -
//	  "sequence": 28,                    // required; the catalog's revision
//	  "generated": "2009-03-13T18:00:00Z", // optional, informational (RFC 3339)
//	  "updates": [ … ]                   // required; entries, below
//	}
//
// Each entry of "updates" is one update at its latest revision:
//
//	{
//	  "sequence": 27,                    // required, ≥ 1 and ≤ the catalog's sequence
//	  "id": "1f3c…-…",                   // required; the UniqueID, a GUID (braces and
//	                                     // upper case accepted, stored in lower case)
//	  "revision": 101,                   // RevisionNumber; default 0
//	  "article": "950192",               // KB number, digits only
//	  "bulletin": "CS09-004",            // security bulletin
//	  "title": "Security Update for …",  // required by validation
//	  "description": "…",
//	  "classification": "Security Updates", // one of the nine WSUS names, as
//	                                     // updates.ParseClassification reads them
//	  "product": "Contoso OS 6.0",       // required by validation
//	  "severity": "Moderate",            // None (default), Low, Moderate, Important,
//	                                     // Critical; or "0", "2", "6", "8", "10"
//	  "released": "2009-02-10T18:00:00Z", // DatePosted, RFC 3339
//	  "revised": "2009-03-12T18:00:00Z", // DateRevised, RFC 3339
//	  "languages": ["en", "de"],         // the files' languages; absent = neutral
//	  "maxExecutionMinutes": 45,         // install budget; absent or 0 = site default
//	  "restart": "CanRequestRestart",    // NeverRestarts (default),
//	                                     // AlwaysRequiresRestart, CanRequestRestart
//	  "supersededBy": ["…"],             // UniqueIDs of the superseding updates
//	  "expired": true,                   // the vendor withdrew it; default false
//	  "files": [{
//	    "name": "contoso-os60-kb950192-x86.msu", // file name, no path
//	    "url": "https://…/contoso-os60-kb950192-x86.msu", // http, https or file
//	    "size": 107,                     // bytes
//	    "sha256": "9f2c…",               // 64 hexadecimal digits
//	    "language": "en"                 // absent = every language
//	  }]
//	}
//
// Every field maps to the updates.Update field of the same meaning; CIID is
// not in the file, since the site assigns CI_IDs.
//
// # Sequences and the cursor
//
// The publisher keeps one counter, the catalog's "sequence". Every time it
// adds or changes an entry — a new update, a revision, an expiry, a new
// supersedence — it increments the counter and stamps the entry with the new
// value (several entries changed together may share one value). An entry's
// sequence therefore says when it last changed, and the catalog's is at
// least every entry's.
//
// Batch.Cursor is "<catalog>:<sequence>", e.g. "contoso-updates:28".
// Fetch(ctx, cursor) returns the entries whose sequence is greater than the
// cursor's, in file order: exactly those changed since the catalog the
// cursor came from. A cursor naming another catalog, or malformed, is an
// error wrapping consign.ErrInvalid; a cursor ahead of the file (the file
// was replaced by an older copy) one wrapping consign.ErrFailedPrecondition,
// since syncing would silently miss changes: start again from "".
//
// # Strictness
//
// Decoding is strict about the format: JSON syntax, unknown fields (at any
// level), value types, enumeration names, timestamps, hash lengths, the
// format version, the catalog name, sequence numbers, ids (GUIDs, each
// update once) and the ids in supersededBy are
// all checked, and every problem is reported at once as a
// *consign.ValidationError whose Field is a JSON path such as
// "updates[3].files[1].sha256". A file that breaks the format is refused
// whole. Rules about the updates themselves (title length, file names, URL
// schemes, …) are updates.Update.Validate's: an entry that breaks them is
// returned as it is, and updates.PlanSync rejects it by name while the rest
// of the catalog synchronises.
//
// # Test data
//
// testdata/catalog.json is a sample catalog of 25 updates for a fictional
// vendor's products across all nine classifications, with two supersedence
// pairs and one expired update; testdata/catalog-v2.json is its next
// revision (one update revised, one new update superseding an older one,
// one newly expired). The content of every file is in testdata/content,
// named by the file's "name", so download tests can check sizes and hashes.
package jsoncatalog
