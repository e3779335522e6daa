package declared

import (
	"slices"
	"strconv"
)

// node is one declared value: an object, a list keyed by element name, a list by position, or a
// scalar. The nodes of one Fields live in one slice (a node's children are contiguous in it) and
// their strings in one string (ref), so that an index of many objects holds few, small pieces.
type node struct {
	// key is the node's key in its parent object, or, for an element of a keyed list, its identity
	// (see identities).
	key ref
	// val is a string scalar's value; for an object or a list, the JSON that is known to match it
	// (see exact), if any.
	val ref
	// f is a number scalar's value.
	f float64
	// first and count: an object's or a list's children are nodes[first:first+count]; for a
	// scalar, first is 1 + the index in norms of its normalised spelling, 0 if it has none other.
	first, count uint32
	kind         nodeKind
	sk           scalarKind // a scalar's JSON type (noScalar: it matches nothing)
	flags        nodeFlags
	keys         uint8 // a keyed list's keys: Fields.keys[keys]
}

// ref is a string of Fields.strs.
type ref struct{ off, n uint32 }

type nodeKind uint8

const (
	objectNode nodeKind = iota
	namedListNode
	listNode
	scalarNode
	nullNode // an element of a positional list that is null in Git: it declares nothing, but counts
)

type nodeFlags uint8

const (
	// absentOK: an absent or null live value matches (the declared value is an empty object or
	// list, or the typed round trip dropped it: a zero value the type omits).
	absentOK nodeFlags = 1 << iota
	// trueBool: a bool scalar is true.
	trueBool
)

// linearMax is the number of children up to which a linear search beats a map lookup.
const linearMax = 8

// builder compiles a manifest into Fields.
type builder struct {
	keys  [][]string // the keys of the keyed lists, each once; keys[0] is nameKeys
	nodes []node
	strs  []byte
	norms []scalar
	index map[uint32]map[string]uint32
}

func (b *builder) ref(s string) ref {
	off := len(b.strs)
	b.strs = append(b.strs, s...)
	return ref{uint32(off), uint32(len(s))}
}

// fields returns the compiled Fields of want, an object, norm, its normalised spelling, and stored,
// the JSON of norm as the apiserver would write it.
func (b *builder) fields(want, norm map[string]any, stored []byte, t typ) *Fields {
	b.nodes = append(b.nodes, node{})
	b.keys = [][]string{nameKeys}
	b.nodes[0] = b.build(want, norm, true, t)
	// Copied to their length: what grew while building is not kept.
	f := &Fields{nodes: slices.Clone(b.nodes), strs: string(append(b.strs, stored...)), norms: slices.Clone(b.norms), index: b.index, keys: b.keys}
	f.exact(uint32(len(b.strs)))
	return f
}

// build compiles want, which is not nil; norm is its normalised spelling (hasNorm false: the typed
// round trip dropped the field), t its type in a built-in kind's schema. Its children are appended
// to b.nodes.
func (b *builder) build(want, norm any, hasNorm bool, t typ) node {
	n := node{}
	if empty(want) || !hasNorm {
		n.flags |= absentOK
	}
	switch w := want.(type) {
	case map[string]any:
		n.kind = objectNode
		nm, _ := norm.(map[string]any)
		keys := make([]string, 0, len(w))
		for k, v := range w {
			if v != nil { // null in Git unsets a field: nothing declared
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		first := b.reserve(len(keys))
		n.first, n.count = first, uint32(len(keys))
		for i, k := range keys {
			nv, nok := w[k], true // no normalised map: want is its own spelling
			if nm != nil {
				nv, nok = nm[k]
			}
			c := b.build(w[k], nv, nok, t.field(k))
			c.key = b.ref(k)
			b.nodes[int(first)+i] = c
		}
		b.indexOf(first, keys)
	case []any:
		nl, _ := norm.([]any)
		if len(nl) != len(w) {
			nl = w
		}
		keys, keyed, known := t.listKeys()
		if !known {
			keys, keyed = nameKeys, true // no schema: objects with distinct names by name
		}
		var names []string
		if keyed {
			names, keyed = identities(w, keys)
		}
		n.kind = listNode
		if keyed && len(b.keys) < 256 {
			n.kind, n.keys, keyed = namedListNode, b.keysOf(keys), true
		} else {
			keyed = false
		}
		named := keyed
		first := b.reserve(len(w))
		n.first, n.count = first, uint32(len(w))
		for i := range w {
			c := node{kind: nullNode}
			if w[i] != nil {
				c = b.build(w[i], nl[i], true, t.elem())
			}
			if named {
				c.key = b.ref(names[i])
			}
			b.nodes[int(first)+i] = c
		}
		if named {
			b.indexOf(first, names)
		}
	default:
		n.kind = scalarNode
		ws := scalarOf(want)
		n.setScalar(b, ws)
		if hasNorm && norm != nil {
			if ns := scalarOf(norm); !ns.equal(ws) {
				b.norms = append(b.norms, ns)
				n.first = uint32(len(b.norms))
			}
		}
	}
	return n
}

func (n *node) setScalar(b *builder, s scalar) {
	n.sk = s.kind
	switch s.kind {
	case stringScalar:
		n.val = b.ref(s.s)
	case numberScalar:
		n.f = s.f
	case boolScalar:
		if s.b {
			n.flags |= trueBool
		}
	}
}

// scalar returns the manifest's spelling of a scalar node.
func (f *Fields) scalar(n *node) scalar {
	s := scalar{kind: n.sk, f: n.f, b: n.flags&trueBool != 0}
	if n.sk == stringScalar {
		s.s = f.str(n.val)
	}
	return s
}

// keysOf returns the index in b.keys of keys, adding them if they are new.
func (b *builder) keysOf(keys []string) uint8 {
	for i, k := range b.keys {
		if slices.Equal(k, keys) {
			return uint8(i)
		}
	}
	b.keys = append(b.keys, keys)
	return uint8(len(b.keys) - 1)
}

// reserve appends k zeroed nodes, the children being built, and returns the first one's index.
func (b *builder) reserve(k int) uint32 {
	first := len(b.nodes)
	b.nodes = append(b.nodes, make([]node, k)...)
	return uint32(first)
}

// indexOf indexes the keys of the children at first, for long objects and lists.
func (b *builder) indexOf(first uint32, keys []string) {
	if len(keys) <= linearMax {
		return
	}
	m := make(map[string]uint32, len(keys))
	for i, k := range keys {
		m[k] = uint32(i)
	}
	if b.index == nil {
		b.index = map[uint32]map[string]uint32{}
	}
	b.index[first] = m
}

// str returns the string r.
func (f *Fields) str(r ref) string { return f.strs[r.off : r.off+r.n] }

// kids returns n's children.
func (f *Fields) kids(n *node) []node { return f.nodes[n.first : n.first+n.count] }

// find returns the position among n's children (an object's or a named list's) of the one whose
// key is key, or -1.
func (f *Fields) find(n *node, key []byte) int {
	if n.count > linearMax {
		if i, ok := f.index[n.first][string(key)]; ok {
			return int(i)
		}
		return -1
	}
	for i := range f.kids(n) {
		r := f.nodes[int(n.first)+i].key
		if int(r.n) == len(key) && f.strs[r.off:r.off+r.n] == string(key) {
			return i
		}
	}
	return -1
}

// matches reports whether the scalar node n accepts the live scalar l (in either spelling).
func (f *Fields) matches(n *node, l scalar) bool {
	if n.sk == noScalar || n.sk != l.kind {
		return n.first != 0 && f.norms[n.first-1].equal(l)
	}
	switch n.sk {
	case stringScalar:
		if f.str(n.val) == l.s {
			return true
		}
	case numberScalar:
		if n.f == l.f {
			return true
		}
	case boolScalar:
		if (n.flags&trueBool != 0) == l.b {
			return true
		}
	}
	return n.first != 0 && f.norms[n.first-1].equal(l)
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

// segment is the path segment of n's child i.
func (f *Fields) segment(n *node, i int) string {
	switch n.kind {
	case objectNode:
		return "." + f.str(f.nodes[int(n.first)+i].key)
	case namedListNode:
		return elementSegment(f.keys[n.keys], f.str(f.nodes[int(n.first)+i].key))
	}
	return indexPath(i)
}

// indexPath is the path segment of a positional list element.
func indexPath(i int) string { return "[" + strconv.Itoa(i) + "]" }
