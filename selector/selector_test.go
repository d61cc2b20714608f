package selector

import (
	"errors"
	"strings"
	"testing"
)

type labels = map[string]string

var validTests = []struct {
	name      string
	sel       string
	canonical string
	match     []labels
	noMatch   []labels
}{
	{
		name: "an empty selector matches everything", sel: "", canonical: "all()",
		match: []labels{nil, {}, {"a": "b"}},
	},
	{
		name: "a whitespace-only selector matches everything", sel: " \t\n ", canonical: "all()",
		match: []labels{{}, {"a": "b"}},
	},
	{
		name: "all() matches everything", sel: " all() ", canonical: "all()",
		match: []labels{{}, {"a": "b"}},
	},
	{
		name: "all() tolerates space between its parentheses and outer parentheses", sel: " (all(  ) )", canonical: "all()",
		match: []labels{{}},
	},
	{
		name: "global() matches everything", sel: "global()", canonical: "global()",
		match: []labels{{}, {"projectcalico.org/namespace": "default"}},
	},
	{
		name: "negated all() matches nothing", sel: "!all()", canonical: "!all()",
		noMatch: []labels{{}, {"a": "b"}},
	},
	{
		name: "equality needs the label with that exact value", sel: `a == "b"`, canonical: `a == "b"`,
		match:   []labels{{"a": "b"}, {"a": "b", "c": "d"}},
		noMatch: []labels{nil, {}, {"a": "c"}, {"a": ""}, {"c": "b"}, {"A": "b"}},
	},
	{
		name: "single-quoted strings canonicalise to double quotes", sel: `a=='b'`, canonical: `a == "b"`,
		match: []labels{{"a": "b"}}, noMatch: []labels{{"a": "'b'"}},
	},
	{
		name: "a value holding a double quote canonicalises to single quotes", sel: `a == 'say "hi"'`, canonical: `a == 'say "hi"'`,
		match: []labels{{"a": `say "hi"`}}, noMatch: []labels{{"a": "say hi"}},
	},
	{
		name: "a double-quoted value may hold a single quote", sel: `a == "it's"`, canonical: `a == "it's"`,
		match: []labels{{"a": "it's"}},
	},
	{
		name: "an empty string matches an empty label value only", sel: `a == ""`, canonical: `a == ""`,
		match: []labels{{"a": ""}}, noMatch: []labels{{}, {"a": " "}},
	},
	{
		name: "string values keep spaces and punctuation verbatim", sel: `a == " x && y || (z) "`, canonical: `a == " x && y || (z) "`,
		match: []labels{{"a": " x && y || (z) "}}, noMatch: []labels{{"a": "x && y || (z)"}},
	},
	{
		name: "inequality matches a missing label", sel: `a != "b"`, canonical: `a != "b"`,
		match:   []labels{nil, {}, {"a": "c"}, {"a": ""}, {"c": "b"}},
		noMatch: []labels{{"a": "b"}},
	},
	{
		name: "has() matches any value including empty", sel: "has( a )", canonical: "has(a)",
		match: []labels{{"a": ""}, {"a": "x"}}, noMatch: []labels{{}, {"b": "a"}},
	},
	{
		name: "negated has() matches a missing label", sel: "! has(a)", canonical: "!has(a)",
		match: []labels{{}, {"b": "b"}}, noMatch: []labels{{"a": ""}},
	},
	{
		name: "an even number of negations cancels out", sel: "!! ! !has(a)", canonical: "has(a)",
		match: []labels{{"a": "b"}}, noMatch: []labels{{}},
	},
	{
		name: "an odd number of negations is one negation", sel: "! !!has(a)", canonical: "!has(a)",
		match: []labels{{}}, noMatch: []labels{{"a": "b"}},
	},
	{
		name: "a negation of a negated group cancels out", sel: "!(!has(a))", canonical: "has(a)",
		match: []labels{{"a": "b"}}, noMatch: []labels{{}},
	},
	{
		name: "in matches a value in the set", sel: `a in {"x","y"}`, canonical: `a in {"x", "y"}`,
		match: []labels{{"a": "x"}, {"a": "y"}}, noMatch: []labels{{}, {"a": "z"}, {"a": ""}},
	},
	{
		name: "in sorts and de-duplicates the set", sel: `a in {"z", "z", "x", "y", "x", "a"}`, canonical: `a in {"a", "x", "y", "z"}`,
		match: []labels{{"a": "a"}, {"a": "z"}}, noMatch: []labels{{"a": "b"}},
	},
	{
		name: "in accepts a trailing comma", sel: `a in {'x',}`, canonical: `a in {"x"}`,
		match: []labels{{"a": "x"}}, noMatch: []labels{{"a": ","}},
	},
	{
		name: "in with an empty set matches nothing", sel: "a in { }", canonical: "a in {}",
		noMatch: []labels{{}, {"a": ""}},
	},
	{
		name: "a set mixes quote styles", sel: `a in {'say "hi"', "it's"}`, canonical: `a in {"it's", 'say "hi"'}`,
		match: []labels{{"a": `say "hi"`}, {"a": "it's"}},
	},
	{
		name: "not in matches a missing label", sel: `a not in {"x", "y"}`, canonical: `a not in {"x", "y"}`,
		match: []labels{nil, {}, {"a": "z"}}, noMatch: []labels{{"a": "x"}, {"a": "y"}},
	},
	{
		name: "not in may be written without a space or with tabs", sel: "a notin {'x'} && b not\t in {'y'}",
		canonical: `(a not in {"x"} && b not in {"y"})`,
		match:     []labels{{}, {"a": "y", "b": "x"}}, noMatch: []labels{{"a": "x"}, {"b": "y"}},
	},
	{
		name: "not in with an empty set matches everything", sel: "a not in {}", canonical: "a not in {}",
		match: []labels{{}, {"a": ""}},
	},
	{
		name: "a negated in matches a missing label and values outside the set", sel: `!a in {"a"}`, canonical: `!a in {"a"}`,
		match: []labels{{}, {"a": "b"}}, noMatch: []labels{{"a": "a"}},
	},
	{
		name: "and needs both sides and is wrapped in parentheses", sel: `a == "b"&&c == "d"`, canonical: `(a == "b" && c == "d")`,
		match:   []labels{{"a": "b", "c": "d"}},
		noMatch: []labels{{}, {"a": "b"}, {"c": "d"}, {"a": "b", "c": "e"}},
	},
	{
		name: "or needs either side", sel: `a == "b" || c == "d"`, canonical: `(a == "b" || c == "d")`,
		match:   []labels{{"a": "b"}, {"c": "d"}, {"a": "b", "c": "d"}},
		noMatch: []labels{{}, {"a": "e", "c": "e"}},
	},
	{
		name: "a chain of ands is one group", sel: "has(a) && has(b) && has(c)", canonical: "(has(a) && has(b) && has(c))",
		match: []labels{{"a": "", "b": "", "c": ""}}, noMatch: []labels{{"a": "", "b": ""}},
	},
	{
		name: "and binds tighter than or", sel: "has(a) || has(b) && has(c)", canonical: "(has(a) || (has(b) && has(c)))",
		match: []labels{{"a": ""}, {"b": "", "c": ""}}, noMatch: []labels{{"b": ""}, {"c": ""}},
	},
	{
		name: "parentheses override precedence", sel: "(has(a) || has(b)) && has(c)", canonical: "((has(a) || has(b)) && has(c))",
		match: []labels{{"a": "", "c": ""}, {"b": "", "c": ""}}, noMatch: []labels{{"a": ""}, {"c": ""}},
	},
	{
		name: "explicit grouping of ands is kept", sel: "(has(a) && has(b)) && has(c)", canonical: "((has(a) && has(b)) && has(c))",
		match: []labels{{"a": "", "b": "", "c": ""}}, noMatch: []labels{{"a": "", "c": ""}},
	},
	{
		name: "negation binds tighter than and", sel: `!a == "1" && b == "2"`, canonical: `(!a == "1" && b == "2")`,
		match: []labels{{"b": "2"}, {"a": "3", "b": "2"}}, noMatch: []labels{{"a": "1", "b": "2"}},
	},
	{
		name: "a negated group keeps its parentheses", sel: "! (has( b)||! has(a ))", canonical: "!(has(b) || !has(a))",
		match: []labels{{"a": "a"}}, noMatch: []labels{{}, {"b": "b"}, {"a": "a", "b": "b"}},
	},
	{
		name: "a negated comparison inside a negated group", sel: `! (a == "b"&&! c != "d")`, canonical: `!(a == "b" && !c != "d")`,
		match: []labels{{}, {"a": "b"}, {"a": "b", "c": "e"}}, noMatch: []labels{{"a": "b", "c": "d"}},
	},
	{
		name:      "label keys may hold dots, slashes, dashes and underscores",
		sel:       `projectcalico.org/namespace == "prod" && app.kubernetes.io/name in {"web"} && has(my_label-1)`,
		canonical: `(projectcalico.org/namespace == "prod" && app.kubernetes.io/name in {"web"} && has(my_label-1))`,
		match:     []labels{{"projectcalico.org/namespace": "prod", "app.kubernetes.io/name": "web", "my_label-1": ""}},
		noMatch:   []labels{{"projectcalico.org/namespace": "prod", "app.kubernetes.io/name": "web"}},
	},
	{
		name:      "words that are keywords elsewhere are label keys before an operator",
		sel:       `has == "1" && all == "2" && global == "3" && not == "4" && not not in {"5"} && inx == "6"`,
		canonical: `(has == "1" && all == "2" && global == "3" && not == "4" && not not in {"5"} && inx == "6")`,
		match:     []labels{{"has": "1", "all": "2", "global": "3", "not": "4", "inx": "6"}},
		noMatch:   []labels{{"has": "1", "all": "2", "global": "3", "not": "5", "inx": "6"}},
	},
	{
		name: "a label key may start with a keyword and punctuation", sel: `in.example.com/tier == "db"`,
		canonical: `in.example.com/tier == "db"`,
		match:     []labels{{"in.example.com/tier": "db"}}, noMatch: []labels{{"tier": "db"}},
	},
	{
		name: "a label key of 512 characters is allowed", sel: "has(" + strings.Repeat("k", 512) + ")",
		canonical: "has(" + strings.Repeat("k", 512) + ")",
		match:     []labels{{strings.Repeat("k", 512): ""}}, noMatch: []labels{{"k": ""}},
	},
	{
		name: "contains needs the label with the string somewhere in its value", sel: `a contains "b"`, canonical: `a contains "b"`,
		match:   []labels{{"a": "b"}, {"a": "abc"}, {"a": "xxb"}, {"a": "b", "c": "d"}},
		noMatch: []labels{nil, {}, {"a": ""}, {"a": "B"}, {"a": "xyz"}, {"c": "b"}},
	},
	{
		name: "starts with needs the label with a value beginning with the string", sel: `a starts with "pre"`, canonical: `a starts with "pre"`,
		match:   []labels{{"a": "pre"}, {"a": "prefix"}},
		noMatch: []labels{nil, {}, {"a": ""}, {"a": "apre"}, {"a": "pr"}, {"a": "Prefix"}, {"b": "prefix"}},
	},
	{
		name: "ends with needs the label with a value ending with the string", sel: `a ends with "fix"`, canonical: `a ends with "fix"`,
		match:   []labels{{"a": "fix"}, {"a": "suffix"}},
		noMatch: []labels{nil, {}, {"a": ""}, {"a": "fixed"}, {"a": "ix"}, {"b": "suffix"}},
	},
	{
		name: "an empty string operand matches any value but not a missing label",
		sel:  `a contains "" && b starts with '' && c ends with ""`, canonical: `(a contains "" && b starts with "" && c ends with "")`,
		match:   []labels{{"a": "", "b": "", "c": ""}, {"a": "x", "b": "y", "c": "z"}},
		noMatch: []labels{{}, {"a": "", "b": ""}, {"b": "", "c": ""}},
	},
	{
		name: "string operators take single quotes and canonicalise to double quotes",
		sel:  `a contains'x' || a starts with 'y' || a ends with'z'`, canonical: `(a contains "x" || a starts with "y" || a ends with "z")`,
		match:   []labels{{"a": "-x-"}, {"a": "y-"}, {"a": "-z"}},
		noMatch: []labels{{}, {"a": "X"}, {"a": "-y"}, {"a": "z-"}},
	},
	{
		name: "a string operand holding a double quote canonicalises to single quotes",
		sel:  `a contains 'say "' && a ends with "it's"`, canonical: `(a contains 'say "' && a ends with "it's")`,
		match: []labels{{"a": `say "hi" it's`}}, noMatch: []labels{{"a": "say hi it's"}, {"a": `say "hi"`}},
	},
	{
		name:      "starts with and ends with allow any whitespace between their words",
		sel:       "a starts  \t with \"x\" && b ends\twith \"y\" && c contains \"z\"",
		canonical: `(a starts with "x" && b ends with "y" && c contains "z")`,
		match:     []labels{{"a": "x1", "b": "1y", "c": "1z1"}}, noMatch: []labels{{"a": "1x", "b": "1y", "c": "z"}},
	},
	{
		name:      "startswith and endswith may be written as one word, as Calico's tokenizer takes them",
		sel:       `a startswith "x" && b endswith "y"`,
		canonical: `(a starts with "x" && b ends with "y")`,
		match:     []labels{{"a": "x1", "b": "1y"}}, noMatch: []labels{{"a": "1x", "b": "1y"}},
	},
	{
		name: "a negated contains matches a missing label and values without the string", sel: `!a contains "b"`, canonical: `!a contains "b"`,
		match: []labels{nil, {}, {"a": ""}, {"a": "xyz"}}, noMatch: []labels{{"a": "abc"}},
	},
	{
		name: "a negated starts with inside a group", sel: `!(a starts with "x" || a ends with "y")`, canonical: `!(a starts with "x" || a ends with "y")`,
		match: []labels{{}, {"a": "yx"}}, noMatch: []labels{{"a": "x"}, {"a": "y"}, {"a": "xy"}},
	},
	{
		name:      "string operators mix with has() and other comparisons",
		sel:       `has(app) && !has(legacy) && (tier starts with "db-" || tier in {"cache"}) && env != "test"`,
		canonical: `(has(app) && !has(legacy) && (tier starts with "db-" || tier in {"cache"}) && env != "test")`,
		match:     []labels{{"app": "", "tier": "db-main"}, {"app": "x", "tier": "cache", "env": "prod"}},
		noMatch: []labels{
			{"tier": "db-main"}, {"app": "", "legacy": "", "tier": "db-main"},
			{"app": "", "tier": "main-db"}, {"app": "", "tier": "db-main", "env": "test"},
		},
	},
	{
		name:      "contains, starts and ends are label keys except after a label key",
		sel:       `contains == "1c" && starts in {"s2"} && ends != "3" && with == "4" && contains contains "c" && starts starts with "s" && ends ends with "e"`,
		canonical: `(contains == "1c" && starts in {"s2"} && ends != "3" && with == "4" && contains contains "c" && starts starts with "s" && ends ends with "e")`,
		match:     []labels{{"contains": "1c", "starts": "s2", "ends": "e", "with": "4"}},
		noMatch:   []labels{{"contains": "1c", "starts": "s2", "ends": "3", "with": "4"}},
	},
	{
		name: "operator keywords are case-sensitive label characters in other positions", sel: `Contains contains "STARTS WITH"`,
		canonical: `Contains contains "STARTS WITH"`,
		match:     []labels{{"Contains": "xSTARTS WITHx"}}, noMatch: []labels{{"contains": "STARTS WITH"}, {"Contains": "starts with"}},
	},
	{
		name: "a realistic policy selector", sel: `role == "db" && env in {"staging", "prod"} || global()`,
		canonical: `((role == "db" && env in {"prod", "staging"}) || global())`,
		match:     []labels{{}},
	},
}

func TestParseEvaluatesAndCanonicalises(t *testing.T) {
	for _, tt := range validTests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err != nil {
				t.Fatalf("Parse(%q) failed: %v", tt.sel, err)
			}
			if got := sel.String(); got != tt.canonical {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.sel, got, tt.canonical)
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("re-parsing canonical form %q failed: %v", sel.String(), err)
			}
			if again.String() != sel.String() || again.UniqueID() != sel.UniqueID() {
				t.Errorf("canonical form %q re-parsed as %q (ID %s, want %s)",
					sel.String(), again.String(), again.UniqueID(), sel.UniqueID())
			}
			for _, s := range []Selector{sel, again} {
				for _, l := range tt.match {
					if !s.Evaluate(l) {
						t.Errorf("%q did not match %v, want a match", s, l)
					}
				}
				for _, l := range tt.noMatch {
					if s.Evaluate(l) {
						t.Errorf("%q matched %v, want no match", s, l)
					}
				}
			}
		})
	}
}

var invalidTests = []struct {
	name string
	sel  string
	pos  int
	err  string
}{
	{"a comparison without a value", `role == `, 8,
		`selector "role == ": expected a quoted string at position 8, found end of selector`},
	{"a label compared to a label", `b == b`, 5,
		`selector "b == b": expected a quoted string at position 5, found "b"`},
	{"a literal on the left", `'b1' == b`, 0,
		`selector "'b1' == b": expected a label key, "!", "(", has(), all() or global() at position 0, found string 'b1'`},
	{"a bare label", `b`, 1,
		`selector "b": expected ==, !=, in, not in, contains, starts with or ends with after label key "b" at position 1, found end of selector`},
	{"two labels in a row", `a b`, 2,
		`selector "a b": expected ==, !=, in, not in, contains, starts with or ends with after label key "a" at position 2, found "b"`},
	{"a lone negation", `!`, 1,
		`selector "!": expected a label key, "!", "(", has(), all() or global() at position 1, found end of selector`},
	{"a single ampersand", `foo == "bar" &`, 13,
		`selector "foo == \"bar\" &": expected && at position 13`},
	{"a single bar", `foo == "bar" | x`, 13,
		`selector "foo == \"bar\" | x": expected || at position 13`},
	{"a single equals sign", `a = "b"`, 2,
		`selector "a = \"b\"": expected == at position 2`},
	{"in followed by a string instead of a set", `foo in ""`, 7,
		`selector "foo in \"\"": expected { at position 7, found string ""`},
	{"an unterminated double-quoted string", `a == "FOO`, 5,
		`selector "a == \"FOO": unterminated string (no closing ") at position 5, found "\"FOO"`},
	{"a string opened with one quote and closed with the other", `a == "FOO'`, 5,
		`selector "a == \"FOO'": unterminated string (no closing ") at position 5, found "\"FOO'"`},
	{"an unterminated single-quoted string", `'FOO`, 0,
		`selector "'FOO": unterminated string (no closing ') at position 0, found "'FOO"`},
	{"an unclosed parenthesis", `(`, 1,
		`selector "(": expected a label key, "!", "(", has(), all() or global() at position 1, found end of selector`},
	{"a parenthesis closed before its expression", `(has(a)`, 7,
		`selector "(has(a)": expected &&, || or ) at position 7, found end of selector`},
	{"a stray closing parenthesis", `)`, 0,
		`selector ")": expected a label key, "!", "(", has(), all() or global() at position 0, found ")"`},
	{"empty parentheses", `()`, 1,
		`selector "()": expected a label key, "!", "(", has(), all() or global() at position 1, found ")"`},
	{"an unexpected character", `%`, 0,
		`selector "%": unexpected character "%" at position 0`},
	{"a non-ASCII character", `a == "b" && é`, 12,
		`selector "a == \"b\" && é": unexpected character "é" at position 12`},
	{"a trailing space after a label", `a `, 2,
		`selector "a ": expected ==, !=, in, not in, contains, starts with or ends with after label key "a" at position 2, found end of selector`},
	{"a dangling and", `has(foo) &&`, 11,
		`selector "has(foo) &&": expected a label key, "!", "(", has(), all() or global() at position 11, found end of selector`},
	{"content after a complete selector", `has(a) has(b)`, 7,
		`selector "has(a) has(b)": expected &&, || or end of selector at position 7, found "has(b)"`},
	{"has() without a label", `has( )`, 5,
		`selector "has( )": expected a label key inside has() at position 5, found ")"`},
	{"has() with an invalid label", `has(a%)`, 5,
		`selector "has(a%)": expected ) to close has( at position 5, found "%"`},
	{"all() with an argument", `all(a)`, 4,
		`selector "all(a)": expected ) to close all( at position 4, found "a"`},
	{"global() left open", `global(`, 7,
		`selector "global(": expected ) to close global( at position 7, found end of selector`},
	{"a set left open", `a in {"x", "y"`, 14,
		`selector "a in {\"x\", \"y\"": expected , or } at position 14, found end of selector`},
	{"a set with a bare word", `a in {"x", y}`, 11,
		`selector "a in {\"x\", y}": expected a quoted string or } at position 11, found "y"`},
	{"a set with a leading comma", `a in {,}`, 6,
		`selector "a in {,}": expected a quoted string or } at position 6, found ","`},
	{"a set without commas", `a in {"x" "y"}`, 10,
		`selector "a in {\"x\" \"y\"}": expected , or } at position 10, found string "y"`},
	{"not in without a label", `not in {"a"}`, 0,
		`selector "not in {\"a\"}": expected a label key, "!", "(", has(), all() or global() at position 0, found "not in"`},
	{"contains without a string", `a contains`, 10,
		`selector "a contains": expected a quoted string at position 10, found end of selector`},
	{"contains followed by a label", `a contains b`, 11,
		`selector "a contains b": expected a quoted string at position 11, found "b"`},
	{"starts without with", `a starts "x"`, 9,
		`selector "a starts \"x\"": expected "with" after "starts" at position 9, found string "x"`},
	{"ends without with at the end", `a ends`, 6,
		`selector "a ends": expected "with" after "ends" at position 6, found end of selector`},
	{"ends with followed by a number", `a ends with 5`, 12,
		`selector "a ends with 5": expected a quoted string at position 12, found "5"`},
	{"an operator keyword in capitals", `a CONTAINS "x"`, 2,
		`selector "a CONTAINS \"x\"": expected ==, !=, in, not in, contains, starts with or ends with after label key "a" at position 2, found "CONTAINS"`},
	{"contains after has()", `has(a) contains "x"`, 7,
		`selector "has(a) contains \"x\"": expected &&, || or end of selector at position 7, found "contains"`},
	{"contains without a label", `contains "x"`, 9,
		`selector "contains \"x\"": expected ==, !=, in, not in, contains, starts with or ends with after label key "contains" at position 9, found string "x"`},
	{"a label key longer than 512 characters", "has(" + strings.Repeat("k", 513) + ")", 4,
		`selector "has(` + strings.Repeat("k", 513) + `)": label key longer than 512 characters at position 4`},
	{"parentheses nested too deep", strings.Repeat("(", 101) + "all()" + strings.Repeat(")", 101), 100,
		`selector "` + strings.Repeat("(", 101) + "all()" + strings.Repeat(")", 101) +
			`": parentheses nested more than 100 deep at position 100, found "("`},
}

func TestParseRejectsInvalidSelectorsAtTheirPosition(t *testing.T) {
	for _, tt := range invalidTests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tt.sel, sel)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %v is a %T, want *ParseError", tt.sel, err, err)
			}
			if pe.Pos != tt.pos {
				t.Errorf("Parse(%q) error at position %d, want %d", tt.sel, pe.Pos, tt.pos)
			}
			if err.Error() != tt.err {
				t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.sel, err, tt.err)
			}
			if verr := Validate(tt.sel); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate(%q) = %v, want the Parse error %v", tt.sel, verr, err)
			}
		})
	}
}

func TestUniqueIDMatchesCalico(t *testing.T) {
	tests := []struct{ sel, id string }{
		{"", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"},
		{" (all() )", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"},
		{"! (has( b)||! has(a ))", "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"},
		{`! (a == "b"&&! c != "d")`, "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"},
	}
	for _, tt := range tests {
		if got := MustParse(tt.sel).UniqueID(); got != tt.id {
			t.Errorf("UniqueID of %q = %s, want %s", tt.sel, got, tt.id)
		}
	}
	if got := ("cali40" + MustParse("all()").UniqueID())[:31]; got != "cali40s:5y5I3VdRZfDU01O--xXAPx2" {
		t.Errorf("ipset name for all() = %s, want cali40s:5y5I3VdRZfDU01O--xXAPx2", got)
	}
	for _, pair := range [][2]string{
		{`a starts with "x"`, "a starts\t  with 'x'"},
		{`(a contains "x" && b ends with "y")`, `a contains'x'&&b ends  with "y"`},
		{`!a ends with "x"`, `!!!(a ends with 'x')`},
	} {
		if a, b := MustParse(pair[0]).UniqueID(), MustParse(pair[1]).UniqueID(); a != b {
			t.Errorf("UniqueID of %q = %s and of %q = %s, want the same ID", pair[0], a, pair[1], b)
		}
	}
	for _, pair := range [][2]string{
		{`a contains "x"`, `a == "x"`},
		{`a starts with "x"`, `a ends with "x"`},
		{`a starts with "x"`, `a contains "x"`},
	} {
		if a, b := MustParse(pair[0]).UniqueID(), MustParse(pair[1]).UniqueID(); a == b {
			t.Errorf("%q and %q share the unique ID %s, want different IDs", pair[0], pair[1], a)
		}
	}
	if a, b := MustParse("has(a)").UniqueID(), MustParse("has(b)").UniqueID(); a == b {
		t.Errorf("has(a) and has(b) share the unique ID %s, want different IDs", a)
	}
}

func TestMustParsePanicsOnInvalidSelector(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse(`a ==`) did not panic, want a panic")
		}
	}()
	MustParse("a ==")
}

func FuzzParse(f *testing.F) {
	for _, tt := range validTests {
		f.Add(tt.sel)
	}
	for _, tt := range invalidTests {
		f.Add(tt.sel)
	}
	probes := []labels{nil, {"a": "b"}, {"a": "", "b": "x", "c": "d"}}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("Parse(%q) gave error %v, want a *ParseError within the input", s, err)
			}
			return
		}
		canon := sel.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon || again.UniqueID() != sel.UniqueID() {
			t.Fatalf("canonical form %q of %q re-parsed as %q", canon, s, again.String())
		}
		for _, l := range probes {
			if sel.Evaluate(l) != again.Evaluate(l) {
				t.Fatalf("%q and its canonical form %q disagree on %v", s, canon, l)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	const s = `projectcalico.org/namespace == "prod" && (role in {"db", "cache"} || !has(legacy)) && tier != "test"`
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	sel := MustParse(`projectcalico.org/namespace == "prod" && (role in {"db", "cache"} || !has(legacy)) && tier != "test"`)
	l := labels{"projectcalico.org/namespace": "prod", "role": "cache", "tier": "backend", "app": "redis"}
	for b.Loop() {
		if !sel.Evaluate(l) {
			b.Fatal("selector stopped matching")
		}
	}
}
