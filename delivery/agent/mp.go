package agent

import (
	"context"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/signing"
)

// ManagementPoint is the site as the agent talks to it (§3.1, §3.3, §4.2):
// the device side of the management point protocol whose wire types are in
// package httpmp. httpmp.Client implements it over HTTP; tests and
// simulations can implement it over a delivery.Site in the same process.
//
// # Contract for implementations
//
//   - Every method is safe for concurrent use: the agent fetches policy,
//     long-polls and uploads status from different goroutines.
//   - A failure that may go away by itself (the site unreachable, a 5xx,
//     a timeout) matches consign.ErrUnavailable; the agent retries with
//     back-off and loses nothing.
//   - A credential the site does not accept (a deleted device, rotated
//     token keys) matches httpdp.ErrUnauthenticated; the agent registers
//     again.
//   - Input the site refuses matches consign.ErrInvalid (the agent drops a
//     status message the site refuses on its own, so that one bad message
//     cannot block the outbox).
//   - When ctx ends, a method returns promptly with an error wrapping
//     ctx.Err().
type ManagementPoint interface {
	// Register registers the device (client registration, §3.1) by its
	// SMSUniqueIdentifier and returns its ResourceID, its credential, the
	// keys policy and manifests are signed with, and the poll interval.
	// enrollSecret is what the site requires to admit a new device ("" when
	// enrolment is open).
	Register(ctx context.Context, d *collection.Device, enrollSecret string) (httpmp.Registration, error)
	// PutInventory replaces the device's discovery data and inventory.
	PutInventory(ctx context.Context, d *collection.Device) error
	// Policy returns the device's signed policy (a signing.KindPolicy
	// envelope whose payload is an httpmp.PolicyPayload) and its ETag. When
	// etag is not empty and equals the current ETag, env is nil: not
	// modified.
	Policy(ctx context.Context, etag string) (env *signing.Envelope, newETag string, err error)
	// Keys returns the site's current signing keys (after a rotation the
	// site signs with a key the registration did not carry).
	Keys(ctx context.Context) ([]signing.PublicKey, error)
	// Wait long-polls until the device's policy may have changed from the
	// one with ETag etag (changed true) or the site's wait ends (false).
	Wait(ctx context.Context, etag string) (changed bool, err error)
	// Locate is content location (§3.3) for a package version, with the
	// version's signed manifest and the HTTP sources of its DPs.
	Locate(ctx context.Context, req httpmp.LocateRequest) (httpmp.LocateReply, error)
	// Report uploads status messages (§4.2). The site takes them
	// idempotently by message ID, so a batch whose reply was lost may be
	// sent again.
	Report(ctx context.Context, msgs []advertisement.Message) (httpmp.StatusReply, error)
	// SetToken sets the credential sent with every call but Register.
	SetToken(token string)
}
