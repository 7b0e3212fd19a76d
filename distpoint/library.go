package distpoint

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
)

// Library is the content on one distribution point: blobs stored once each
// by SHA-256 (single instance: two packages or two versions sharing a file
// store it once), and the published versions of packages, each a manifest
// whose every file names a stored blob.
//
// The Site copies a version to a DP as put every missing blob (PutBlob
// verifies each on arrival), then Publish; a version is never visible half
// written. Refresh (repair) is Verify, then put the blobs it reported, then
// Publish again. Library is the driver interface: the filesystem adapter is
// delivery/fslibrary, and distpoint/librarytest is the conformance suite
// every implementation must pass.
//
// # Contract for implementations
//
//   - Every method is safe for concurrent use. Two calls putting the same
//     blob both succeed and one copy is kept.
//   - Every method first returns ctx.Err() (possibly wrapped) if ctx is
//     already done, and a call cancelled part way stops soon with an error
//     matching ctx.Err() and leaves no partial state: no partly written
//     blob, no half-published version.
//   - pkgID must satisfy consign.ObjectID.Validate and version must be at
//     least 1 (the first SourceVersion); otherwise the call fails with an
//     error matching consign.ErrInvalid and changes nothing.
//   - "Not found" failures match consign.ErrNotFound; content whose hash or
//     size is not the one claimed gives an error matching
//     consign.ErrInvalid; other failures (disk full, permission, network)
//     are returned as they are, wrapped with the operation.
//   - Slices passed in are not retained; slices returned are the caller's.
type Library interface {
	// HasBlob reports whether the blob with SHA-256 sum is stored, and its
	// stored size. A missing blob is (0, false, nil), not an error.
	HasBlob(ctx context.Context, sum [32]byte) (size int64, ok bool, err error)

	// PutBlob stores the bytes of r as the blob sum. It verifies while
	// writing that they are exactly size bytes hashing to sum; if not, it
	// stores nothing and returns a *HashMismatchError (which matches
	// consign.ErrInvalid). A blob becomes visible to HasBlob and OpenBlob
	// only complete and verified. If the blob is already stored, PutBlob
	// may return nil without reading r. A negative size is invalid.
	PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error

	// OpenBlob opens the blob sum for reading; the caller closes it. A
	// missing blob gives consign.ErrNotFound. The bytes are not re-hashed:
	// readers that must be sure (clients do, §3.4) hash what they read.
	OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error)

	// Publish makes version of package pkgID visible with manifest m, in
	// one atomic step: before it Version reports ErrNotFound, after it
	// Version returns m (in m.Sorted() order). m must pass Validate
	// (otherwise ErrInvalid and nothing changes), and every file's blob
	// must be stored with the file's size: a missing blob gives
	// consign.ErrNotFound naming the file's path, a size that differs gives
	// consign.ErrInvalid, and in both cases nothing becomes visible.
	// Publishing a version again with the same content (same m.Hash()) is
	// a no-op; with different content it fails with consign.ErrConflict,
	// because a published version never changes (a new SourceVersion is a
	// new version).
	Publish(ctx context.Context, pkgID consign.ObjectID, version uint32, m pkg.Manifest) error

	// Version returns the manifest of a published version, its files in
	// path order (m.Sorted()), or consign.ErrNotFound.
	Version(ctx context.Context, pkgID consign.ObjectID, version uint32) (pkg.Manifest, error)

	// Versions lists the published versions of pkgID in increasing order;
	// a package with none gives an empty list and no error.
	Versions(ctx context.Context, pkgID consign.ObjectID) ([]uint32, error)

	// Remove unpublishes a version (and any tree a Materializer laid out
	// for it). Its blobs stay until GC. An absent version gives
	// consign.ErrNotFound.
	Remove(ctx context.Context, pkgID consign.ObjectID, version uint32) error

	// GC deletes every blob that no published version references and
	// returns how many it deleted. Blobs put but not yet published are
	// unreferenced: run GC when no copy to this library is in flight, or
	// be ready for that copy's Publish to fail with consign.ErrNotFound
	// and to put the blob again.
	GC(ctx context.Context) (removed int, err error)

	// Verify re-hashes every file of a published version and returns the
	// files whose stored content no longer matches the manifest (the
	// classic "content hash mismatch", reference §5.2 item 3), in path
	// order; nil means the version is intact. An unpublished version gives
	// consign.ErrNotFound. A blob found corrupt is discarded, since it can
	// never again be served under its hash: from then on HasBlob reports it
	// absent and a PutBlob stores it afresh, which is how a refresh repairs
	// the DP.
	Verify(ctx context.Context, pkgID consign.ObjectID, version uint32) ([]Mismatch, error)
}

// Materializer is an optional capability of a Library whose content lives
// on a file system: it lays out a published version's tree as ordinary
// files, for a run-from-DP share (§3.4). Find it by type assertion.
type Materializer interface {
	// Materialize lays out every file of the published version at its
	// manifest path below a directory the library owns and returns that
	// directory. The tree appears complete or not at all; calling again
	// returns the same directory. Remove deletes the tree. Files in the
	// tree must be treated as read-only: they may share storage with the
	// blobs. An unpublished version gives consign.ErrNotFound.
	Materialize(ctx context.Context, pkgID consign.ObjectID, version uint32) (dir string, err error)
}

// Mismatch is one file whose stored content is not what its manifest
// says.
type Mismatch struct {
	// File is the manifest entry: path, expected size and SHA-256.
	File pkg.File
	// Missing is true when the content could not be found at all; Size
	// and SHA256 are then zero.
	Missing bool
	// Size and SHA256 describe the content actually found.
	Size   int64
	SHA256 [32]byte
}

// String describes the mismatch for a status message or a log.
func (m Mismatch) String() string {
	if m.Missing {
		return fmt.Sprintf("%s: content missing (want %d bytes, sha256 %s)", m.File.Path, m.File.Size, hex.EncodeToString(m.File.SHA256[:]))
	}
	return fmt.Sprintf("%s: content hash mismatch: want %d bytes, sha256 %s; found %d bytes, sha256 %s",
		m.File.Path, m.File.Size, hex.EncodeToString(m.File.SHA256[:]), m.Size, hex.EncodeToString(m.SHA256[:]))
}

// HashMismatchError is returned when bytes offered as a blob are not the
// ones claimed. errors.Is(err, consign.ErrInvalid) is true for it.
type HashMismatchError struct {
	// WantSHA256 and WantSize are what the caller claimed.
	WantSHA256 [32]byte
	WantSize   int64
	// GotSHA256 and GotSize are what was read. When more than WantSize
	// bytes were offered, reading stops there: GotSize is then
	// WantSize+1 and GotSHA256 is zero.
	GotSHA256 [32]byte
	GotSize   int64
}

// Error names the expected and the actual content.
func (e *HashMismatchError) Error() string {
	if e.GotSize != e.WantSize {
		more := ""
		if e.GotSize > e.WantSize {
			more = " or more"
		}
		return fmt.Sprintf("blob %s: size mismatch: want %d bytes, got %d%s",
			hex.EncodeToString(e.WantSHA256[:]), e.WantSize, e.GotSize, more)
	}
	return fmt.Sprintf("blob: hash mismatch: want sha256 %s, got %s (%d bytes)",
		hex.EncodeToString(e.WantSHA256[:]), hex.EncodeToString(e.GotSHA256[:]), e.GotSize)
}

// Is makes errors.Is(err, consign.ErrInvalid) true.
func (e *HashMismatchError) Is(target error) bool { return target == consign.ErrInvalid }
