package httpmp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/updates"
)

// Options configure a Server. Keyring and TokenKeys are required; every
// other zero field means the documented default.
type Options struct {
	// Signer signs policy and manifests; nil means signing.NewSigner(Keyring).
	Signer *signing.Signer
	// Keyring holds the site's signing keys; its PublicKeys are what
	// RouteKeys and Registration hand to devices. Required.
	Keyring *signing.Keyring
	// TokenKeys are the HMAC-SHA256 secrets device tokens are made with,
	// each at least MinTokenKeyLen bytes. The first makes new tokens; every
	// one verifies. To rotate, put a new key first and keep the old one
	// until devices have re-registered; removing a key revokes every token
	// made with it. Required.
	TokenKeys [][]byte
	// Enrollment is the shared secret a device must present to register,
	// as "Authorization: Enroll <secret>". Empty means open enrollment:
	// any client that can reach the management point can register a device
	// (see the package comment, "Enrollment", for the trade-off).
	Enrollment string
	// ContentSource maps a distribution point to the HTTP content server
	// (an httpdp.Server) devices download its content from; a DP it
	// returns false for is left out of LocateReply.Sources. Nil leaves
	// Sources empty.
	ContentSource func(dp distpoint.DistributionPoint) (httpdp.Source, bool)
	// Notifier, when set, is the Transport the Site was opened with; its
	// Notify wakes the long polls of RouteWait. Without one a long poll
	// ends only when it finds the device's ETag stale at its start, or at
	// WaitTimeout.
	Notifier *Notifier
	// PolicyTTL is how long a signed policy or manifest is valid; a device
	// cut off from the site for longer freezes rather than act on stale
	// policy. An envelope is re-signed at the latest half of it after it was
	// signed. Default 24 h; at least 1 s.
	PolicyTTL time.Duration
	// PollInterval is what Registration tells devices about how often to
	// poll for policy when no push reaches them. Default 60 minutes
	// (ConfigMgr's machine policy interval, §3.1).
	PollInterval time.Duration
	// MaxBodyBytes bounds a request body; a larger one gets 413. Default
	// 1 MiB.
	MaxBodyBytes int64
	// WaitTimeout is how long a long poll waits before answering
	// {"changed":false}. Default 30 s. The http.Server's WriteTimeout, and
	// the device's HTTP client timeout, must be longer.
	WaitTimeout time.Duration
	// Logger receives refusals (route, resource ID and reason, never a
	// credential), internal errors and recovered panics. Nil logs nothing.
	Logger *slog.Logger
	// Clock is the time tokens and envelopes are issued at. Default
	// time.Now.
	Clock func() time.Time
}

// Defaults for Options' zero fields.
const (
	DefaultPolicyTTL    = 24 * time.Hour
	DefaultPollInterval = 60 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
	DefaultWaitTimeout  = 30 * time.Second
)

// Server is the HTTP management point over a delivery.Site: an
// http.Handler serving the routes in the package comment. Create one with
// NewServer; it is safe for concurrent use and works over HTTP/1.1 and
// HTTP/2 (h2c or TLS) alike.
type Server struct {
	site     *delivery.Site
	opts     Options
	signer   *signing.Signer
	log      *slog.Logger
	now      func() time.Time
	schema   *wql.Schema
	notifier *Notifier

	devices   deviceCache
	policies  policies
	manifests manifests
	batch     batcher

	closing   chan struct{}
	closeOnce sync.Once
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a management point over site. Problems with opts are
// reported together as *consign.ValidationError values naming the field
// (errors.Is(err, consign.ErrInvalid)).
func NewServer(site *delivery.Site, opts Options) (*Server, error) {
	var p consign.Problems
	p.Check(site != nil, "site", "required")
	p.Check(opts.Keyring != nil, "Options.Keyring", "required")
	if len(opts.TokenKeys) == 0 {
		p.Add("Options.TokenKeys", "at least one key")
	}
	for i, k := range opts.TokenKeys {
		p.Check(len(k) >= MinTokenKeyLen, fmt.Sprintf("Options.TokenKeys[%d]", i), fmt.Sprintf("at least %d bytes", MinTokenKeyLen))
	}
	p.Check(opts.PolicyTTL == 0 || opts.PolicyTTL >= time.Second, "Options.PolicyTTL", "0 (the default) or at least 1 s")
	p.Check(opts.PollInterval >= 0, "Options.PollInterval", "not negative")
	p.Check(opts.MaxBodyBytes >= 0, "Options.MaxBodyBytes", "not negative")
	p.Check(opts.WaitTimeout >= 0, "Options.WaitTimeout", "not negative")
	if err := p.Err(); err != nil {
		return nil, err
	}
	if opts.PolicyTTL == 0 {
		opts.PolicyTTL = DefaultPolicyTTL
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = DefaultWaitTimeout
	}
	opts.TokenKeys = cloneKeys(opts.TokenKeys)
	s := &Server{site: site, opts: opts, signer: opts.Signer, log: opts.Logger, now: opts.Clock,
		schema: site.Schema(), notifier: opts.Notifier,
		devices:   deviceCache{m: make(map[uint32]devInfo)},
		policies:  policies{m: make(map[uint32]*policyEntry)},
		manifests: manifests{m: make(map[manifestKey]*manifestSnap), lastSerial: make(map[manifestKey]uint64)},
		batch:     batcher{delay: batchDelay, max: batchUploads},
		closing:   make(chan struct{}),
	}
	if s.signer == nil {
		s.signer = signing.NewSigner(opts.Keyring)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = append([]byte(nil), k...)
	}
	return out
}

// Close ends every long poll in progress (they answer {"changed":false})
// and makes later ones answer at once, so that http.Server.Shutdown need
// not wait WaitTimeout for them. Every other route keeps working. Close
// is idempotent and returns nil.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	return nil
}

// IssueToken returns a new token for an existing device, for embedders that
// register devices with Site.RegisterDevice or PutDevices themselves and
// hand the token over by other means. Unknown devices get an error
// matching consign.ErrNotFound.
func (s *Server) IssueToken(resourceID uint32) (string, error) {
	uid, ok, err := s.deviceUID(resourceID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", consign.Errorf(consign.ErrNotFound, "IssueToken", strconv.FormatUint(uint64(resourceID), 10), "no such device")
	}
	return formatToken(s.opts.TokenKeys[0], resourceID, s.now(), uid), nil
}

// AuthorizeContent is the httpdp.Options.Authorize hook of the site's DP
// content servers: it allows a request whose device token is valid and
// whose device's current policy offers package pkgID (as the advertised
// program's package, the package of a program it runs first, or a package
// an advertised task sequence uses). It
// returns an error matching httpdp.ErrUnauthenticated for a missing or
// invalid token, consign.ErrPermissionDenied for a package the device is
// not offered, and consign.ErrUnavailable when the Site cannot say.
func (s *Server) AuthorizeContent(r *http.Request, pkgID consign.ObjectID) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	snap, err := s.policy(r.Context(), rid)
	if err != nil {
		return err
	}
	if _, ok := snap.packages[pkgID]; !ok {
		s.logRefusal(r, "content", rid, http.StatusForbidden, "content of package "+string(pkgID)+" is not offered to the device")
		return forbidden("", fmt.Sprintf("package %s is not offered to device %d", pkgID, rid))
	}
	return nil
}

// reqState is what ServeHTTP knows about a request, for the reply and the
// log.
type reqState struct {
	route  string
	rid    uint32
	rename func(string) string
	wrote  bool
}

// route is one route's method and handler.
type route struct {
	method string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, st *reqState) error
}

var routes = map[string]route{
	RouteRegister:  {http.MethodPost, (*Server).handleRegister},
	RouteInventory: {http.MethodPut, (*Server).handleInventory},
	RoutePolicy:    {http.MethodGet, (*Server).handlePolicy},
	RouteWait:      {http.MethodGet, (*Server).handleWait},
	RouteLocate:    {http.MethodPost, (*Server).handleLocate},
	RouteStatus:    {http.MethodPost, (*Server).handleStatus},
	RouteScan:      {http.MethodPost, (*Server).handleScan},
	RouteKeys:      {http.MethodGet, (*Server).handleKeys},
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{route: r.URL.Path}
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.log.Error("httpmp: handler panicked", "route", st.route, "method", r.Method, "resourceId", st.rid,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if !st.wrote {
			s.writeError(w, r, st, http.StatusInternalServerError, ErrorBody{Code: CodeInternal, Message: "internal error"})
		}
	}()
	rt, ok := routes[r.URL.Path]
	if !ok {
		st.route = "(none)"
		s.fail(w, r, st, refuse(http.StatusNotFound, CodeNotFound, "", "no such route: "+r.URL.Path))
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		s.fail(w, r, st, refuse(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "",
			fmt.Sprintf("%s takes %s, not %s", r.URL.Path, rt.method, r.Method)))
		return
	}
	if err := rt.handle(s, w, r, st); err != nil {
		s.fail(w, r, st, err)
	}
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if s.opts.Enrollment != "" {
		secret, ok := enrollSecret(r.Header.Get("Authorization"))
		if !ok {
			return errUnauthenticated("registration without an enrollment secret")
		}
		if !equalSecret(secret, s.opts.Enrollment) {
			return errUnauthenticated("registration with a wrong enrollment secret")
		}
	}
	var req RegisterRequest
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Device == nil {
		return invalid("device", "device is required")
	}
	coerceDevice(req.Device, s.schema)
	st.rename = deviceField
	rid, err := s.site.RegisterDevice(r.Context(), req.Device)
	if err != nil {
		return err
	}
	st.rid = rid
	s.log.Info("httpmp: device registered", "resourceId", rid, "name", req.Device.Name)
	return s.writeJSON(w, st, http.StatusOK, Registration{
		ResourceID:   rid,
		Token:        formatToken(s.opts.TokenKeys[0], rid, s.now(), req.Device.SMSUniqueIdentifier),
		Keys:         s.opts.Keyring.PublicKeys(),
		PollInterval: s.opts.PollInterval,
	})
}

func (s *Server) handleInventory(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, uid, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	var req InventoryUpload
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	d := req.Device
	switch {
	case d == nil:
		return invalid("device", "device is required")
	case d.ResourceID != 0 && d.ResourceID != rid:
		return forbidden("device.ResourceID", fmt.Sprintf("a device uploads only its own inventory: ResourceID %d is not %d", d.ResourceID, rid))
	case d.SMSUniqueIdentifier == "":
		return invalid("device.SMSUniqueIdentifier", "device.SMSUniqueIdentifier is required: the identifier the device registered with")
	case d.SMSUniqueIdentifier != uid:
		return forbidden("device.SMSUniqueIdentifier", "a device uploads only its own inventory: SMSUniqueIdentifier is not the one it registered with")
	}
	d.ResourceID = rid
	coerceDevice(d, s.schema)
	st.rename = deviceField
	if err := s.site.PutDevices(r.Context(), d); err != nil {
		return err
	}
	st.wrote = true
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	snap, err := s.policy(r.Context(), rid)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", snap.etag)
	h.Set("Cache-Control", "private, no-cache")
	st.wrote = true
	if matchesETag(r.Header.Get("If-None-Match"), snap.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(snap.body)))
	w.WriteHeader(http.StatusOK)
	w.Write(snap.body)
	return nil
}

func (s *Server) handleWait(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	etag := etagValue(r.URL.Query().Get("etag"))
	// Subscribe before looking at the policy, so that a change between the
	// look and the wait still wakes it.
	var woken <-chan struct{}
	if s.notifier != nil {
		ch, release := s.notifier.subscribe(rid)
		defer release()
		woken = ch
	}
	snap, err := s.policy(r.Context(), rid)
	if err != nil {
		return err
	}
	if etag == "" || etag != etagValue(snap.etag) {
		return s.writeJSON(w, st, http.StatusOK, WaitReply{Changed: true})
	}
	t := time.NewTimer(s.opts.WaitTimeout)
	defer t.Stop()
	select {
	case <-woken:
		return s.writeJSON(w, st, http.StatusOK, WaitReply{Changed: true})
	case <-t.C:
	case <-s.closing:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	return s.writeJSON(w, st, http.StatusOK, WaitReply{Changed: false})
}

func (s *Server) handleLocate(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	var req LocateRequest
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	var p consign.Problems
	if req.PackageID.Validate() != nil {
		p.AddValue("packageId", string(req.PackageID), "a package ID: site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	p.Check(req.Version >= 1, "version", "a source version, at least 1")
	if req.AdvertisementID != "" && req.AdvertisementID.Validate() != nil {
		p.AddValue("advertisementId", string(req.AdvertisementID), "empty or an advertisement ID: site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	if err := p.Err(); err != nil {
		return err
	}
	snap, err := s.policy(r.Context(), rid)
	if err != nil {
		return err
	}
	if _, ok := snap.packages[req.PackageID]; !ok {
		return forbidden("packageId", fmt.Sprintf("package %s is not offered to this device", req.PackageID))
	}
	if _, ok := snap.ads[req.AdvertisementID]; req.AdvertisementID != "" && !ok {
		return forbidden("advertisementId", fmt.Sprintf("advertisement %s is not offered to this device", req.AdvertisementID))
	}
	env, err := s.manifest(req.PackageID, req.Version)
	if err != nil {
		return err
	}
	res, err := s.site.Locate(r.Context(), rid, req.PackageID, req.Version, req.AdvertisementID)
	if err != nil {
		return err
	}
	reply := LocateReply{Result: res, Manifest: env, Sources: []httpdp.Source{}}
	if s.opts.ContentSource != nil {
		for _, loc := range res.Locations {
			if src, ok := s.opts.ContentSource(loc.DP); ok {
				reply.Sources = append(reply.Sources, src)
			}
		}
	}
	return s.writeJSON(w, st, http.StatusOK, reply)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	var req StatusUpload
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	job, err := s.prepareStatus(rid, req.Messages)
	if err != nil {
		return err
	}
	if len(job.msgs) > 0 {
		if err := s.submit(r.Context(), job); err != nil {
			return err // the job may still be in a batch: its outcome is not ours to read
		}
		if job.err != nil {
			if errors.Is(job.err, consign.ErrNotFound) {
				s.policies.forget(rid)
				return errUnauthenticated("device no longer exists")
			}
			st.rename = statusField
			return job.err
		}
	}
	return s.writeJSON(w, st, http.StatusOK, StatusReply{Accepted: job.res.Accepted, Duplicates: job.res.Duplicates, Unknown: job.res.Unknown})
}

func (s *Server) handleScan(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	var req ScanUpload
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	var p consign.Problems
	p.Check(!req.ScanTime.IsZero(), "scanTime", "required")
	for i, us := range req.States {
		if us.State > updates.Installed {
			p.AddValue(fmt.Sprintf("states[%d].State", i), uint8(us.State), "0 Unknown, 1 Not Required, 2 Required or 3 Installed (topic 500)")
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	st.rename = scanField
	res, err := s.site.ReportScans(r.Context(), []delivery.DeviceScan{{ResourceID: rid, ScanTime: req.ScanTime, States: req.States}})
	if err != nil {
		for _, ve := range validationErrors(err) {
			if ve.Field == "scans[0].ResourceID" {
				return errUnauthenticated("device no longer exists")
			}
		}
		return err
	}
	return s.writeJSON(w, st, http.StatusOK, ScanReply{Accepted: res.Accepted > 0})
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request, st *reqState) error {
	rid, _, err := s.authenticate(r)
	if err != nil {
		return err
	}
	st.rid = rid
	return s.writeJSON(w, st, http.StatusOK, s.opts.Keyring.PublicKeys())
}

// deviceField renames the field paths Site.RegisterDevice and PutDevices
// give a device ("device.Device.Name", "devices[0].Device.Name") to the
// wire's ("device.Name").
func deviceField(f string) string {
	if rest, ok := strings.CutPrefix(f, "devices[0]."); ok {
		f = rest
	}
	f = strings.TrimPrefix(f, "device.")
	if rest, ok := strings.CutPrefix(f, "Device."); ok {
		f = rest
	}
	return "device." + f
}

// scanField renames the field paths Site.ReportScans gives a one-scan
// batch ("scans[0].States[2].Update") to the wire's ("states[2].Update").
func scanField(f string) string {
	f = strings.TrimPrefix(f, "scans[0].")
	switch {
	case strings.HasPrefix(f, "States"):
		return "states" + f[len("States"):]
	case f == "ScanTime":
		return "scanTime"
	}
	return f
}

// authenticate checks the request's bearer token and returns the device's
// ResourceID and SMSUniqueIdentifier. Failures are 401 refusals whose
// reason (logged, never sent) says which check failed; the token itself
// is never part of an error.
func (s *Server) authenticate(r *http.Request) (uint32, string, error) {
	tok := bearer(r.Header.Get("Authorization"))
	if tok == "" {
		return 0, "", errUnauthenticated("no bearer token")
	}
	t, ok := parseToken(tok)
	if !ok {
		return 0, "", errUnauthenticated("malformed token")
	}
	uid, exists, err := s.deviceUID(t.rid)
	if err != nil {
		return 0, "", err
	}
	if !exists {
		return 0, "", errUnauthenticated(fmt.Sprintf("token for device %d, which does not exist (deleted?)", t.rid))
	}
	if !verifyToken(s.opts.TokenKeys, t, uid) {
		return 0, "", errUnauthenticated(fmt.Sprintf("token for device %d does not verify (forged, or made with a key no longer in TokenKeys)", t.rid))
	}
	return t.rid, uid, nil
}

// deviceCache remembers each authenticated device's SMSUniqueIdentifier
// with the site revision it was read at: while the revision holds, the
// device exists and its identifier is the same.
type deviceCache struct {
	mu sync.RWMutex
	m  map[uint32]devInfo
}

type devInfo struct {
	rev int64
	uid string
}

func (c *deviceCache) set(rid uint32, info devInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[rid] = info
}

// deviceUID returns the device's SMSUniqueIdentifier and whether it exists.
func (s *Server) deviceUID(rid uint32) (string, bool, error) {
	rev := s.site.Revision()
	s.devices.mu.RLock()
	info, ok := s.devices.m[rid]
	s.devices.mu.RUnlock()
	if ok && info.rev == rev {
		return info.uid, true, nil
	}
	d, err := s.site.Device(rid)
	if err != nil {
		if errors.Is(err, consign.ErrNotFound) {
			if ok {
				s.devices.mu.Lock()
				delete(s.devices.m, rid)
				s.devices.mu.Unlock()
			}
			return "", false, nil
		}
		return "", false, err
	}
	s.devices.set(rid, devInfo{rev: rev, uid: d.SMSUniqueIdentifier})
	return d.SMSUniqueIdentifier, true, nil
}

// writeJSON writes v as the JSON response body.
func (s *Server) writeJSON(w http.ResponseWriter, st *reqState, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the reply: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	st.wrote = true
	w.WriteHeader(status)
	w.Write(body)
	return nil
}

// fail answers a failed request with an ErrorReply and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	status, body := classify(r.Context(), err, st.rename)
	level := slog.LevelDebug
	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody reads the reply.
	case status >= 500 && status != http.StatusServiceUnavailable:
		level = slog.LevelError
	case status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		level = slog.LevelWarn
	}
	if s.log.Enabled(r.Context(), level) {
		attrs := []slog.Attr{
			slog.String("route", st.route),
			slog.String("method", r.Method),
			slog.Int("status", status),
			slog.String("code", body.Code),
			slog.String("remote", r.RemoteAddr),
		}
		if st.rid != 0 {
			attrs = append(attrs, slog.Uint64("resourceId", uint64(st.rid)))
		}
		if body.Field != "" {
			attrs = append(attrs, slog.String("field", body.Field))
		}
		reason := err.Error()
		if body.Code == CodeInvalid {
			reason = body.Message // with the wire's field names
		}
		attrs = append(attrs, slog.String("reason", reason))
		s.log.LogAttrs(r.Context(), level, "httpmp: request refused", attrs...)
	}
	if st.wrote {
		return // a reply is on its way already (a failure after the header)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="consign"`)
	}
	s.writeError(w, r, st, status, body)
}

// logRefusal logs a refusal that is answered elsewhere (AuthorizeContent's,
// which httpdp answers).
func (s *Server) logRefusal(r *http.Request, route string, rid uint32, status int, reason string) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "httpmp: request refused",
		slog.String("route", route), slog.String("path", r.URL.Path), slog.Int("status", status),
		slog.Uint64("resourceId", uint64(rid)), slog.String("reason", reason))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, st *reqState, status int, body ErrorBody) {
	b, _ := json.Marshal(ErrorReply{Error: body})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	st.wrote = true
	w.WriteHeader(status)
	w.Write(b)
}
