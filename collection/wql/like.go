package wql

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pattern is a compiled LIKE pattern, with SQL Server's wildcards: % (any
// run of characters), _ (any one character), [abc] and [a-z] (one character
// of a set), [^…] (one character not in the set). A set holding one
// character escapes it: [%], [_], [[]. Inside a set, % and _ are literal and
// a '-' first or last is literal. Matching is case-insensitive.
//
// A pattern made only of literal text and % (the usual "%Workstation 6.1%",
// "Microsoft Office%") matches by prefix, suffix and leftmost-substring
// tests over the literal segments; any other pattern runs a backtracking
// matcher over its elements. Neither allocates.
type pattern struct {
	// With no _ or sets, the pattern is literal segments between % signs:
	// prefix must start the string, the mid segments follow in order, and
	// suffix ends it. Without any %, prefix must be the whole string.
	star           bool
	prefix, suffix string
	mid            []finder
	// elems is the general form; nil when the segments apply.
	elems []pelem
	// never is set for a pattern with an unclosed '['. SQL Server matches
	// nothing with it [UNVERIFIED: observed behaviour, not documented].
	never bool
}

type pelemKind uint8

const (
	eLit  pelemKind = iota // r, folded
	eAny                   // _
	eStar                  // %
	eSet                   // [...] or [^...]
)

type pelem struct {
	kind pelemKind
	neg  bool
	r    rune
	set  []runeRange
}

type runeRange struct{ lo, hi rune }

// compilePattern compiles the LIKE pattern p.
func compilePattern(p string) *pattern {
	var elems []pelem
	general := false
	for i := 0; i < len(p); {
		switch p[i] {
		case '%':
			if len(elems) == 0 || elems[len(elems)-1].kind != eStar {
				elems = append(elems, pelem{kind: eStar})
			}
			i++
		case '_':
			elems = append(elems, pelem{kind: eAny})
			general = true
			i++
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return &pattern{never: true}
			}
			e := compileSet(p[i+1 : i+1+end])
			elems = append(elems, e)
			general = general || e.kind == eSet
			i += end + 2
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			elems = append(elems, pelem{kind: eLit, r: foldRune(r)})
			i += n
		}
	}
	if general {
		return &pattern{elems: elems}
	}
	var segs []string
	var b strings.Builder
	for _, e := range elems {
		if e.kind == eStar {
			segs = append(segs, b.String())
			b.Reset()
			continue
		}
		b.WriteRune(e.r)
	}
	segs = append(segs, b.String())
	pt := &pattern{star: len(segs) > 1, prefix: segs[0]}
	if pt.star {
		pt.suffix = segs[len(segs)-1]
		for _, seg := range segs[1 : len(segs)-1] {
			if seg != "" {
				pt.mid = append(pt.mid, newFinder(seg))
			}
		}
	}
	return pt
}

// compileSet compiles the inside of [...]: one literal character, or a set.
func compileSet(s string) pelem {
	e := pelem{kind: eSet}
	if strings.HasPrefix(s, "^") {
		e.neg, s = true, s[1:]
	}
	rs := []rune(s)
	if !e.neg && len(rs) == 1 {
		return pelem{kind: eLit, r: foldRune(rs[0])}
	}
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			e.set = append(e.set, runeRange{rs[i], rs[i+2]})
			i += 2
			continue
		}
		e.set = append(e.set, runeRange{rs[i], rs[i]})
	}
	return e
}

// match reports whether s matches the pattern.
func (p *pattern) match(s string) bool {
	switch {
	case p.never:
		return false
	case p.elems != nil:
		return p.matchElems(s)
	case !p.star:
		return compareFold(s, p.prefix) == 0
	}
	if p.prefix != "" {
		n, ok := prefixFold(s, p.prefix)
		if !ok {
			return false
		}
		s = s[n:]
	}
	for i := range p.mid {
		k, n := p.mid[i].find(s)
		if k < 0 {
			return false
		}
		s = s[k+n:]
	}
	return suffixFold(s, p.suffix)
}

// matchElems is the classic wildcard matcher: every element but % takes
// exactly one character, so on a mismatch it is enough to retry from the
// last %, one character further on.
func (p *pattern) matchElems(s string) bool {
	el := p.elems
	si, pi := 0, 0
	star, starSi := -1, 0
	for si < len(s) {
		if pi < len(el) {
			if el[pi].kind == eStar {
				star, starSi = pi, si
				pi++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[si:])
			if el[pi].matches(r) {
				si += n
				pi++
				continue
			}
		}
		if star < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		si, pi = starSi, star+1
	}
	for pi < len(el) && el[pi].kind == eStar {
		pi++
	}
	return pi == len(el)
}

func (e *pelem) matches(r rune) bool {
	switch e.kind {
	case eLit:
		return foldRune(r) == e.r
	case eAny:
		return true
	}
	return e.inSet(r) != e.neg
}

// inSet reports whether r, or another case of r, is in the set.
func (e *pelem) inSet(r rune) bool {
	if e.inRanges(r) || e.inRanges(foldRune(r)) || e.inRanges(unicode.ToUpper(r)) {
		return true
	}
	for v := unicode.SimpleFold(r); v != r; v = unicode.SimpleFold(v) {
		if e.inRanges(v) {
			return true
		}
	}
	return false
}

func (e *pelem) inRanges(r rune) bool {
	for _, rg := range e.set {
		if rg.lo <= r && r <= rg.hi {
			return true
		}
	}
	return false
}
