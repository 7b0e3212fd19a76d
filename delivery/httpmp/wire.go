package httpmp

import (
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// The management point's routes. Every request and response body is JSON
// (Content-Type application/json); every route but Register needs a device
// token (Authorization: Bearer <token>).
const (
	// RouteRegister: POST a RegisterRequest, get a Registration.
	RouteRegister = "/v1/register"
	// RouteInventory: PUT the device's discovery data and inventory
	// (an InventoryUpload); 204 No Content.
	RouteInventory = "/v1/inventory"
	// RoutePolicy: GET the device's policy as a signed envelope whose
	// payload is a PolicyPayload; If-None-Match with the last ETag gives
	// 304 Not Modified when nothing changed.
	RoutePolicy = "/v1/policy"
	// RouteWait: GET with ?etag=<last ETag> long-polls until the device's
	// policy may have changed or the server's wait ends; a WaitReply.
	RouteWait = "/v1/policy/wait"
	// RouteLocate: POST a LocateRequest, get a LocateReply.
	RouteLocate = "/v1/locate"
	// RouteStatus: POST a StatusUpload, get a StatusReply.
	RouteStatus = "/v1/status"
	// RouteScan: POST a ScanUpload, get a ScanReply.
	RouteScan = "/v1/scan"
	// RouteKeys: GET the site's policy-signing public keys ([]signing.PublicKey).
	RouteKeys = "/v1/keys"
)

// Envelope kinds the management point signs.
const (
	// KindPolicy envelopes carry a PolicyPayload; Subject is the device's
	// ResourceID in decimal.
	KindPolicy = signing.KindPolicy
	// KindManifest envelopes carry a pkg.Manifest; Subject is
	// "<PackageID>/<version>".
	KindManifest = signing.KindManifest
)

// RegisterRequest is a device registering with the site (§3.1).
// Device.SMSUniqueIdentifier identifies it across registrations;
// Device.ResourceID is ignored (the site assigns it).
type RegisterRequest struct {
	Device *collection.Device `json:"device"`
}

// Registration is the site's answer to a RegisterRequest.
type Registration struct {
	ResourceID uint32 `json:"resourceId"`
	// Token is the device's credential for every other route.
	Token string `json:"token"`
	// Keys are the public keys policy and manifests are signed with.
	Keys []signing.PublicKey `json:"keys"`
	// PollInterval is how often the device should ask for policy when no
	// push reaches it (ConfigMgr's default: 60 minutes).
	PollInterval time.Duration `json:"pollInterval"`
}

// InventoryUpload replaces the device's discovery data and inventory
// (a heartbeat or hardware inventory cycle). SMSUniqueIdentifier must be
// the registered one; ResourceID is taken from the token.
type InventoryUpload struct {
	Device *collection.Device `json:"device"`
}

// PolicyPayload is the payload of a policy envelope: what the device needs
// to decide for itself, at any time until its next policy, what to run and
// when, with the same pure functions the site uses (advertisement.Decide,
// collection.EffectiveWindows). It holds nothing that changes with the time
// it was generated, so equal site state gives equal bytes and an equal
// ETag.
type PolicyPayload struct {
	ResourceID uint32        `json:"resourceId"`
	Offers     []PolicyOffer `json:"offers"`
	// Windows are the enabled maintenance windows of the device's
	// collections (delivery.Policy.Windows).
	Windows []collection.ServiceWindow `json:"windows,omitempty"`
}

// PolicyOffer is one advertisement in a PolicyPayload (delivery.Offer
// without the site's time-dependent decision).
type PolicyOffer struct {
	Advertisement *advertisement.Advertisement `json:"advertisement"`
	Package       *delivery.PackageInfo        `json:"package,omitempty"`
	Program       *pkg.Program                 `json:"program,omitempty"`
	RunFirst      []*pkg.Program               `json:"runFirst,omitempty"`
	// Status is the device's last status for the advertisement as the site
	// has it; nil before the first.
	Status  *advertisement.ClientStatus `json:"status,omitempty"`
	Problem string                      `json:"problem,omitempty"`
	// TaskSequence and Updates are set on a task sequence advertisement
	// (delivery.Offer).
	TaskSequence *delivery.TaskSequenceOffer   `json:"taskSequence,omitempty"`
	Updates      []delivery.TaskSequenceUpdate `json:"updates,omitempty"`
}

// WaitReply ends a long poll on RouteWait.
type WaitReply struct {
	// Changed is true when the device's policy may have changed (fetch it);
	// false when the wait timed out with nothing new.
	Changed bool `json:"changed"`
}

// LocateRequest asks where to get a package version's content (§3.3).
type LocateRequest struct {
	PackageID       consign.ObjectID `json:"packageId"`
	Version         uint32           `json:"version"`
	AdvertisementID consign.ObjectID `json:"advertisementId"`
}

// LocateReply is the content location answer with what the device needs to
// download: the signed manifest of the version (a KindManifest envelope)
// and, for each location the site knows an HTTP content server for, its
// source in Locations order.
type LocateReply struct {
	Result   distpoint.LocateResult `json:"result"`
	Manifest signing.Envelope       `json:"manifest"`
	Sources  []httpdp.Source        `json:"sources"`
}

// StatusUpload is a batch of the device's status messages (§4.2). A
// message's ResourceID must be the device's own or 0. Uploads are
// idempotent by message ID.
type StatusUpload struct {
	Messages []advertisement.Message `json:"messages"`
}

// StatusReply says what the site did with a StatusUpload.
type StatusReply struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Unknown    int `json:"unknown"`
}

// ScanUpload is the device's software update scan result (state messages
// of topic 500).
type ScanUpload struct {
	ScanTime time.Time             `json:"scanTime"`
	States   []updates.UpdateState `json:"states"`
}

// ScanReply says what the site did with a ScanUpload.
type ScanReply struct {
	Accepted bool `json:"accepted"`
}

// ErrorReply is every error response's body.
type ErrorReply struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes an error: Code is one of "invalid",
// "unauthenticated", "forbidden", "not_found", "conflict",
// "too_large", "unsupported_media_type", "method_not_allowed",
// "unavailable", "internal"; Field names the offending field when there is
// one.
type ErrorBody struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}
