// Package httpdp serves a distribution point's content over HTTP and
// downloads it on the device side: the BITS-enabled DP of ConfigMgr
// (reference §1.4, §3.4) with resumable, hash-verified transfers that
// fail over from one DP to the next in content-location order (§3.3).
//
// A Server is an http.Handler over one DP's distpoint.Library. A
// Downloader is what a device agent uses: it fetches the files of a
// manifest the caller already trusts (its signature was verified
// elsewhere) into a folder, resuming interrupted files, verifying every
// file's size and SHA-256, and trying the next DP when one fails.
//
// # Protocol
//
// Everything is read-only; only GET and HEAD are allowed (any other method
// gets 405 with "Allow: GET, HEAD"). {packageID} is a package ID such as
// CEN00012 (consign.ParseObjectID; lower case is accepted and folded),
// {version} the SourceVersion in decimal (1 to 4294967295, no sign, no
// leading zeros).
//
//	GET /v1/content/{packageID}/{version}/manifest
//
// returns the published manifest as JSON, files in path order:
//
//	{"files":[{"path":"bin/setup.exe","size":1234,"sha256":"<64 hex digits>"}]}
//
// with ETag set to the quoted hex of the manifest's pkg.Manifest.Hash.
//
//	GET /v1/content/{packageID}/{version}/files/{path...}
//
// returns the bytes of the manifest file at path, each element
// percent-encoded on its own (url.PathEscape). The path is matched against
// the manifest, ignoring case the way Windows does (the manifest forbids
// two paths that differ only in case), and is never mapped onto a file
// system: only files the published manifest lists can be served. The ETag
// is the file's SHA-256 in hex, quoted; there is no Last-Modified.
// Content-Type is application/octet-stream. Range requests are supported
// as in RFC 9110: one range (206 with Content-Range), several
// (multipart/byteranges), If-Range with the ETag, If-None-Match. A request
// with more than 32 ranges is answered with the whole file. HEAD returns
// the headers of the GET.
//
// The DP does not re-hash content while serving it (the client does). A
// stored blob whose size differs from the manifest is refused (500) when
// the Library's reader can seek; otherwise the response is cut off at the
// manifest size or where the content ends, and the client goes elsewhere.
//
// # Errors on the wire
//
// Every failure the handler itself reports is a JSON body
//
//	{"error":{"code":"invalid","field":"path","message":"..."}}
//
// where field, when present, names the part of the URL at fault
// ("packageID", "version" or "path"). Codes and statuses:
//
//	400 invalid            malformed package ID, version or path: "..", ".",
//	                       empty elements, an absolute path, backslashes,
//	                       NUL or control characters, an encoded slash
//	                       (%2F) inside an element, characters Windows forbids
//	401 unauthenticated    Options.Authorize returned ErrUnauthenticated
//	403 permission_denied  Options.Authorize returned consign.ErrPermissionDenied
//	404 not_found          no such route, package version, or file in the
//	                       manifest; or the DP lost the file's content
//	405 method_not_allowed not GET or HEAD
//	500 internal           anything else (logged)
//	503 unavailable        the Library reported consign.ErrUnavailable
//
// A request-target with malformed percent-encoding never reaches the
// handler: net/http answers it with a plain-text 400. Range failures (416)
// and failed preconditions (412) come from http.ServeContent with a
// plain-text body.
//
// # Authorization and logging
//
// Options.Authorize runs after the request-target has been parsed and
// before the Library is read. It receives the request (to read a device
// credential from it) and the package ID; it returns nil to allow,
// ErrUnauthenticated (wrapped is fine) for a missing or unknown credential
// (401), consign.ErrPermissionDenied for a device not allowed this
// package's content (403), consign.ErrNotFound to hide the package (404).
// Failures are logged through Options.Logger with the method, the URL
// path (never the query) and the error; header values are never logged,
// and the values of the Authorization, Proxy-Authorization and Cookie
// headers are redacted from logged error texts.
//
// # Downloads
//
// Downloader.Fetch writes each file to "<dir>/<path>.part" and renames it
// into place after its size and SHA-256 matched the trusted manifest and
// its bytes were synced. A .part left by an interrupted Fetch (or by a
// source that died mid-transfer) is resumed with "Range: bytes=N-" and
// If-Range: the prefix is re-read from disk and hashed, so the whole file
// is verified, not just the new bytes. Files already in place are hashed
// and kept when they match. Every path is checked before anything is
// written, and all file access goes through an os.Root on dir, so neither
// a manifest path nor a symbolic link in dir can lead outside it.
//
// Per file, sources are tried in order, each up to Downloader.MaxAttempts
// times for transient failures (transport errors, 408, 429, 5xx, a body
// cut short, a stalled transfer), with a small exponential back-off that
// stops when ctx is cancelled. A 4xx or a content mismatch moves on to the
// next source at once. A hash mismatch discards the .part; it is blamed on
// a source only when that source supplied every byte, otherwise the same
// source is asked again for the whole file. A source that could not be
// reached at all is not asked again during the same Fetch.
//
// # Errors
//
// Fetch returns ctx.Err() itself when ctx is cancelled, an error matching
// consign.ErrInvalid for bad arguments (before anything is written), a
// *FileError for each file no source could serve (it matches
// consign.ErrUnavailable and wraps one *SourceError per source tried), and
// local I/O failures wrapped with the file's path.
//
// # Concurrency
//
// A Server is safe for concurrent use. A Downloader is safe for concurrent
// use by Fetch calls writing to different folders; two Fetch calls must
// not share a folder at the same time.
package httpdp
