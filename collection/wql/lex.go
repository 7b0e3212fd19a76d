package wql

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/consign/consign"
)

// SyntaxError reports a query that cannot be parsed, or that names a class,
// property or function the schema or the dialect does not have, or that
// compares values of types that do not mix. errors.Is(err, consign.ErrInvalid)
// is true for it.
type SyntaxError struct {
	Offset int    // byte offset of the offending token in the query
	Line   int    // 1-based line of Offset
	Column int    // 1-based column of Offset, in characters
	Token  string // the offending token as written; "" at the end of the query
	Msg    string // what is wrong, without the position
}

// Error returns the message with its position, e.g.
// `wql: line 1, column 57: unknown property "Nme" of class SMS_R_System`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("wql: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Is makes errors.Is(err, consign.ErrInvalid) true.
func (e *SyntaxError) Is(target error) bool { return target == consign.ErrInvalid }

// errorAt returns a *SyntaxError at byte offset pos of src.
func errorAt(src string, pos int, tok string, format string, args ...any) *SyntaxError {
	pos = max(0, min(pos, len(src)))
	line := 1 + strings.Count(src[:pos], "\n")
	col := 1 + utf8.RuneCountInString(src[strings.LastIndexByte(src[:pos], '\n')+1:pos])
	return &SyntaxError{Offset: pos, Line: line, Column: col, Token: tok, Msg: fmt.Sprintf(format, args...)}
}

type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // an identifier or keyword
	tString         // a quoted literal; val is the unescaped text
	tNumber         // a run of decimal digits
	tPunct          // an operator or punctuation; val is its text
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // the token as written
	val  string // identifier, unescaped string, digits or punctuation
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i == len(src) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start, c := i, src[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			for i < len(src) && isIdentByte(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tIdent, pos: start, text: src[start:i], val: src[start:i]})
		case c >= '0' && c <= '9':
			for i < len(src) && src[i] >= '0' && src[i] <= '9' {
				i++
			}
			if i+1 < len(src) && src[i] == '.' && src[i+1] >= '0' && src[i+1] <= '9' {
				return nil, errorAt(src, start, src[start:i+2], "decimal numbers are not supported")
			}
			toks = append(toks, token{kind: tNumber, pos: start, text: src[start:i], val: src[start:i]})
		case c == '"' || c == '\'':
			val, n, ok := unquote(src[i:])
			if !ok {
				return nil, errorAt(src, start, src[start:], "unterminated string")
			}
			i += n
			toks = append(toks, token{kind: tString, pos: start, text: src[start:i], val: val})
		default:
			n := punctLen(src[i:])
			if n == 0 {
				r, size := utf8.DecodeRuneInString(src[i:])
				return nil, errorAt(src, start, src[i:i+size], "unexpected character %q", r)
			}
			i += n
			toks = append(toks, token{kind: tPunct, pos: start, text: src[start:i], val: src[start:i]})
		}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// punctLen returns the length of the operator or punctuation s starts with.
func punctLen(s string) int {
	switch s[0] {
	case '(', ')', ',', '.', '*', '=', '-', ';':
		return 1
	case '<':
		if len(s) > 1 && (s[1] == '=' || s[1] == '>') {
			return 2
		}
		return 1
	case '>':
		if len(s) > 1 && s[1] == '=' {
			return 2
		}
		return 1
	case '!':
		if len(s) > 1 && s[1] == '=' {
			return 2
		}
	}
	return 0
}

// unquote reads the quoted literal s starts with and returns its value and
// its length in s. WQL escapes with a backslash: \" \' and \\ stand for the
// character; any other backslash is kept as written, so a pasted
// "DOMAIN\user" means what its author meant.
func unquote(s string) (string, int, bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == q:
			return b.String(), i + 1, true
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}
