package declared

import (
	"sort"
	"strconv"
)

// node is one declared value: an object, a list keyed by element name, a list by position, or a
// scalar. A nil *node declares nothing (null in Git).
type node struct {
	kind nodeKind
	// absentOK: an absent or null live value matches (the declared value is an empty object or
	// list, or the typed round trip dropped it: a zero value the type omits).
	absentOK bool

	// object: the declared keys, sorted, and their values (never nil).
	keys []string
	kids []*node
	// named list: the element names, in the manifest's order; elems holds their values.
	names []string
	// positional list: elems[i] may be nil (a null element declares nothing, but counts).
	elems []*node
	// index finds a key or name without a linear search, for long objects and lists.
	index map[string]int

	// scalar: the manifest's spelling and, where the typed round trip kept it, the normalised one.
	want, norm scalar
}

type nodeKind uint8

const (
	objectNode nodeKind = iota
	namedListNode
	listNode
	scalarNode
)

// linearMax is the number of keys up to which a linear search beats a map lookup.
const linearMax = 8

// build compiles want; norm is its normalised spelling (hasNorm false: the typed round trip
// dropped the field).
func build(want, norm any, hasNorm bool) *node {
	if want == nil {
		return nil // null in Git unsets a field: nothing declared
	}
	n := &node{absentOK: empty(want) || !hasNorm}
	switch w := want.(type) {
	case map[string]any:
		n.kind = objectNode
		nm, _ := norm.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			nv, nok := w[k], true // no normalised map: want is its own spelling
			if nm != nil {
				nv, nok = nm[k]
			}
			if c := build(w[k], nv, nok); c != nil {
				n.keys, n.kids = append(n.keys, k), append(n.kids, c)
			}
		}
		n.index = indexOf(n.keys)
	case []any:
		nl, _ := norm.([]any)
		if len(nl) != len(w) {
			nl = w
		}
		n.elems = make([]*node, len(w))
		for i := range w {
			n.elems[i] = build(w[i], nl[i], true)
		}
		if names, ok := elementNames(w); ok {
			n.kind, n.names = namedListNode, names
			n.index = indexOf(names)
		} else {
			n.kind = listNode
		}
	default:
		n.kind = scalarNode
		n.want = scalarOf(want)
		if hasNorm && norm != nil {
			n.norm = scalarOf(norm)
		}
	}
	return n
}

func indexOf(keys []string) map[string]int {
	if len(keys) <= linearMax {
		return nil
	}
	m := make(map[string]int, len(keys))
	for i, k := range keys {
		m[k] = i
	}
	return m
}

// find returns the position of key among n's keys (object) or names (named list), or -1.
func (n *node) find(key []byte) int {
	keys := n.keys
	if n.kind == namedListNode {
		keys = n.names
	}
	if n.index != nil {
		if i, ok := n.index[string(key)]; ok {
			return i
		}
		return -1
	}
	for i, k := range keys {
		if k == string(key) {
			return i
		}
	}
	return -1
}

// elementNames returns the "name" of every element of a list of objects, if each has a distinct one.
func elementNames(l []any) ([]string, bool) {
	if len(l) == 0 {
		return nil, false
	}
	names := make([]string, len(l))
	seen := map[string]bool{}
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		name, ok := m["name"].(string)
		if !ok || seen[name] {
			return nil, false
		}
		seen[name], names[i] = true, name
	}
	return names, true
}

// empty reports whether a declared value declares nothing: an empty object or list (a type that
// omits empty values stores nothing for it).
func empty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if !empty(e) && e != nil {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

// segment is the path segment of n's element i.
func (n *node) segment(i int) string {
	if n.kind == namedListNode {
		return elementPath(n.names[i])
	}
	return indexPath(i)
}

// elementPath is the path segment of a named list element.
func elementPath(name string) string { return "[name=" + name + "]" }

// indexPath is the path segment of a positional list element.
func indexPath(i int) string { return "[" + strconv.Itoa(i) + "]" }
