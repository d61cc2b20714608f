package selector

import (
	"slices"
	"strings"
)

// node is one term of a parsed selector.
type node interface {
	eval(labels map[string]string) bool
	render(b *strings.Builder)
}

type (
	allNode    struct{}
	globalNode struct{} // matches everything when evaluated, as in Calico
	hasNode    struct{ key string }
	eqNode     struct{ key, val string }
	neNode     struct{ key, val string }
	// containsNode, startsWithNode and endsWithNode need the label present,
	// so a missing label never matches, even against "".
	containsNode   struct{ key, val string }
	startsWithNode struct{ key, val string }
	endsWithNode   struct{ key, val string }
	inNode         struct {
		key string
		set []string // sorted, no duplicates
	}
	notInNode struct {
		key string
		set []string // sorted, no duplicates
	}
	notNode struct{ n node }
	andNode []node // at least two operands
	orNode  []node // at least two operands
)

func (allNode) eval(map[string]string) bool    { return true }
func (globalNode) eval(map[string]string) bool { return true }

func (n hasNode) eval(labels map[string]string) bool {
	_, ok := labels[n.key]
	return ok
}

func (n eqNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	return ok && v == n.val
}

// A missing label is "not equal" to any value, as in Calico.
func (n neNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	return !ok || v != n.val
}

func (n containsNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	return ok && strings.Contains(v, n.val)
}

func (n startsWithNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	return ok && strings.HasPrefix(v, n.val)
}

func (n endsWithNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	return ok && strings.HasSuffix(v, n.val)
}

func (n inNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(n.set, v)
	return found
}

// A missing label is "not in" any set, as in Calico.
func (n notInNode) eval(labels map[string]string) bool {
	v, ok := labels[n.key]
	if !ok {
		return true
	}
	_, found := slices.BinarySearch(n.set, v)
	return !found
}

func (n notNode) eval(labels map[string]string) bool { return !n.n.eval(labels) }

func (n andNode) eval(labels map[string]string) bool {
	for _, op := range n {
		if !op.eval(labels) {
			return false
		}
	}
	return true
}

func (n orNode) eval(labels map[string]string) bool {
	for _, op := range n {
		if op.eval(labels) {
			return true
		}
	}
	return false
}

// render writes the canonical form, which follows Calico's byte for byte so
// that unique IDs (and so ipset names) agree with Calico's.
func render(n node) string {
	var b strings.Builder
	n.render(&b)
	return b.String()
}

func (allNode) render(b *strings.Builder)    { b.WriteString("all()") }
func (globalNode) render(b *strings.Builder) { b.WriteString("global()") }

func (n hasNode) render(b *strings.Builder) {
	b.WriteString("has(")
	b.WriteString(n.key)
	b.WriteString(")")
}

func (n eqNode) render(b *strings.Builder)    { renderCompare(b, n.key, " == ", n.val) }
func (n neNode) render(b *strings.Builder)    { renderCompare(b, n.key, " != ", n.val) }
func (n inNode) render(b *strings.Builder)    { renderSet(b, n.key, " in {", n.set) }
func (n notInNode) render(b *strings.Builder) { renderSet(b, n.key, " not in {", n.set) }

func (n containsNode) render(b *strings.Builder)   { renderCompare(b, n.key, " contains ", n.val) }
func (n startsWithNode) render(b *strings.Builder) { renderCompare(b, n.key, " starts with ", n.val) }
func (n endsWithNode) render(b *strings.Builder)   { renderCompare(b, n.key, " ends with ", n.val) }

func (n notNode) render(b *strings.Builder) {
	b.WriteString("!")
	n.n.render(b)
}

func (n andNode) render(b *strings.Builder) { renderGroup(b, n, " && ") }
func (n orNode) render(b *strings.Builder)  { renderGroup(b, n, " || ") }

func renderCompare(b *strings.Builder, key, op, val string) {
	b.WriteString(key)
	b.WriteString(op)
	renderString(b, val)
}

func renderSet(b *strings.Builder, key, open string, set []string) {
	b.WriteString(key)
	b.WriteString(open)
	for i, v := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		renderString(b, v)
	}
	b.WriteString("}")
}

func renderGroup(b *strings.Builder, ops []node, sep string) {
	b.WriteString("(")
	for i, op := range ops {
		if i > 0 {
			b.WriteString(sep)
		}
		op.render(b)
	}
	b.WriteString(")")
}

// renderString double-quotes s unless it contains a double quote. Literals
// have no escapes, so the lexer never yields a value holding both quotes.
func renderString(b *strings.Builder, s string) {
	q := `"`
	if strings.Contains(s, `"`) {
		q = `'`
	}
	b.WriteString(q)
	b.WriteString(s)
	b.WriteString(q)
}
