package declared

import "unsafe"

// exact gives each object and list node the JSON that the manifest's own stored form spells for
// it (Fields.strs[at:] holds the manifest as the apiserver would write it, fields in its order),
// when that JSON matches the node. A live value whose bytes are exactly that JSON then matches
// without being read (the comparison's fast path): most of a large object's declared subtrees
// (environment lists, mounts, labels, resources, arguments) are stored exactly as declared, while
// a subtree the apiserver defaults into, or another manager writes to, simply differs in its
// bytes and is read field by field. The fast path cannot change an answer: a span is kept only if
// the comparison, run on the span's bytes without the fast path, finds it matching, and the
// comparison depends on nothing but the bytes it reads.
func (f *Fields) exact(at uint32) {
	if int(at) == len(f.strs) {
		return
	}
	s := &scanner{b: bytesOf(f.strs[at:]), f: f, valid: true}
	f.align(&f.nodes[0], s, at)
	f.verify(&f.nodes[0], false)
}

// align records in n.val the span of the stored JSON at s.i that n would be compared with, for n
// and, recursively, the nodes under it.
func (f *Fields) align(n *node, s *scanner, at uint32) {
	start := s.peekAt()
	switch {
	case n.kind == objectNode && s.peek() == '{':
		if s.items('}', func() error {
			key, err := s.member()
			if err != nil {
				return err
			}
			if k := f.find(n, key); k >= 0 {
				f.align(&f.nodes[int(n.first)+k], s, at)
				return nil
			}
			return s.skipValue()
		}) != nil {
			return
		}
	case (n.kind == listNode || n.kind == namedListNode) && s.peek() == '[':
		i := 0
		if s.items(']', func() error {
			defer func() { i++ }()
			if i < int(n.count) {
				f.align(&f.nodes[int(n.first)+i], s, at)
				return nil
			}
			return s.skipValue()
		}) != nil {
			return
		}
	default:
		_ = s.skipValue()
		return
	}
	n.val = ref{at + uint32(start), uint32(s.i - start)}
}

// verify keeps the span of each object and list node under n only if the node matches it. A node
// whose span its parent object or positional list was found to match (trusted) was compared with
// exactly that span then; a named list's element is checked on its own (the list matched its
// elements by name, not by position).
func (f *Fields) verify(n *node, trusted bool) {
	if n.kind != objectNode && n.kind != listNode && n.kind != namedListNode {
		return
	}
	if n.val.n == 0 {
		trusted = false
	} else if !trusted {
		s := &scanner{b: bytesOf(f.str(n.val)), f: f, valid: true, slow: true}
		_, differs, err := s.value(n)
		if trusted = err == nil && !differs && s.i == len(s.b); !trusted {
			n.val = ref{}
		}
	}
	for i := range f.kids(n) {
		f.verify(&f.nodes[int(n.first)+i], trusted && n.kind != namedListNode)
	}
}

// bytesOf is s's bytes, for a scanner that only reads them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
