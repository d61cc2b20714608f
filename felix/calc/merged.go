package calc

import "maps"

// merged is the union of what each local endpoint contributes to a State (its chains of one family, or its
// interface), kept from one State to the next and updated only for the endpoints whose contribution changed: a
// State then copies the union instead of gathering it from every endpoint, which on a node of thousands of
// endpoints was most of the cost of a State.
//
// The result is always what gathering afresh gives: every endpoint of the list, in order, adding its entries,
// a later one overwriting an earlier one of the same name. Two current endpoints never contribute the same name
// in practice (names derive from their distinct interfaces); should it happen, the union is rebuilt from scratch
// on every update for as long as it does.
type merged[K comparable, V any] struct {
	all   map[K]V
	owner map[K]*endpoint // the endpoint each entry of all came from
	from  map[*endpoint]*contribution[K, V]
	gen   uint64 // the number of the current update
	clash bool   // two endpoints of the last update contributed the same name
	// changed lists the names the last update set or deleted, unless it rebuilt the union (rebuilt), for a caller
	// that keeps something derived from the union up to date.
	changed []K
	rebuilt bool
}

type contribution[K comparable, V any] struct {
	id      any     // identifies the contribution: equal ids mean equal entries
	entries map[K]V // what the endpoint added to all
	gen     uint64  // the last update whose list held the endpoint
}

// update makes m the union of the contributions of the endpoints of local. id identifies an endpoint's
// contribution as it is now (a pointer to what the endpoint caches, which is replaced whenever it changes); entries
// are its entries, asked for only when id differs from last time.
func (m *merged[K, V]) update(local []*endpoint, id func(*endpoint) any, entries func(*endpoint) map[K]V) {
	if m.all == nil || m.clash {
		m.rebuild(local, id, entries)
		return
	}
	m.gen++
	m.changed, m.rebuilt = m.changed[:0], false
	stayed := 0
	for _, ep := range local {
		if c := m.from[ep]; c != nil {
			c.gen = m.gen
			stayed++
		}
	}
	// Endpoints that left go first, so that an endpoint that took over a name (a newer endpoint of the same
	// interface) is not mistaken for a clash.
	if len(m.from) > stayed {
		for ep, c := range m.from {
			if c.gen != m.gen {
				m.drop(ep, c)
				delete(m.from, ep)
			}
		}
	}
	for _, ep := range local {
		now := id(ep)
		c := m.from[ep]
		if c != nil && c.id == now {
			continue
		}
		if c != nil {
			m.drop(ep, c)
		}
		c = &contribution[K, V]{id: now, entries: entries(ep), gen: m.gen}
		m.from[ep] = c
		for name, v := range c.entries {
			if o, taken := m.owner[name]; taken && o != ep {
				m.rebuild(local, id, entries)
				return
			}
			m.all[name], m.owner[name] = v, ep
			m.changed = append(m.changed, name)
		}
	}
}

// drop takes an endpoint's entries out of the union, where they are still its own.
func (m *merged[K, V]) drop(ep *endpoint, c *contribution[K, V]) {
	for name := range c.entries {
		if m.owner[name] == ep {
			delete(m.all, name)
			delete(m.owner, name)
			m.changed = append(m.changed, name)
		}
	}
}

func (m *merged[K, V]) rebuild(local []*endpoint, id func(*endpoint) any, entries func(*endpoint) map[K]V) {
	*m = merged[K, V]{all: map[K]V{}, owner: map[K]*endpoint{}, from: map[*endpoint]*contribution[K, V]{}, gen: m.gen + 1,
		rebuilt: true}
	for _, ep := range local {
		c := &contribution[K, V]{id: id(ep), entries: entries(ep), gen: m.gen}
		m.from[ep] = c
		for name, v := range c.entries {
			if o, taken := m.owner[name]; taken && o != ep {
				m.clash = true
			}
			m.all[name], m.owner[name] = v, ep
		}
	}
}

// copy returns the union as a map of the caller's own.
func (m *merged[K, V]) copy() map[K]V {
	out := maps.Clone(m.all)
	if out == nil {
		out = map[K]V{}
	}
	return out
}
