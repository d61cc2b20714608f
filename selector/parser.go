package selector

import (
	"fmt"
	"slices"
)

// maxDepth bounds parenthesis nesting so hostile input cannot exhaust the stack.
const maxDepth = 100

// parser is a recursive-descent parser over the grammar
//
//	selector  := <empty> | or EOF
//	or        := and { "||" and }
//	and       := unary { "&&" unary }
//	unary     := { "!" } ( has(k) | all() | global() | "(" or ")"
//	                     | k "==" str | k "!=" str | k ["not"] "in" "{" [ str { "," str } [","] ] "}"
//	                     | k "contains" str | k "starts" "with" str | k "ends" "with" str )
type parser struct {
	lex lexer
	tok token // lookahead
}

func parse(s string) (node, error) {
	p := &parser{lex: lexer{src: s}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return allNode{}, nil
	}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("expected &&, || or end of selector")
	}
	return n, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// errorf reports an error at the lookahead token.
func (p *parser) errorf(format string, args ...any) error {
	return &ParseError{Selector: p.lex.src, Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...), Found: p.found()}
}

func (p *parser) found() string {
	text := p.lex.src[p.tok.pos:p.tok.end]
	switch p.tok.kind {
	case tokEOF:
		return "end of selector"
	case tokString:
		return "string " + text
	}
	return quoteFound(text)
}

func (p *parser) parseOr(depth int) (node, error) {
	var ops []node
	for {
		n, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		ops = append(ops, n)
		if p.tok.kind != tokOr {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(ops) == 1 {
		return ops[0], nil
	}
	return orNode(ops), nil
}

func (p *parser) parseAnd(depth int) (node, error) {
	var ops []node
	for {
		n, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		ops = append(ops, n)
		if p.tok.kind != tokAnd {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if len(ops) == 1 {
		return ops[0], nil
	}
	return andNode(ops), nil
}

func (p *parser) parseUnary(depth int) (node, error) {
	negate := false
	for p.tok.kind == tokNot {
		negate = !negate
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	n, err := p.parseOperand(depth)
	if err != nil || !negate {
		return n, err
	}
	// !(!x) is x; keeping both would render as "!!x", which re-parses as x.
	if inner, ok := n.(notNode); ok {
		return inner.n, nil
	}
	return notNode{n}, nil
}

func (p *parser) parseOperand(depth int) (node, error) {
	var n node
	switch p.tok.kind {
	case tokHas:
		n = hasNode{p.tok.val}
	case tokAll:
		n = allNode{}
	case tokGlobal:
		n = globalNode{}
	case tokLParen:
		if depth >= maxDepth {
			return nil, p.errorf("parentheses nested more than %d deep", maxDepth)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.errorf("expected &&, || or )")
		}
		n = inner
	case tokLabel:
		return p.parseComparison()
	default:
		return nil, p.errorf(`expected a label key, "!", "(", has(), all() or global()`)
	}
	return n, p.advance()
}

// parseComparison parses a label key followed by an operator and literal(s).
func (p *parser) parseComparison() (node, error) {
	key := p.tok.val
	if err := p.advance(); err != nil {
		return nil, err
	}
	op := p.tok.kind
	switch op {
	case tokEq, tokNe, tokContains, tokStartsWith, tokEndsWith:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokString {
			return nil, p.errorf("expected a quoted string")
		}
		val := p.tok.val
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch op {
		case tokEq:
			return eqNode{key, val}, nil
		case tokNe:
			return neNode{key, val}, nil
		case tokContains:
			return containsNode{key, val}, nil
		case tokStartsWith:
			return startsWithNode{key, val}, nil
		}
		return endsWithNode{key, val}, nil
	case tokIn, tokNotIn:
		if err := p.advance(); err != nil {
			return nil, err
		}
		set, err := p.parseSet()
		if err != nil {
			return nil, err
		}
		if op == tokIn {
			return inNode{key, set}, nil
		}
		return notInNode{key, set}, nil
	case tokLabel:
		// The lexer leaves "starts" or "ends" without "with" as a label key.
		if w := p.tok.val; w == "starts" || w == "ends" {
			if err := p.advance(); err != nil {
				return nil, err
			}
			return nil, p.errorf(`expected "with" after %q`, w)
		}
	}
	return nil, p.errorf("expected ==, !=, in, not in, contains, starts with or ends with after label key %q", key)
}

// parseSet parses `{"a", "b"}` (a trailing comma is allowed, as in Calico)
// and returns the values sorted and de-duplicated.
func (p *parser) parseSet() ([]string, error) {
	if p.tok.kind != tokLBrace {
		return nil, p.errorf("expected {")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var set []string
	for p.tok.kind != tokRBrace {
		if p.tok.kind != tokString {
			return nil, p.errorf("expected a quoted string or }")
		}
		set = append(set, p.tok.val)
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tokRBrace:
		default:
			return nil, p.errorf("expected , or }")
		}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}
