package declared

import (
	"bytes"
	"slices"
	"unsafe"
)

// document compares the whole JSON document in s.b with the declared object root.
func (s *scanner) document(f *Fields) (string, bool, error) {
	if s.peek() != '{' {
		return "", false, s.unexpected("a JSON object")
	}
	s.f = f
	path, differs, err := s.value(&f.nodes[0])
	if err != nil {
		return "", false, err
	}
	if s.ws(); s.i != len(s.b) {
		return "", false, s.errorf("data after the object")
	}
	return path, differs, nil
}

// nullElement is what the elements of a positional list past its declared ones are compared
// with: nothing.
var nullElement = node{kind: nullNode}

// value consumes the value at s.i and compares it with n; the path returned is relative to the
// value's own. Differences are only recorded as they are found: the value is always read to its
// end, so malformed JSON anywhere is an error.
func (s *scanner) value(n *node) (string, bool, error) {
	if n.kind == nullNode {
		return "", false, s.skipValue()
	}
	c := s.peek()
	if c == 'n' {
		if err := s.literal("null"); err != nil {
			return "", false, err
		}
		return "", n.flags&absentOK == 0, nil
	}
	if n.kind != scalarNode && n.val.n != 0 && !s.slow {
		// The bytes of a span known to match (exact) match: nothing to read.
		if e := s.f.str(n.val); len(s.b)-s.i >= len(e) && string(s.b[s.i:s.i+len(e)]) == e {
			s.i += len(e)
			return "", false, nil
		}
	}
	switch n.kind {
	case objectNode:
		if c != '{' {
			return "", true, s.skipValue()
		}
		return s.object(n)
	case namedListNode:
		if c != '[' {
			return "", true, s.skipValue()
		}
		return s.namedList(n)
	case listNode:
		if c != '[' {
			return "", true, s.skipValue()
		}
		return s.list(n)
	}
	l, err := s.scalar()
	if err != nil {
		return "", false, err
	}
	return "", !s.f.matches(n, l), nil
}

// scalar consumes any value and returns it as a scalar (an object or list matches nothing).
func (s *scanner) scalar() (scalar, error) {
	switch c := s.peek(); {
	case c == '"':
		raw, plain, err := s.str()
		if err != nil {
			return scalar{}, err
		}
		// The scalar is only compared, before the next string is read: it may share the bytes.
		t := text(raw, plain, &s.sbuf)
		return scalar{kind: stringScalar, s: unsafe.String(unsafe.SliceData(t), len(t))}, nil
	case c == 't':
		return scalar{kind: boolScalar, b: true}, s.literal("true")
	case c == 'f':
		return scalar{kind: boolScalar}, s.literal("false")
	case c == '-' || '0' <= c && c <= '9':
		t, err := s.number()
		if err != nil {
			return scalar{}, err
		}
		f, err := s.numberValue(t)
		return scalar{kind: numberScalar, f: f}, err
	}
	return scalar{}, s.skipValue()
}

// push reserves a zeroed slot per declared key or element and returns the first one's index.
func (s *scanner) push(k int) int {
	base := len(s.slots)
	for range k {
		s.slots = append(s.slots, slot{})
	}
	return base
}

// items consumes a list (close ']') or an object (close '}') at s.i, calling item at each
// element or key.
func (s *scanner) items(close byte, item func() error) error {
	s.i++ // '[' or '{'
	if s.peek() == close {
		s.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if s.peek() != ',' {
			return s.expect(close)
		}
		s.i++
	}
}

// member consumes an object key and its colon, and returns the decoded key, valid until the next
// string is decoded.
func (s *scanner) member() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a key")
	}
	raw, plain, err := s.str()
	if err != nil {
		return nil, err
	}
	return text(raw, plain, &s.sbuf), s.expect(':')
}

// object compares the object at s.i with n, key by key; a key n does not declare is skipped.
func (s *scanner) object(n *node) (string, bool, error) {
	base := s.push(int(n.count))
	defer func() { s.slots = s.slots[:base] }()
	err := s.items('}', func() error {
		key, err := s.member()
		if err != nil {
			return err
		}
		k := s.f.find(n, key)
		if k < 0 {
			return s.skipValue()
		}
		path, differs, err := s.value(&s.f.nodes[int(n.first)+k])
		s.slots[base+k] = slot{seen: true, differs: differs, path: path} // a later duplicate wins
		return err
	})
	if err != nil {
		return "", false, err
	}
	for k, kid := range s.f.kids(n) {
		switch r := s.slots[base+k]; {
		case !r.seen && kid.flags&absentOK == 0, r.differs:
			return "." + s.f.str(kid.key) + r.path, true, nil
		}
	}
	return "", false, nil
}

// list compares the list at s.i with n element by element; it must keep its length.
func (s *scanner) list(n *node) (string, bool, error) {
	count, first, firstPath := 0, -1, ""
	err := s.items(']', func() error {
		e := &nullElement
		if count < int(n.count) {
			e = &s.f.nodes[int(n.first)+count]
		}
		path, differs, err := s.value(e)
		if differs && first < 0 {
			first, firstPath = count, path
		}
		count++
		return err
	})
	switch {
	case err != nil:
		return "", false, err
	case count != int(n.count):
		return "", true, nil
	case first >= 0:
		return indexPath(first) + firstPath, true, nil
	}
	return "", false, nil
}

// namedList compares the list at s.i with n, element by its keys (see listkeys.go). An element
// is first read for its identity (the last value of each key, as encoding/json decodes
// duplicates), then, if n declares that identity, read again and compared. Unless every live
// element is an object with a distinct identity, no declared element matches.
func (s *scanner) namedList(n *node) (string, bool, error) {
	base := s.push(int(n.count))
	nameBase, nbufBase := len(s.names), len(s.nbuf)
	defer func() { s.slots, s.names, s.nbuf = s.slots[:base], s.names[:nameBase], s.nbuf[:nbufBase] }()
	keys := s.f.keys[n.keys]
	_, defaulted := keyDefaults[keys[0]]
	leading := len(keys) == 1 && !defaulted
	named := true
	var seen map[string]struct{} // the names of a long list
	err := s.items(']', func() error {
		start := s.i
		// The apiserver writes a single key such as "name" first: then the element is read once,
		// and a match (its declared key included, so that is its last one) needs nothing more.
		if k := -1; leading {
			if k = s.leadingName(n, keys[0]); k >= 0 {
				_, differs, err := s.value(&s.f.nodes[int(n.first)+k])
				if err != nil {
					return err
				}
				if !differs {
					named = named && !s.slots[base+k].seen // a declared name twice
					s.slots[base+k] = slot{seen: true}
					return nil
				}
				s.i = start // a difference: read the element's name the careful way
			}
		}
		var name []byte
		var ok bool
		var err error
		if len(keys) == 1 {
			name, ok, err = s.elementName(keys[0])
		} else {
			name, ok, err = s.elementID(keys)
		}
		if err != nil {
			return err
		}
		if !ok {
			named = false
			return nil
		}
		// Declared names are distinct, and differ from undeclared ones: only a declared name
		// seen twice, or an undeclared one, needs looking at the others.
		k := s.f.find(n, name)
		if k < 0 {
			named = named && s.distinct(nameBase, name, &seen)
			return nil
		}
		named = named && !s.slots[base+k].seen
		end := s.i
		s.i = start
		path, differs, err := s.value(&s.f.nodes[int(n.first)+k])
		s.i = end
		s.slots[base+k] = slot{seen: true, differs: differs, path: path}
		return err
	})
	if err != nil {
		return "", false, err
	}
	for k := range s.f.kids(n) {
		if r := s.slots[base+k]; !named || !r.seen || r.differs {
			return s.f.segment(n, k) + r.path, true, nil
		}
	}
	return "", false, nil
}

// keyValue is the last value of one key of a list element, as elementID reads it.
type keyValue struct {
	present, scalar bool
	raw             []byte // a string's raw contents, in the scanner's input
	plain           bool
	v               scalar // any other scalar
}

// elementID consumes one list element and returns its identity under keys (more than one, at
// most maxKeys), if it is an object whose keys have scalar values (see identities). The
// identity is valid until the next element is read.
func (s *scanner) elementID(keys []string) (id []byte, ok bool, err error) {
	if s.peek() != '{' {
		return nil, false, s.skipValue()
	}
	var vals [maxKeys]keyValue
	err = s.items('}', func() error {
		key, err := s.member()
		if err != nil {
			return err
		}
		j := slices.Index(keys, string(key))
		if j < 0 {
			return s.skipValue()
		}
		kv := keyValue{present: true, scalar: true}
		switch c := s.peek(); {
		case c == '"':
			kv.raw, kv.plain, err = s.str()
			kv.v.kind = stringScalar
		case c == 'n':
			kv.present = false // null: absent, as encoding/json decodes it
			err = s.literal("null")
		case c == '{' || c == '[':
			kv.scalar = false
			err = s.skipValue()
		default:
			kv.v, err = s.scalar()
		}
		vals[j] = kv
		return err
	})
	if err != nil {
		return nil, false, err
	}
	id = s.ibuf[:0]
	for j, key := range keys {
		kv := vals[j]
		if kv.present && !kv.scalar {
			return nil, false, nil
		}
		if !kv.present {
			if d, has := keyDefaults[key]; has {
				kv = keyValue{present: true, scalar: true, raw: []byte(d), plain: true, v: scalar{kind: stringScalar}}
			}
		}
		if kv.v.kind == stringScalar {
			kv.v.s = unsafe.String(unsafe.SliceData(kv.raw), len(kv.raw))
			if !kv.plain {
				s.kbuf = unquote(s.kbuf[:0], kv.raw)
				kv.v.s = unsafe.String(unsafe.SliceData(s.kbuf), len(s.kbuf))
			}
		}
		if id, ok = appendIdentity(id, len(keys), j, kv.v, kv.present); !ok {
			return nil, false, nil
		}
	}
	s.ibuf = id
	return id, true, nil
}

// elementName consumes one list element and returns the value of its single key, if it is an
// object whose last such key has a string value. The name is valid until the next string is
// decoded.
func (s *scanner) elementName(nameKey string) (name []byte, ok bool, err error) {
	if s.peek() != '{' {
		return nil, false, s.skipValue()
	}
	err = s.items('}', func() error {
		key, err := s.member()
		if err != nil {
			return err
		}
		if string(key) != nameKey {
			return s.skipValue()
		}
		if s.peek() != '"' {
			name, ok = nil, false
			return s.skipValue()
		}
		v, plain, err := s.str()
		if plain {
			name, ok = v, true
		} else if err == nil { // decoded apart from s.sbuf, which the next key reuses
			name, ok = unquote(nil, v), true
		}
		return err
	})
	return name, ok, err
}

// leadingName returns the position among n's elements of the element at s.i if its first key is
// nameKey with a string value n declares, else -1. It consumes nothing.
func (s *scanner) leadingName(n *node, nameKey string) int {
	start := s.i
	defer func() { s.i = start }()
	if s.peek() != '{' {
		return -1
	}
	s.i++
	if key, err := s.member(); err != nil || string(key) != nameKey || s.peek() != '"' {
		return -1
	}
	raw, plain, err := s.str()
	if err != nil {
		return -1
	}
	return s.f.find(n, text(raw, plain, &s.sbuf))
}

// distinct records name and reports whether it differs from the names recorded since nameBase;
// a long list's names are indexed in *seen.
func (s *scanner) distinct(nameBase int, name []byte, seen *map[string]struct{}) bool {
	if !s.unique(nameBase, name, seen) {
		return false
	}
	s.nbuf = append(s.nbuf, name...)
	s.names = append(s.names, span{len(s.nbuf) - len(name), len(s.nbuf)})
	return true
}

func (s *scanner) unique(nameBase int, name []byte, seen *map[string]struct{}) bool {
	names := s.names[nameBase:]
	if len(names) < 32 {
		for _, sp := range names {
			if bytes.Equal(s.nbuf[sp.start:sp.end], name) {
				return false
			}
		}
		return true
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(names))
		for _, sp := range names {
			(*seen)[string(s.nbuf[sp.start:sp.end])] = struct{}{}
		}
	}
	if _, dup := (*seen)[string(name)]; dup {
		return false
	}
	(*seen)[string(name)] = struct{}{}
	return true
}
