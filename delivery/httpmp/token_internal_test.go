package httpmp

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestParseToken(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	good := formatToken(key, 16777216, time.Unix(1700000000, 0), "GUID:A")
	parts := strings.Split(good, ".")
	for _, c := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"good", good, true},
		{"empty", "", false},
		{"version 2", "v2." + strings.Join(parts[1:], "."), false},
		{"three parts", strings.Join(parts[:3], "."), false},
		{"five parts", good + ".x", false},
		{"leading zero rid", "v1.016777216." + parts[2] + "." + parts[3], false},
		{"rid 0", "v1.0." + parts[2] + "." + parts[3], false},
		{"rid too big", "v1.4294967296." + parts[2] + "." + parts[3], false},
		{"signed rid", "v1.+16777216." + parts[2] + "." + parts[3], false},
		{"negative issued", "v1." + parts[1] + ".-1." + parts[3], false},
		{"padded base64", good + "=", false},
		{"std base64 alphabet", "v1." + parts[1] + "." + parts[2] + ".+" + parts[3][1:], false},
		{"short MAC", "v1." + parts[1] + "." + parts[2] + "." + parts[3][:40], false},
		{"too long", good + strings.Repeat("A", 200), false},
	} {
		_, ok := parseToken(c.tok)
		if ok != c.ok {
			t.Errorf("%s: parse %q ok=%v, want %v", c.name, c.tok, ok, c.ok)
		}
	}
}

func TestBearer(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"Basic abc":    "",
		"Bearer":       "",
		"":             "",
		"Enroll abc":   "",
	} {
		if got := bearer(in); got != want {
			t.Errorf("bearer(%q) = %q, want %q", in, got, want)
		}
	}
	if s, ok := enrollSecret("Enroll  x y "); !ok || s != "x y" {
		t.Errorf("enrollSecret = %q %v", s, ok)
	}
}

// Tokens: what formatToken makes parses and verifies under its key and
// the device's identifier, and nothing else does — not under another key
// or another identifier, and not after any change to its text.
func TestTokenProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), 32, 64).Draw(t, "key")
		other := rapid.SliceOfN(rapid.Byte(), 32, 64).Draw(t, "other")
		rid := rapid.Uint32Min(1).Draw(t, "rid")
		issued := time.Unix(rapid.Int64Range(0, 1<<40).Draw(t, "issued"), 0)
		uid := rapid.String().Draw(t, "uid")
		tok := formatToken(key, rid, issued, uid)
		p, ok := parseToken(tok)
		if !ok || p.rid != rid || p.issued != issued.Unix() {
			t.Fatalf("parse(%q) = %+v %v", tok, p, ok)
		}
		if !verifyToken([][]byte{key}, p, uid) {
			t.Fatal("a made token does not verify")
		}
		if !verifyToken([][]byte{other, key}, p, uid) {
			t.Fatal("does not verify when its key is second")
		}
		if !bytes.Equal(other, key) && verifyToken([][]byte{other}, p, uid) {
			t.Fatal("verifies under another key")
		}
		if uid2 := rapid.String().Draw(t, "uid2"); uid2 != uid && verifyToken([][]byte{key}, p, uid2) {
			t.Fatal("verifies for another SMSUniqueIdentifier")
		}
		// Change one character: it no longer parses or no longer verifies.
		i := rapid.IntRange(0, len(tok)-1).Draw(t, "at")
		c := rapid.ByteRange(0x21, 0x7e).Draw(t, "char")
		if c == tok[i] {
			return
		}
		mut := tok[:i] + string(c) + tok[i+1:]
		if q, ok := parseToken(mut); ok && verifyToken([][]byte{key}, q, uid) {
			// A base64 character whose change only touches the unused low
			// bits of the last character cannot happen: Strict decoding
			// refuses non-zero padding bits.
			t.Fatalf("mutated token %q still verifies", mut)
		}
	})
}

func TestEqualSecret(t *testing.T) {
	if !equalSecret("abc", "abc") || equalSecret("abc", "abd") || equalSecret("abc", "abcd") || equalSecret("", "x") {
		t.Error("equalSecret")
	}
}

func TestMatchesETag(t *testing.T) {
	etag := `"abc-1"`
	for h, want := range map[string]bool{
		`"abc-1"`:          true,
		`abc-1`:            true,
		`W/"abc-1"`:        true,
		`"x", "abc-1"`:     true,
		`*`:                true,
		`"abc-2"`:          false,
		``:                 false,
		`"abc-1`:           false,
		`"abc-1", "other"`: true,
	} {
		if got := matchesETag(h, etag); got != want {
			t.Errorf("matchesETag(%q) = %v, want %v", h, got, want)
		}
	}
}
