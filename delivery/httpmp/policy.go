package httpmp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/signing"
	pkg "github.com/consign/consign/package"
)

// policySnap is one device's signed policy as the Server serves it. It is
// immutable once published; a newer one replaces it.
type policySnap struct {
	// rev is the site revision the payload was computed at (or found equal
	// at).
	rev int64
	// hash is the SHA-256 of the payload bytes.
	hash [32]byte
	// body is the JSON envelope, ready to write.
	body []byte
	// epoch is the device's freshness epoch the envelope was signed in
	// (Server.epoch); etag is "<hex hash>-<epoch>", quoted.
	epoch int64
	etag  string
	// issued is when the envelope was signed; serial its serial.
	issued time.Time
	serial uint64
	// packages and ads are what the policy offers: the packages of the
	// advertised programs and of the programs they run first, and the
	// advertisements.
	packages map[consign.ObjectID]struct{}
	ads      map[consign.ObjectID]struct{}
}

// policyEntry holds a device's current snapshot; mu serialises rebuilding
// it, so two requests of one device never sign twice or reuse a serial.
type policyEntry struct {
	cur atomic.Pointer[policySnap]
	mu  sync.Mutex
	// lastSerial is the highest serial signed for the device (under mu).
	lastSerial uint64
}

// policies is the per-device policy cache.
type policies struct {
	mu sync.RWMutex
	m  map[uint32]*policyEntry
}

func (p *policies) entry(rid uint32) *policyEntry {
	p.mu.RLock()
	e, ok := p.m[rid]
	p.mu.RUnlock()
	if ok {
		return e
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok = p.m[rid]; !ok {
		e = &policyEntry{}
		p.m[rid] = e
	}
	return e
}

func (p *policies) forget(rid uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, rid)
}

// fresh reports whether an envelope signed at issued is still young enough
// to hand out: less than half its TTL old, so that a device holding it has
// at least half the TTL left before it freezes.
func (s *Server) fresh(issued, now time.Time) bool {
	return now.Before(issued.Add(s.opts.PolicyTTL / 2))
}

// epoch is device rid's policy freshness epoch at now: time is cut into
// spans of half the PolicyTTL, offset per device (so that devices do not
// all roll over at once), and numbered. A policy envelope is served only
// in the epoch it was signed in; the epoch is part of the ETag. So a
// device told "not modified" holds an envelope signed in the current
// epoch, valid for at least half the TTL after the epoch ends — it never
// freezes while it can reach the site — and every management point over
// the site computes the same ETag for the same policy at the same time,
// whichever of them signed the envelope the device holds.
func (s *Server) epoch(rid uint32, now time.Time) int64 {
	span := int64(s.opts.PolicyTTL / 2)
	// splitmix64 of the ResourceID spreads the offsets evenly.
	z := uint64(rid) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	off := int64(z % uint64(span))
	t := now.UnixNano() + off
	if t < 0 {
		return (t - span + 1) / span
	}
	return t / span
}

// policy returns the device's current signed policy. At an unchanged site
// revision within the envelope's epoch it costs a map lookup; otherwise it
// asks the Site for the policy, and signs a new envelope only when the
// payload bytes changed or the epoch did (at the latest half the TTL after
// the envelope was signed).
func (s *Server) policy(ctx context.Context, rid uint32) (*policySnap, error) {
	e := s.policies.entry(rid)
	rev := s.site.Revision()
	if snap := e.cur.Load(); snap != nil && snap.rev == rev && snap.epoch == s.epoch(rid, s.now()) {
		return snap, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Another request may have rebuilt it while this one waited.
	rev = s.site.Revision()
	prev := e.cur.Load()
	now := s.now()
	epoch := s.epoch(rid, now)
	if prev != nil && prev.rev == rev && prev.epoch == epoch {
		return prev, nil
	}
	pol, err := s.site.Policy(ctx, rid, nil)
	if err != nil {
		if errors.Is(err, consign.ErrNotFound) {
			s.policies.forget(rid)
			return nil, errUnauthenticated("device no longer exists")
		}
		return nil, err
	}
	payload := Payload(pol)
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding policy of device %d: %w", rid, err)
	}
	hash := sha256.Sum256(data)
	if prev != nil && prev.hash == hash && prev.epoch == epoch {
		snap := *prev
		snap.rev = pol.Revision
		e.cur.Store(&snap)
		return &snap, nil
	}
	serial := max(e.lastSerial+1, uint64(max(now.UnixMilli(), 1)))
	env, err := s.signer.Sign(signing.KindPolicy, strconv.FormatUint(uint64(rid), 10), data, serial, now, s.opts.PolicyTTL)
	if err != nil {
		return nil, fmt.Errorf("signing policy of device %d: %w", rid, err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encoding policy envelope of device %d: %w", rid, err)
	}
	e.lastSerial = serial
	snap := &policySnap{rev: pol.Revision, hash: hash, body: body, epoch: epoch,
		etag:   fmt.Sprintf(`"%x-%d"`, hash, epoch),
		issued: env.Issued, serial: serial,
		packages: make(map[consign.ObjectID]struct{}, len(payload.Offers)),
		ads:      make(map[consign.ObjectID]struct{}, len(payload.Offers))}
	for _, o := range pol.Offers {
		snap.ads[o.Advertisement.ID] = struct{}{}
		snap.packages[o.Advertisement.PackageID] = struct{}{}
		for _, p := range o.RunFirst {
			snap.packages[p.PackageID] = struct{}{}
		}
		if o.TaskSequence != nil {
			for _, p := range o.TaskSequence.Packages {
				snap.packages[p.ID] = struct{}{}
			}
		}
		for _, u := range o.Updates {
			if u.Package != nil {
				snap.packages[u.Package.ID] = struct{}{}
			}
		}
	}
	e.cur.Store(snap)
	return snap, nil
}

// Payload is the device's policy without what depends on the time it was
// computed (each offer's Decision and the policy's Generated and Revision):
// what the device decides with itself, and what RoutePolicy signs. A
// ManagementPoint of one's own builds its policies with it.
func Payload(pol *delivery.Policy) PolicyPayload {
	out := PolicyPayload{ResourceID: pol.ResourceID, Offers: make([]PolicyOffer, 0, len(pol.Offers)), Windows: pol.Windows}
	for _, o := range pol.Offers {
		out.Offers = append(out.Offers, PolicyOffer{
			Advertisement: o.Advertisement,
			Package:       o.Package,
			Program:       o.Program,
			RunFirst:      o.RunFirst,
			Status:        o.Status,
			Problem:       o.Problem,
			TaskSequence:  o.TaskSequence,
			Updates:       o.Updates,
		})
	}
	return out
}

// manifestKey names a package version.
type manifestKey struct {
	id      consign.ObjectID
	version uint32
}

// manifestSnap is a package version's signed manifest.
type manifestSnap struct {
	env      signing.Envelope
	issued   time.Time
	manifest pkg.Manifest
}

// manifests caches signed manifests by package version. A version's
// manifest never changes, so an entry stays right for as long as it is
// kept; it is re-signed when past half its TTL.
type manifests struct {
	mu         sync.Mutex
	m          map[manifestKey]*manifestSnap
	lastSerial map[manifestKey]uint64
}

// maxManifests bounds the manifest cache; past it, entries are dropped at
// random (Go's map order) to make room.
const maxManifests = 4096

// manifest returns the signed manifest of package id at version. A version
// other than the package's current SourceVersion is known only while it is
// cached; otherwise the device's policy is out of date: ErrConflict.
func (s *Server) manifest(id consign.ObjectID, version uint32) (signing.Envelope, error) {
	k := manifestKey{id, version}
	now := s.now()
	s.manifests.mu.Lock()
	snap, ok := s.manifests.m[k]
	s.manifests.mu.Unlock()
	if ok && s.fresh(snap.issued, now) {
		return snap.env, nil
	}
	var m pkg.Manifest
	if ok {
		m = snap.manifest
	} else {
		p, err := s.site.Package(id)
		if err != nil {
			return signing.Envelope{}, err
		}
		if p.SourceVersion != version {
			return signing.Envelope{}, consign.Errorf(consign.ErrConflict, "Locate", string(id),
				"package %s is at source version %d, not %d: fetch policy again", id, p.SourceVersion, version)
		}
		m = p.Manifest.Sorted()
	}
	data, err := json.Marshal(m)
	if err != nil {
		return signing.Envelope{}, fmt.Errorf("encoding manifest of %s/%d: %w", id, version, err)
	}
	s.manifests.mu.Lock()
	defer s.manifests.mu.Unlock()
	if cur, ok := s.manifests.m[k]; ok && s.fresh(cur.issued, now) {
		return cur.env, nil // signed meanwhile by another request
	}
	serial := max(s.manifests.lastSerial[k]+1, uint64(max(now.UnixMilli(), 1)))
	env, err := s.signer.Sign(signing.KindManifest, fmt.Sprintf("%s/%d", id, version), data, serial, now, s.opts.PolicyTTL)
	if err != nil {
		return signing.Envelope{}, fmt.Errorf("signing manifest of %s/%d: %w", id, version, err)
	}
	if len(s.manifests.m) >= maxManifests {
		for old := range s.manifests.m {
			delete(s.manifests.m, old)
			delete(s.manifests.lastSerial, old)
			if len(s.manifests.m) < maxManifests*3/4 {
				break
			}
		}
	}
	s.manifests.m[k] = &manifestSnap{env: env, issued: env.Issued, manifest: m}
	s.manifests.lastSerial[k] = serial
	return env, nil
}
