package httpmp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// Device tokens (see the package comment, "Authentication"):
//
//	v1.<resourceID>.<issued Unix seconds>.<base64url HMAC-SHA256, no padding>
//
// The MAC is over tokenDomain, the ResourceID, the issue time and the
// device's SMSUniqueIdentifier, each length-prefixed or fixed-width, so no
// two tokens share MAC input and a token is worthless for anything but
// this protocol's version 1.
const (
	tokenVersion = "v1"
	tokenDomain  = "consign-httpmp-token-v1"
	// MinTokenKeyLen is the shortest HMAC secret Options.TokenKeys accepts,
	// in bytes: the output size of SHA-256.
	MinTokenKeyLen = 32
	// maxTokenLen bounds what is parsed at all: "v1." + 10 + "." + 20 + "."
	// + 43 is 88 bytes.
	maxTokenLen = 128
	macLen      = sha256.Size
)

// token is a parsed token.
type token struct {
	rid    uint32
	issued int64
	mac    [macLen]byte
}

// tokenMAC computes the MAC of a token's claims with key.
func tokenMAC(key []byte, rid uint32, issued int64, uid string) [macLen]byte {
	m := hmac.New(sha256.New, key)
	var buf [8 + len(tokenDomain) + 4 + 8 + 8]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(len(tokenDomain)))
	b = append(b, tokenDomain...)
	b = binary.BigEndian.AppendUint32(b, rid)
	b = binary.BigEndian.AppendUint64(b, uint64(issued))
	b = binary.BigEndian.AppendUint64(b, uint64(len(uid)))
	m.Write(b)
	m.Write([]byte(uid))
	var out [macLen]byte
	m.Sum(out[:0])
	return out
}

// formatToken returns the token text for claims signed with key.
func formatToken(key []byte, rid uint32, issued time.Time, uid string) string {
	at := max(issued.Unix(), 0)
	mac := tokenMAC(key, rid, at, uid)
	return tokenVersion + "." + strconv.FormatUint(uint64(rid), 10) + "." +
		strconv.FormatInt(at, 10) + "." + base64.RawURLEncoding.EncodeToString(mac[:])
}

// parseToken parses a token's text strictly: the version, a ResourceID
// (1 to 4294967295) and an issue time (0 or more) in canonical decimal, and
// exactly 32 bytes of unpadded base64url. It says nothing about whether the
// MAC is right (verify does).
func parseToken(s string) (token, bool) {
	var t token
	if len(s) > maxTokenLen {
		return t, false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 || parts[0] != tokenVersion {
		return t, false
	}
	rid, ok := canonicalUint(parts[1], 32)
	if !ok || rid == 0 {
		return t, false
	}
	issued, ok := canonicalUint(parts[2], 63)
	if !ok {
		return t, false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(parts[3])
	if err != nil || len(mac) != macLen {
		return t, false
	}
	t.rid, t.issued = uint32(rid), int64(issued)
	copy(t.mac[:], mac)
	return t, true
}

// canonicalUint parses s as a decimal of at most bits bits with no sign and
// no leading zeros, so every number has one spelling.
func canonicalUint(s string, bits int) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// verifyToken reports whether t's MAC is right under any of keys for the
// device's SMSUniqueIdentifier uid. Every key is tried and each
// comparison is constant-time, so the time taken says nothing about how
// much of a forged MAC was right.
func verifyToken(keys [][]byte, t token, uid string) bool {
	ok := 0
	for _, k := range keys {
		want := tokenMAC(k, t.rid, t.issued, uid)
		ok |= subtle.ConstantTimeCompare(want[:], t.mac[:])
	}
	return ok == 1
}

// bearer returns the credential of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive), or "".
func bearer(h string) string {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// enrollSecret returns the credential of an "Authorization: Enroll
// <secret>" header, and whether the header has that form.
func enrollSecret(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Enroll") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

// equalSecret compares two secrets in time that depends on neither's
// content nor length (both are hashed first).
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
