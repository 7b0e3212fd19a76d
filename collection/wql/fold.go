package wql

import (
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// String comparison is case-insensitive, like SQL Server's default collation
// (SQL_Latin1_General_CP1_CI_AS) that ConfigMgr's database uses: two
// characters are equal when foldRune maps them to the same rune. Ordering
// compares folded code points, which agrees with the collation on letters
// and digits but not on punctuation or accents [UNVERIFIED: the collation's
// exact sort order is not modelled]. The ASCII fast paths neither allocate
// nor decode.

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// foldRune maps r to its case-fold representative. ToLower∘ToUpper is stable
// under ToUpper and ToLower and agrees with unicode.SimpleFold's orbits, so
// UPPER() and LOWER() never change a comparison's result.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(lowerASCII(byte(r)))
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// compareFold compares a and b case-insensitively: -1, 0 or +1.
func compareFold(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if i+8 <= len(a) && j+8 <= len(b) {
			if x, y := load64(a, i), load64(b, j); (x|y)&hiBits == 0 {
				if x != y {
					if x, y = lower8(x), lower8(y); x != y {
						k := bits.TrailingZeros64(x^y) &^ 7
						return cmpInt(int64(x>>k&0xFF), int64(y>>k&0xFF))
					}
				}
				i += 8
				j += 8
				continue
			}
		}
		if ca, cb := a[i], b[j]; ca|cb < utf8.RuneSelf {
			if ca, cb = lowerASCII(ca), lowerASCII(cb); ca != cb {
				return cmpInt(int64(ca), int64(cb))
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(a[i:])
		rb, nb := utf8.DecodeRuneInString(b[j:])
		if fa, fb := foldRune(ra), foldRune(rb); fa != fb {
			return cmpInt(int64(fa), int64(fb))
		}
		i += na
		j += nb
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

// eqFoldASCII reports whether s equals the ASCII string lit
// case-insensitively. Only the four non-ASCII characters that fold to ASCII
// letters (see foldsFromNonASCII) can make a longer s equal, and nothing can
// make a shorter one, so most unequal lengths are decided without a scan.
func eqFoldASCII(s, lit string) bool {
	switch {
	case len(s) < len(lit):
		return false
	case len(s) > len(lit) && isASCII(s):
		return false
	}
	return compareFold(s, lit) == 0
}

// isASCII reports whether s has no byte above 0x7F.
func isASCII(s string) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		acc |= load64(s, i)
	}
	for ; i < len(s); i++ {
		acc |= uint64(s[i])
	}
	return acc&hiBits == 0
}

// hiBits has the top bit of every byte: a word of ASCII has none of them.
const hiBits = 0x8080808080808080

// load64 reads s[i:i+8] as a little-endian word (the compiler makes it one
// load).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// lower8 lower-cases the eight ASCII bytes of x at once: a byte gets 0x20
// when it is at least 'A' and not above 'Z'. No byte carries into the next,
// since every byte is below 0x80.
func lower8(x uint64) uint64 {
	ge := x + 0x3F3F3F3F3F3F3F3F // top bit set where the byte is >= 'A'
	gt := x + 0x2525252525252525 // top bit set where the byte is > 'Z'
	return x | (ge&^gt&hiBits)>>2
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// prefixFold reports whether s starts with seg case-insensitively, and how
// many bytes of s that prefix takes.
func prefixFold(s, seg string) (int, bool) {
	if match, known := prefixFoldASCII(s, seg); known {
		return len(seg), match
	}
	i, j := 0, 0
	for j < len(seg) {
		if i >= len(s) {
			return 0, false
		}
		if a, b := s[i], seg[j]; a|b < utf8.RuneSelf {
			if lowerASCII(a) != lowerASCII(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(s[i:])
		rb, nb := utf8.DecodeRuneInString(seg[j:])
		if foldRune(ra) != foldRune(rb) {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

// prefixFoldASCII compares a seg of at least 8 bytes with the start of s by
// words, the last one overlapping the one before. It decides (known) unless
// it meets a non-ASCII byte before a difference, or s is shorter than seg
// (a non-ASCII s can match a longer seg).
func prefixFoldASCII(s, seg string) (match, known bool) {
	n := len(seg)
	if n < 8 || n > len(s) {
		return false, false
	}
	for i := 0; ; i += 8 {
		i = min(i, n-8)
		x, y := load64(s, i), load64(seg, i)
		if (x|y)&hiBits != 0 {
			return false, false
		}
		if x != y && lower8(x) != lower8(y) {
			return false, true
		}
		if i == n-8 {
			return true, true
		}
	}
}

// suffixFold reports whether s ends with seg case-insensitively.
func suffixFold(s, seg string) bool {
	i, j := len(s), len(seg)
	for j > 0 {
		if i == 0 {
			return false
		}
		if a, b := s[i-1], seg[j-1]; a|b < utf8.RuneSelf {
			if lowerASCII(a) != lowerASCII(b) {
				return false
			}
			i--
			j--
			continue
		}
		ra, na := utf8.DecodeLastRuneInString(s[:i])
		rb, nb := utf8.DecodeLastRuneInString(seg[:j])
		if foldRune(ra) != foldRune(rb) {
			return false
		}
		i -= na
		j -= nb
	}
	return true
}

// finder finds a literal segment case-insensitively: find returns where
// the first occurrence of seg starts in s and how many bytes it takes, or
// -1. It looks for candidates eight positions at a time with two word
// tests, for the first two bytes of seg, prepared when the pattern is
// compiled; each candidate is then checked with prefixFold.
type finder struct {
	seg   string
	words bool      // seg starts with an ASCII byte, so the word tests apply
	fold  [2]uint64 // per test: or-ed into a word, folds a letter's case
	want  [2]uint64 // per test: the byte sought, folded, in every byte
	lead  [2]uint64 // per test: hiBits to also accept a multi-byte character (see foldsFromNonASCII)
	leads bool      // a lead is set
	at    int       // the offset the second test reads: 1, or 0 when it repeats the first
}

func newFinder(seg string) finder {
	f := finder{seg: seg, words: seg[0] < utf8.RuneSelf}
	for p := range 2 {
		// The second test repeats the first when seg has no ASCII second
		// byte, or when the data may hold a multi-byte character in place
		// of seg[0], which shifts the bytes after it.
		if p == 1 && (len(seg) < 2 || seg[1] >= utf8.RuneSelf || f.lead[0] != 0) {
			f.fold[1], f.want[1], f.lead[1] = f.fold[0], f.want[0], f.lead[0]
			break
		}
		f.fold[p], f.want[p] = caseless(seg[p])
		if foldsFromNonASCII(seg[p]) {
			f.lead[p], f.leads = hiBits, true
		}
		f.at = p
	}
	return f
}

func (f *finder) find(s string) (int, int) {
	last := len(s) - 8 - f.at
	if !f.words || last < 0 {
		for i := 0; i < len(s); {
			if n, ok := prefixFold(s[i:], f.seg); ok {
				return i, n
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		return -1, 0
	}
	// Each test sets the top bit of the bytes whose position may start a
	// match: the byte it reads is its seg byte in either case, or starts a
	// multi-byte character. The last word overlaps the one before; skip
	// drops the positions already looked at.
	for i, skip := 0, 0; ; {
		x, y := load64(s, i), load64(s, i+f.at)
		m0, m1 := zeroBytes(x|f.fold[0]^f.want[0]), zeroBytes(y|f.fold[1]^f.want[1])
		if f.leads {
			m0 |= x & (x << 1) & f.lead[0]
			m1 |= y & (y << 1) & f.lead[1]
		}
		for m := m0 & m1 &^ (1<<(8*skip) - 1); m != 0; m &= m - 1 {
			k := i + bits.TrailingZeros64(m)/8
			if n, ok := prefixFold(s[k:], f.seg); ok {
				return k, n
			}
		}
		if i == last {
			return -1, 0
		}
		if i += 8; i > last {
			i, skip = last, i-last
		}
	}
}

// caseless returns the mask that folds c's case when or-ed into a byte and
// c so folded, both repeated in every byte of a word.
func caseless(c byte) (fold, want uint64) {
	if lowerASCII(c) != upperASCII(c) {
		fold = 0x2020202020202020
	}
	return fold, uint64(c)*0x0101010101010101 | fold
}

// zeroBytes sets the top bit of every zero byte of x (and possibly of
// bytes above one): no zero byte is missed.
func zeroBytes(x uint64) uint64 { return (x - 0x0101010101010101) &^ x & hiBits }

// foldsFromNonASCII reports whether a non-ASCII character folds to c: the
// dotted and dotless I (İ, ı), the long s (ſ) and the Kelvin sign (K).
func foldsFromNonASCII(c byte) bool {
	switch lowerASCII(c) {
	case 'i', 'k', 's':
		return true
	}
	return false
}
