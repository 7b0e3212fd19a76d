// Package httpmp is the HTTP management point: how real device processes
// talk to a site, the way ConfigMgr clients talk to their management point
// (reference §3.1–3.5, §1.18). A [Server] is an http.Handler over a
// delivery.Site; a [Client] is what a device agent (delivery/agent) calls.
// This comment is the protocol document: with it, an agent can be written
// in any language.
//
//	notifier := httpmp.NewNotifier()
//	site, _ := delivery.Open(ctx, store, notifier, siteOpts)
//	ring, _ := signing.GenerateKeyring(nil, time.Now())
//	mp, _ := httpmp.NewServer(site, httpmp.Options{
//		Keyring:   ring,
//		TokenKeys: [][]byte{secret32},          // HMAC secret(s), ≥ 32 bytes
//		Notifier:  notifier,
//		ContentSource: func(dp distpoint.DistributionPoint) (httpdp.Source, bool) {
//			return httpdp.Source{BaseURL: dpURLs[dp.NALPath]}, true
//		},
//	})
//	http.ListenAndServe(addr, mp)
//	// each DP's content server: httpdp.NewServer(lib, &httpdp.Options{Authorize: mp.AuthorizeContent})
//
// # Transport
//
// Every route is JSON over HTTP/1.1 or HTTP/2 (TLS, or h2c where the
// network is trusted; the handler does not care). Request bodies must have
// Content-Type application/json (parameters such as charset are allowed),
// hold exactly one JSON value, and use no field the route does not define.
// Response bodies are application/json. Field names are as written below:
// the wire types in this package (RegisterRequest, Registration, …) carry
// JSON tags in camelCase; the domain objects inside them (collection.Device,
// advertisement.Message, updates.UpdateState, pkg.Manifest,
// distpoint.LocateResult, …) are encoded by encoding/json with their Go
// field names. Times are RFC 3339 with nanoseconds; enumerations are their
// integer values; [32]byte hashes are arrays of 32 numbers; []byte values
// (envelope payloads, keys, signatures) are base64.
//
// # Authentication
//
// Every route but RouteRegister needs the device's token:
//
//	Authorization: Bearer v1.16777216.1796146738.ci4JnrTMwY_BvCk95yF5Mx6OgigXkwf1qrku_Huz_oI
//
// A token is "v1.<ResourceID>.<issued, Unix seconds>.<MAC>", both numbers
// in canonical decimal, MAC the unpadded base64url of HMAC-SHA256 under one
// of the site's token keys (Options.TokenKeys) over
//
//	uint64 length + "consign-httpmp-token-v1"   domain separation
//	uint32 ResourceID                            big-endian
//	uint64 issued                                big-endian
//	uint64 length + SMSUniqueIdentifier          the device's, as registered
//
// Tokens rather than client certificates: the site keeps no per-device
// secret (a token is recomputed from the device record and the key, so
// nothing is stored or looked up but the device itself), checking one is a
// constant-time comparison of 32 bytes, and a bearer token passes through
// TLS-terminating load balancers and proxies that would swallow a client
// certificate. A token stops working when its device is deleted (401), when
// the device's SMSUniqueIdentifier changes, and when the key it was made
// with is removed from TokenKeys — which is how keys rotate: put a new key
// first (it makes new tokens), keep the old one while devices re-register,
// then drop it. The issue time is in the token (and under the MAC) so that
// a later version can age tokens out; this one does not. Tokens must only
// travel over TLS outside a trusted network: they are bearer credentials.
// Refusals are logged with the route, the claimed ResourceID and the
// reason; tokens and enrollment secrets never are.
//
// # Enrollment
//
// With Options.Enrollment set, RouteRegister requires
//
//	Authorization: Enroll <secret>
//
// (compared in constant time; 401 without it). Empty means open
// enrollment: any client that reaches the management point can register,
// and — because registration is by SMSUniqueIdentifier, as in ConfigMgr —
// anyone who knows a device's SMSUniqueIdentifier can register as that
// device, replacing its discovery data and obtaining a token for it. Open
// enrollment suits a lab or a network where only managed machines reach
// the management point; a shared secret keeps out machines that were never
// given it, but every holder of the secret can still claim any identifier.
// Per-device provisioning (Server.IssueToken after registering devices
// yourself) avoids both.
//
// # Authorization
//
// A device acts only as itself: its policy is the token's device's; a
// status message naming another ResourceID (0 means "mine") is refused
// with 403 and nothing of the upload is taken; an inventory upload must
// carry the SMSUniqueIdentifier the device registered with and no other
// ResourceID (403). Content location and content downloads are allowed
// only for the packages the device's current policy offers — each offer's
// advertised package, the packages of the programs it runs first, and for a
// task sequence the packages its steps use and the deployment packages of
// the updates it would install — and,
// when a LocateRequest names an advertisement, only an advertisement its
// policy holds (403). Server.AuthorizeContent applies the same rule to the
// DP content servers (httpdp.Options.Authorize).
//
// # Routes
//
// RouteRegister — POST /v1/register, body a RegisterRequest; 200 with a
// Registration. A device registering again with the same
// SMSUniqueIdentifier gets its ResourceID back (and a new token); its
// discovery data is replaced. Device.ResourceID is ignored.
//
//	{"device":{"Name":"PC01","SMSUniqueIdentifier":"GUID:PC01",
//	 "OperatingSystemNameandVersion":"Microsoft Windows NT Workstation 6.1",
//	 "Client":true,"IPAddresses":["10.1.2.3"],
//	 "Properties":{"CreationDate":"2009-02-12T10:00:00Z"},
//	 "Inventory":{"SMS_G_System_COMPUTER_SYSTEM":[{"SystemType":"x64-based PC","NumberOfProcessors":4}]}}}
//
//	{"resourceId":16777216,"token":"v1.16777216.1796146738.ci4J…",
//	 "keys":[{"id":"a4b617fa932c200e","key":"iS0lvcfYiIu+bujiRBjBpWuWM0kl2w1XStKtDUl2/HQ="}],
//	 "pollInterval":3600000000000}
//
// Properties and Inventory values take the type of their schema property
// (the Site's schema): JSON numbers become Integers (1 and 1.0 alike), RFC
// 3339 strings DateTimes, arrays arrays. A value of the wrong type, an
// unknown property or class is a 400 naming it
// (`device.Properties["Decommissioned"]`). pollInterval is in nanoseconds.
//
// RouteInventory — PUT /v1/inventory, body an InventoryUpload (the same
// device object: a heartbeat or hardware inventory cycle); 204 No Content.
// The site re-evaluates the collections the change can affect at once
// (incremental evaluation), and devices whose policy changes are notified.
//
// RoutePolicy — GET /v1/policy; 200 with a signing.Envelope of kind
// "policy" whose Subject is the ResourceID in decimal and whose payload is
// a PolicyPayload (JSON), with an ETag header. Send the ETag back as
// If-None-Match: 304 Not Modified, no body, when it is still current.
//
//	{"keyId":"a4b617fa932c200e","kind":"policy","subject":"16777216",
//	 "serial":1796146738713,"issued":"2026-12-01T17:38:58.713713525Z",
//	 "expires":"2026-12-02T17:38:58.713713525Z","payload":"eyJyZXNvdXJjZUlkIjox…",
//	 "signature":"3xCA1l5LdLG9hhS8LYrdbC+GP/Yo…"}
//
// with the payload decoding to
//
//	{"resourceId":16777216,"offers":[{"advertisement":{"ID":"CEN00004","PackageID":"CEN00001",
//	 "ProgramName":"Install","ASAP":true,"Rerun":3,…},"package":{"ID":"CEN00001",
//	 "SourceVersion":1,"SourceHash":[106,130,…],"ContentSize":4016,"HasSource":true,…},
//	 "program":{"Name":"Install","CommandLine":"setup.exe /s","MaxRunTime":120,…},
//	 "status":{…}}],"windows":[…]}
//
// An offer of a task sequence (ProgramName "*") also carries
// "taskSequence" — the sequence (tasksequence.Sequence) with the packages
// its steps use and the programs its Install Software steps run
// (delivery.TaskSequenceOffer) — and, when a step installs software
// updates, "updates": the updates deployed to the device that its last
// scan found required (delivery.TaskSequenceUpdate).
//
// The payload holds nothing that depends on when it was made (no offer
// decisions: the device decides with advertisement.Decide and
// collection.EffectiveWindows itself), so equal site state gives equal
// payload bytes.
//
// RouteWait — GET /v1/policy/wait?etag=<ETag, quoted or not>; 200 with a
// WaitReply. It answers {"changed":true} at once when the ETag is not the
// current one (or empty), and otherwise when the site notifies the device
// (a Notifier is the Site's Transport) — typically within milliseconds of
// the change — or {"changed":false} after Options.WaitTimeout (30 s by
// default). The device then fetches RoutePolicy, and waits again.
// MQTT, which the issue allows as another push channel, is not included.
//
// RouteLocate — POST /v1/locate, body a LocateRequest; 200 with a
// LocateReply: content location (§3.3) for the device, the version's
// manifest signed as an envelope of kind "manifest", Subject
// "<PackageID>/<version>" and payload the JSON of pkg.Manifest (its Hash
// equals the policy's Package.SourceHash), and the HTTP content servers
// (httpdp.Source) of the returned DPs, in Locations order, for the DPs
// Options.ContentSource knows. A version other than the package's current
// one, unless its manifest is still cached, is 409 (fetch policy again).
//
//	{"packageId":"CEN00001","version":1,"advertisementId":"CEN00004"}
//
//	{"result":{"Locations":[{"DP":{"NALPath":"DP01","Name":"DP01",…},"Local":true,"Tier":2,
//	 "Share":"…"}],"Action":1,"Reason":"…","OnDemand":null},
//	 "manifest":{"kind":"manifest","subject":"CEN00001/1",…},
//	 "sources":[{"BaseURL":"http://dp01.example.com:8080"}]}
//
// RouteStatus — POST /v1/status, body a StatusUpload; 200 with a
// StatusReply. Messages are advertisement.Message values (§3.5, §4.2);
// ResourceID may be 0. Intake is idempotent by message ID: an upload whose
// reply was lost may be sent again, and its messages count as duplicates.
// Messages for advertisements the site does not have are counted as
// unknown and dropped. A message that breaks a rule fails the whole
// upload with a 400 naming it (`messages[3].Event`); nothing is taken.
//
//	{"messages":[{"ID":"16777216-42","AdvertisementID":"CEN00004","Event":13,
//	 "Time":"2026-12-01T09:00:00Z","ExitCode":0,"Detail":"","RunFirst":null}]}
//
//	{"accepted":1,"duplicates":0,"unknown":0}
//
// A task sequence reports each step as it ends with Event TSStep and a
// "Step" ({"Index":3,"Name":"Install Office","State":2,"Continued":true}:
// the step's position in Walk order, its name, a tasksequence.StepState);
// Step is refused on any other event or advertisement.
//
// Concurrent uploads of many devices are written to the site in one
// Site.ReportMany (collected for up to 2 ms or 1,000 devices); each upload
// is validated on its own first, so a bad one never fails another, and
// each gets its own counts. (One case is estimated: a batch holding a
// resend whose first copy this Server did not take in — after a restart,
// or through another management point — has exact totals, but its
// duplicates are assigned to its uploads in order.)
//
// RouteScan — POST /v1/scan, body a ScanUpload (topic 500 states of the
// updates the device scanned); 200 with a ScanReply, accepted false when
// the scan is older than the last one taken in for the device (stale, so
// out-of-order arrivals never move a device back).
//
//	{"scanTime":"2026-12-01T09:00:00Z","states":[{"Update":16777300,"State":2}]}
//
// RouteKeys — GET /v1/keys; 200 with the site's public keys
// ([]signing.PublicKey), for an agent to refresh its trust set after the
// site rotates its signing key.
//
// # Signing, ETags and freshness
//
// Policy and manifests are ed25519-signed envelopes (package signing
// describes the fields and the exact signed bytes). A policy envelope's
// Serial is strictly increasing per device (at least the signing time in
// Unix milliseconds), so a device can refuse a replayed older policy; it
// expires Options.PolicyTTL (24 h) after it was signed, so a device cut
// off from the site freezes instead of acting on stale instructions.
//
// The Server caches each device's signed envelope: at an unchanged site
// revision a policy request costs a map lookup, and a changed revision
// re-signs only when the payload bytes changed. To keep every polling
// device far from expiry, time is cut into epochs of half the TTL (offset
// per device, so that devices do not all roll over at once); an envelope
// is served only in the epoch it was signed in. The ETag is
//
//	"<hex SHA-256 of the payload bytes>-<epoch>"
//
// so a device told 304 holds an envelope signed in the current epoch,
// valid for at least half the TTL after the epoch ends, and every
// management point over the same site gives the same ETag for the same
// policy at the same time (a device may alternate between several behind a
// load balancer without refetching). Manifests, which never change for a
// version, are cached per version and re-signed once past half the TTL.
//
// # Errors
//
// Every failure is an ErrorReply:
//
//	{"error":{"code":"invalid","field":"messages[3].Event","message":"invalid messages[3].Event \"999\": one of the Event constants"}}
//
// with field naming the offending part of the request in the wire's terms
// when there is one:
//
//	400 invalid                 malformed JSON, an unknown field, trailing data,
//	                            an empty body, a value breaking a rule
//	401 unauthenticated         no token, a malformed, forged or revoked one,
//	                            a deleted device; a wrong enrollment secret
//	                            (with WWW-Authenticate: Bearer realm="consign")
//	403 forbidden               another device's ResourceID or identifier, a
//	                            package or advertisement not offered
//	404 not_found               no such route; an object the site does not have
//	405 method_not_allowed      the route takes another method (see Allow)
//	409 conflict                the site changed under the request (a stale
//	                            package version; a write that lost races)
//	413 too_large               the body is over Options.MaxBodyBytes (1 MiB)
//	415 unsupported_media_type  the body is not application/json
//	500 internal                a bug (logged, with the stack of a panic)
//	503 unavailable             the site's store is unreachable, or the request
//	                            was cancelled; retry later
//
// Client input never causes a 5xx. The Client turns these into *Error
// values matching consign's codes (see Error).
//
// # Concurrency
//
// Server, Client and Notifier are safe for concurrent use. A long poll
// holds its request's goroutine only; it ends when its client goes away,
// at WaitTimeout, or at Server.Close.
package httpmp
