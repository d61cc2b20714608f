package calc

// endpointGroups holds the workload endpoints grouped by what a selector ipset's selectors look at: their label
// set and namespace. Building a new selector ipset evaluates its selectors once per group and reads only the
// endpoints of the groups they pick, where evaluating them for every endpoint meant reading all of them: 50,000
// pods of a few hundred deployments make a few hundred groups, and a new policy's selector picks a few of them.
//
// An endpoint belongs to the group of its current labelSet and namespace from when it is stored until it is
// deleted or replaced; relabelling moves it. Each group is its endpoints, in no order; each endpoint's groupPos
// is its index there. (An endpoint of labels of its own, a StatefulSet's pod say, costs one map entry and a
// one-element array.)
type endpointGroups map[groupKey][]*endpoint

// groupKey is a label set (shared by every endpoint of equal labels, see labelSets) and a namespace. Two
// endpoints of equal labels whose maps could not be shared fall into two groups, which is only slower.
type groupKey struct {
	labels    *labelSet
	namespace string
}

// add puts an endpoint into the group of its labels and namespace.
func (g endpointGroups) add(ep *endpoint) {
	k := groupKey{ep.labelSet, ep.namespace}
	ep.groupPos = len(g[k])
	g[k] = append(g[k], ep)
}

// remove takes an endpoint out of its group, which it must be in; a group left empty is dropped.
func (g endpointGroups) remove(ep *endpoint) {
	k := groupKey{ep.labelSet, ep.namespace}
	eps := g[k]
	if ep.groupPos >= len(eps) || eps[ep.groupPos] != ep {
		panic("calc: endpoint " + ep.key + " is not in the group of its labels")
	}
	last := len(eps) - 1
	moved := eps[last]
	eps[ep.groupPos], moved.groupPos = moved, ep.groupPos
	eps[last] = nil
	if last == 0 {
		delete(g, k)
		return
	}
	g[k] = eps[:last]
}
