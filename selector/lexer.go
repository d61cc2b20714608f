package selector

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxLabelLen is the longest label key Calico's tokenizer accepts.
const maxLabelLen = 512

type tokenKind int

const (
	tokEOF        tokenKind = iota
	tokLabel                // val is the label key
	tokString               // val is the unquoted value
	tokHas                  // has(k); val is k
	tokAll                  // all()
	tokGlobal               // global()
	tokEq                   // ==
	tokNe                   // !=
	tokIn                   // in
	tokNotIn                // not in
	tokContains             // contains
	tokStartsWith           // starts with
	tokEndsWith             // ends with
	tokNot                  // !
	tokAnd                  // &&
	tokOr                   // ||
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
)

type token struct {
	kind     tokenKind
	val      string
	pos, end int // byte range in the source
}

// lexer hands out tokens one at a time so that the parser reports the
// leftmost error, whether it is lexical or grammatical.
type lexer struct {
	src string
	pos int
	// afterLabel is set when the last token was a label key. Only there are
	// contains, starts with and ends with operators, as in Calico, so a label
	// key may still be called "contains", "starts" or "ends".
	afterLabel bool
}

func (l *lexer) errorf(pos int, found, format string, args ...any) *ParseError {
	return &ParseError{Selector: l.src, Pos: pos, Msg: fmt.Sprintf(format, args...), Found: found}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isLabelChar reports whether c may appear in a label key.
func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
}

// word returns the run of label characters starting at pos.
func (l *lexer) word(pos int) string {
	end := pos
	for end < len(l.src) && isLabelChar(l.src[end]) {
		end++
	}
	return l.src[pos:end]
}

// describe names what the source holds at pos, for "found ..." in errors.
func (l *lexer) describe(pos int) string {
	if pos >= len(l.src) {
		return "end of selector"
	}
	if w := l.word(pos); w != "" {
		return quoteFound(w)
	}
	_, size := utf8.DecodeRuneInString(l.src[pos:])
	return fmt.Sprintf("%q", l.src[pos:pos+size])
}

// quoteFound quotes source text for an error message, shortening long text.
func quoteFound(s string) string {
	const limit = 40
	if len(s) > limit {
		s = s[:limit-3] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func (l *lexer) next() (token, error) {
	afterLabel := l.afterLabel
	l.afterLabel = false
	l.skipSpace()
	start := l.pos
	tok := func(kind tokenKind, n int, val string) (token, error) {
		l.pos = start + n
		return token{kind: kind, val: val, pos: start, end: l.pos}, nil
	}
	if start == len(l.src) {
		return tok(tokEOF, 0, "")
	}
	rest := l.src[start:]
	switch c := rest[0]; {
	case c == '(':
		return tok(tokLParen, 1, "")
	case c == ')':
		return tok(tokRParen, 1, "")
	case c == '{':
		return tok(tokLBrace, 1, "")
	case c == '}':
		return tok(tokRBrace, 1, "")
	case c == ',':
		return tok(tokComma, 1, "")
	case c == '"' || c == '\'':
		i := strings.IndexByte(rest[1:], c)
		if i < 0 {
			return token{}, l.errorf(start, quoteFound(rest), "unterminated string (no closing %c)", c)
		}
		return tok(tokString, i+2, rest[1:i+1])
	case strings.HasPrefix(rest, "=="):
		return tok(tokEq, 2, "")
	case strings.HasPrefix(rest, "!="):
		return tok(tokNe, 2, "")
	case c == '!':
		return tok(tokNot, 1, "")
	case strings.HasPrefix(rest, "&&"):
		return tok(tokAnd, 2, "")
	case strings.HasPrefix(rest, "||"):
		return tok(tokOr, 2, "")
	case c == '=' || c == '&' || c == '|':
		return token{}, l.errorf(start, "", "expected %c%c", c, c)
	case isLabelChar(c):
		return l.wordToken(start, afterLabel)
	default:
		return token{}, l.errorf(start, "", "unexpected character %s", l.describe(start))
	}
}

// wordToken lexes a run of label characters: a keyword, a function call such
// as has(k), or a label key.
func (l *lexer) wordToken(start int, afterLabel bool) (token, error) {
	w := l.word(start)
	end := start + len(w)
	call := end < len(l.src) && l.src[end] == '('
	switch {
	case w == "has" && call:
		return l.hasToken(start, end+1)
	case (w == "all" || w == "global") && call:
		l.pos = end + 1
		l.skipSpace()
		if l.pos >= len(l.src) || l.src[l.pos] != ')' {
			return token{}, l.errorf(l.pos, l.describe(l.pos), "expected ) to close %s(", w)
		}
		l.pos++
		kind := tokAll
		if w == "global" {
			kind = tokGlobal
		}
		return token{kind: kind, pos: start, end: l.pos}, nil
	case w == "in":
		l.pos = end
		return token{kind: tokIn, pos: start, end: end}, nil
	case w == "notin":
		l.pos = end
		return token{kind: tokNotIn, pos: start, end: end}, nil
	case w == "not":
		// "not in" is one operator; a lone "not" is a label key.
		l.pos = end
		l.skipSpace()
		if l.word(l.pos) == "in" {
			l.pos += 2
			return token{kind: tokNotIn, pos: start, end: l.pos}, nil
		}
	case afterLabel && w == "contains":
		l.pos = end
		return token{kind: tokContains, pos: start, end: end}, nil
	case afterLabel && (w == "startswith" || w == "endswith"):
		// Calico's tokenizer takes the two words with no space between them too, as it does "notin".
		l.pos = end
		kind := tokStartsWith
		if w == "endswith" {
			kind = tokEndsWith
		}
		return token{kind: kind, pos: start, end: end}, nil
	case afterLabel && (w == "starts" || w == "ends"):
		// "starts with" and "ends with" are one operator each, the words
		// parted by whitespace. Without "with" the word is left as a label
		// key, for the parser to report the missing "with".
		l.pos = end
		l.skipSpace()
		if l.word(l.pos) == "with" {
			l.pos += len("with")
			kind := tokStartsWith
			if w == "ends" {
				kind = tokEndsWith
			}
			return token{kind: kind, pos: start, end: l.pos}, nil
		}
	case len(w) > maxLabelLen:
		return token{}, l.errorf(start, "", "label key longer than %d characters", maxLabelLen)
	}
	l.pos = end
	l.afterLabel = true
	return token{kind: tokLabel, val: w, pos: start, end: end}, nil
}

// hasToken lexes the rest of "has(k)" from just after the "(".
func (l *lexer) hasToken(start, pos int) (token, error) {
	l.pos = pos
	l.skipSpace()
	key := l.word(l.pos)
	if key == "" {
		return token{}, l.errorf(l.pos, l.describe(l.pos), "expected a label key inside has()")
	}
	if len(key) > maxLabelLen {
		return token{}, l.errorf(l.pos, "", "label key longer than %d characters", maxLabelLen)
	}
	l.pos += len(key)
	l.skipSpace()
	if l.pos >= len(l.src) || l.src[l.pos] != ')' {
		return token{}, l.errorf(l.pos, l.describe(l.pos), "expected ) to close has(")
	}
	l.pos++
	return token{kind: tokHas, val: key, pos: start, end: l.pos}, nil
}
