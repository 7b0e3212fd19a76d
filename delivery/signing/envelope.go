package signing

import (
	"encoding/binary"
	"time"
	"unicode/utf8"
)

// Domain is the domain-separation string at the start of every envelope's
// signed bytes. A later, incompatible encoding gets a new one.
const Domain = "consign-signed-v1"

// Well-known kinds. Kind is any string that follows the kind rule (see
// Signer.Sign); these are the ones Consign itself signs.
const (
	// KindPolicy is a device's policy; its subject is the device's resource
	// ID.
	KindPolicy = "policy"
	// KindManifest is a package version's content manifest; its subject is
	// "<PackageID>/<SourceVersion>", e.g. "PKG00012/3".
	KindManifest = "manifest"
)

// Limits on envelope fields, checked by Signer.Sign and Verifier.Verify.
const (
	// MaxKindLen is the longest Kind, in bytes.
	MaxKindLen = 64
	// MaxSubjectLen is the longest Subject, in bytes.
	MaxSubjectLen = 1024
)

// Envelope is a signed payload as it travels from the site to a device. It
// is encoded as JSON with the field names given below; byte fields are
// base64 and times are RFC 3339 with nanoseconds, as encoding/json writes
// them.
type Envelope struct {
	// KeyID ("keyId") names the key that signed the envelope: KeyID of its
	// public key.
	KeyID string `json:"keyId"`
	// Kind ("kind") says what the payload is, e.g. KindPolicy or
	// KindManifest.
	Kind string `json:"kind"`
	// Subject ("subject") says whom or what the payload is about: a
	// device's resource ID for a policy, "PKG00012/3" for a manifest.
	Subject string `json:"subject"`
	// Serial ("serial") orders the versions of one Kind and Subject: the
	// site gives every new version a higher serial, and a device refuses
	// one lower than the newest it has accepted. It is at least 1.
	Serial uint64 `json:"serial"`
	// Issued ("issued") is when the site signed the envelope. A device
	// refuses it before then, allowing for a small clock skew.
	Issued time.Time `json:"issued"`
	// Expires ("expires") is when the envelope stops being valid; a device
	// refuses it after then, so a device cut off from the site freezes
	// instead of acting on stale instructions forever.
	Expires time.Time `json:"expires"`
	// Payload ("payload") is the signed content, opaque to this package.
	Payload []byte `json:"payload"`
	// Signature ("signature") is the ed25519 signature of SignedBytes by
	// the key named by KeyID.
	Signature []byte `json:"signature"`
}

// SignedBytes returns the canonical encoding of every field of e except
// Signature: the bytes the signature covers. The encoding is described in
// the package documentation under "Signed bytes".
func (e Envelope) SignedBytes() []byte {
	n := 8*4 + len(Domain) + len(e.KeyID) + len(e.Kind) + len(e.Subject) +
		8 + 2*12 + 8 + len(e.Payload)
	b := make([]byte, 0, n)
	b = appendString(b, Domain)
	b = appendString(b, e.KeyID)
	b = appendString(b, e.Kind)
	b = appendString(b, e.Subject)
	b = binary.BigEndian.AppendUint64(b, e.Serial)
	b = appendTime(b, e.Issued)
	b = appendTime(b, e.Expires)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Payload)))
	return append(b, e.Payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime writes t as an instant: Unix seconds and nanoseconds, so the
// time zone and any monotonic reading do not matter, and every time.Time
// value (not just those UnixNano can hold) has its own encoding.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// kindRule returns the rule kind breaks, or "".
func kindRule(kind string) string {
	switch {
	case kind == "":
		return "required"
	case len(kind) > MaxKindLen:
		return "at most 64 bytes"
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "only lowercase letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}

// subjectRule returns the rule subject breaks, or "".
func subjectRule(subject string) string {
	switch {
	case subject == "":
		return "required"
	case len(subject) > MaxSubjectLen:
		return "at most 1024 bytes"
	case !utf8.ValidString(subject):
		// JSON would replace the invalid bytes, changing the signed bytes.
		return "valid UTF-8"
	}
	return ""
}
