// Package selector owns the Calico label selector language: parsing a selector
// expression, evaluating it against a set of labels, and rendering the
// canonical form and unique ID that identify it (for example in ipset names).
//
// The language, with precedence from lowest to highest binding:
//
//	a || b          either side matches
//	a && b          both sides match
//	!a              negation (repeated "!" collapse by parity)
//	k == "v"        label k present with value v
//	k != "v"        label k absent or with a value other than v
//	k in {"a","b"}  label k present with one of the values
//	k not in {...}  label k absent or with none of the values
//	k contains "s"     label k present with s in its value
//	k starts with "s"  label k present with a value beginning with s
//	k ends with "s"    label k present with a value ending with s
//	has(k)          label k present with any value
//	all(), global() everything
//	( ... )         grouping
//
// Strings take single or double quotes and have no escapes. An empty or
// whitespace-only selector means all().
package selector

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Selector is a parsed selector expression. It is immutable and safe for
// concurrent use.
type Selector interface {
	// Evaluate reports whether labels match the selector. A nil map is an
	// endpoint without labels.
	Evaluate(labels map[string]string) bool
	// String returns the canonical form: Calico's rendering, in which every
	// && and || group is parenthesised, strings are double-quoted (single-quoted
	// when they contain a double quote) and sets are sorted and de-duplicated.
	// Parsing the canonical form gives back the same canonical form.
	String() string
	// UniqueID returns "s:" followed by the unpadded base64url SHA-224 of
	// "s:" + String(), the same ID Calico computes. Felix names a selector's
	// ipset "cali40" + UniqueID(), cut to the 31 characters ipset allows.
	UniqueID() string
}

// ParseError describes where and why a selector failed to parse.
type ParseError struct {
	Selector string // the whole input
	Pos      int    // 0-based byte offset into Selector
	Msg      string // what was wrong, e.g. "expected a quoted string"
	Found    string // what was there instead, e.g. `"b"` or "end of selector"; may be empty
}

func (e *ParseError) Error() string {
	s := fmt.Sprintf("selector %q: %s at position %d", e.Selector, e.Msg, e.Pos)
	if e.Found != "" {
		s += ", found " + e.Found
	}
	return s
}

// Parse parses a selector expression. The error, if any, is a *ParseError.
func Parse(s string) (Selector, error) {
	root, err := parse(s)
	if err != nil {
		return nil, err
	}
	return newSelector(root), nil
}

// MustParse is Parse for selectors known to be valid; it panics on error.
func MustParse(s string) Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// Validate reports whether s is a valid selector, for API validation.
func Validate(s string) error {
	_, err := parse(s)
	return err
}

// parsed is the Selector implementation. The canonical string and ID are
// computed once at parse time so the value stays immutable.
type parsed struct {
	root node
	str  string
	id   string
}

func newSelector(root node) *parsed {
	str := render(root)
	return &parsed{root: root, str: str, id: uniqueID("s", str)}
}

func (p *parsed) Evaluate(labels map[string]string) bool { return p.root.eval(labels) }
func (p *parsed) String() string                         { return p.str }
func (p *parsed) UniqueID() string                       { return p.id }

// uniqueID hashes content under a one-letter kind prefix the way Calico does,
// so that IDs of different kinds of thing never collide.
func uniqueID(prefix, content string) string {
	sum := sha256.Sum224([]byte(prefix + ":" + content))
	return prefix + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}
