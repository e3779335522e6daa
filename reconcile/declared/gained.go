package declared

import (
	"bytes"
	"errors"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"writ.dev/writ/wellknown"
)

// ErrNoManagedFields is returned by GainsOf for an object about to be stored with no
// managedFields: without them nothing tells which fields the write set, so a caller deciding
// admission must deny (the apiserver drops managedFields only when a request resets them).
var ErrNoManagedFields = errors.New("the object has no managedFields")

// Gains is what a write adds to the fields its object's field managers own: for each managedFields
// entry of the object about to be stored whose field set (fieldsV1) is not byte for byte that of
// the stored object's entry of the same manager, operation, apiVersion and subresource, the new
// set and the old one. Its sets are slices of the objects GainsOf read, not copies: it is valid as
// long as they are.
type Gains struct {
	entries []gain
}

type gain struct {
	manager []byte // the raw (JSON-escaped) manager name
	set     []byte // the new entry's fieldsV1 object
	old     []byte // the old entry's fieldsV1 object, nil when the old object had no such entry
}

// Len is the number of entries whose field sets the write changed.
func (g *Gains) Len() int { return len(g.entries) }

// managedEntry is one managedFields entry as GainsOf reads it: raw JSON string contents and the
// span of fieldsV1.
type managedEntry struct {
	manager, operation, apiVersion, subresource []byte
	set                                         []byte
}

func (e *managedEntry) sameKey(o *managedEntry) bool {
	return bytes.Equal(e.manager, o.manager) && bytes.Equal(e.operation, o.operation) &&
		bytes.Equal(e.apiVersion, o.apiVersion) && bytes.Equal(e.subresource, o.subresource)
}

// GainsOf reads the managedFields of obj, the JSON of the object about to be stored, and of old,
// the JSON of the object stored before the write (nil for a CREATE), and returns what the write
// gains (Gains). Entries are told apart by manager, operation, apiVersion and subresource, as the
// apiserver keeps them; time is ignored. Only the objects' metadata is read. valid is the
// caller's word that both are valid JSON, as for FirstDiffValidJSON; without it what is read is
// checked.
//
// Why managedFields can be trusted for this: the apiserver computes them (k8s.io/apiserver's
// fieldmanager) before mutating admission, from the stored object and the request, attributing
// every field the request changes to the request's own manager (named by the client, but whatever
// the name, the change lands in some entry); managedFields a request sends are replaced for what
// it changes. Fields a mutating webhook or admission policy adds are owned by no entry.
func GainsOf(obj, old []byte, valid bool) (*Gains, error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.valid = valid
	list, err := s.managedList(obj)
	if err != nil || list == nil {
		if err == nil {
			err = ErrNoManagedFields
		}
		return nil, err
	}
	var was []byte
	if old != nil {
		at, err := s.managedListAt(old)
		if err != nil {
			return nil, err
		}
		if at >= 0 && bytes.HasPrefix(old[at:], list) {
			// The old list begins with the new one's bytes, and a JSON value ends where its
			// brackets close: the same list.
			return &Gains{}, nil
		}
		if at >= 0 { // s.i is at the old list: read it to its end, once
			if err = s.skipValue(); err != nil {
				return nil, err
			}
			was = old[at:s.i]
		}
	}
	return s.gains(list, was)
}

// GainsOfLists is GainsOf for a caller that has already found the managedFields lists in the
// objects it read (the guard reads their metadata anyway): list is the JSON of the new object's
// metadata.managedFields (nil: it has none, ErrNoManagedFields), old the stored object's (nil for
// a CREATE, or when it has none). valid is as for GainsOf. An UPDATE that changes no entry costs
// one comparison of the two lists' bytes: the apiserver moves an entry's time only when its set
// changes.
func GainsOfLists(list, old []byte, valid bool) (*Gains, error) {
	if list == nil {
		return nil, ErrNoManagedFields
	}
	if old != nil && bytes.Equal(list, old) {
		return &Gains{}, nil
	}
	s := scanners.Get().(*scanner)
	defer s.release()
	s.valid = valid
	return s.gains(list, old)
}

// gains compares the entries of the managedFields lists list and old (nil: none).
func (s *scanner) gains(list, old []byte) (*Gains, error) {
	s.b = list
	news, err := s.entries(0, nil)
	if err != nil {
		return nil, err
	}
	if s.ws(); s.i != len(list) {
		return nil, s.errorf("data after the managedFields list")
	}
	if len(news) == 0 {
		return nil, ErrNoManagedFields
	}
	var olds []managedEntry
	if old != nil {
		s.b = old
		if olds, err = s.entries(0, nil); err != nil {
			return nil, err
		}
	}
	g := &Gains{}
	for i := range news {
		e := &news[i]
		var before []byte
		for j := range olds {
			if olds[j].sameKey(e) {
				before = olds[j].set
				break
			}
		}
		if before != nil && bytes.Equal(before, e.set) {
			continue
		}
		g.entries = append(g.entries, gain{manager: e.manager, set: e.set, old: before})
	}
	return g, nil
}

// managedList returns the JSON of .metadata.managedFields of the object in b, or nil if it has
// none.
func (s *scanner) managedList(b []byte) ([]byte, error) {
	at, err := s.managedListAt(b)
	if err != nil || at < 0 {
		return nil, err
	}
	if err := s.skipValue(); err != nil {
		return nil, err
	}
	return b[at:s.i], nil
}

// errStop ends a scan early once what it looks for is read.
var errStop = errors.New("stop")

// managedListAt finds .metadata.managedFields of the object in b (s.b is b from then on) and
// returns the position of the list's opening bracket, or -1 if the object has none. Only the
// members of the object and of metadata before it are read.
func (s *scanner) managedListAt(b []byte) (at int, err error) {
	s.b, s.i, at = b, 0, -1
	if s.peek() != '{' {
		return -1, s.unexpected("a JSON object")
	}
	err = s.items('}', func() error {
		key, err := s.member()
		if err != nil {
			return err
		}
		if string(key) != "metadata" || s.peek() != '{' {
			return s.skipValue()
		}
		err = s.items('}', func() error {
			key, err := s.member()
			if err != nil {
				return err
			}
			if string(key) != "managedFields" || s.peek() != '[' {
				return s.skipValue()
			}
			at = s.i
			return errStop
		})
		if err == nil {
			err = errStop // metadata read: nothing else is needed
		}
		return err
	})
	if err == errStop {
		err = nil
	}
	return at, err
}

// entries reads the managedFields list at s.b[at:] and appends its entries to out; s.i is then
// after the list. The entries' slices are of s.b.
func (s *scanner) entries(at int, out []managedEntry) ([]managedEntry, error) {
	s.i = at
	if s.peek() != '[' {
		return nil, s.unexpected("a managedFields list")
	}
	err := s.items(']', func() error {
		e, err := s.managedEntry()
		out = append(out, e)
		return err
	})
	return out, err
}

// managedEntry reads one managedFields entry at s.i.
func (s *scanner) managedEntry() (managedEntry, error) {
	var e managedEntry
	if s.peek() != '{' {
		return e, s.unexpected("a managedFields entry (an object)")
	}
	err := s.items('}', func() error {
		key, err := s.member()
		if err != nil {
			return err
		}
		var dst *[]byte
		switch string(key) {
		case "manager":
			dst = &e.manager
		case "operation":
			dst = &e.operation
		case "apiVersion":
			dst = &e.apiVersion
		case "subresource":
			dst = &e.subresource
		case "fieldsV1":
			if s.peek() != '{' {
				return s.unexpected("fieldsV1 (an object)")
			}
			start := s.i
			if err := s.skipValue(); err != nil {
				return err
			}
			e.set = s.b[start:s.i]
			return nil
		default:
			return s.skipValue()
		}
		if s.peek() != '"' {
			return s.skipValue() // not a string: compared as absent
		}
		raw, _, err := s.str()
		*dst = raw
		return err
	})
	return e, err
}

// FirstUndeclaredGain returns the first field path (spelt as Diff spells paths) that g gains and
// the manifest does not declare, and the manager of the entry that gains it; ok is false when the
// manifest declares every gained field. A field is declared when the manifest sets it, or when it
// lies under a declared list matched by position or a declared scalar (whose comparison judges
// what is inside it); a list-map element by its schema keys. Two gained
// fields are never asked of the manifest: status (Writ's apply never declares it, and the
// witness compares none) and the commit annotation the reconciler stamps on what it applies
// (wellknown.CommitAnnotation, which names the commit and is not part of it). For a core
// Secret, stringData (which the apiserver stores merged into data) is declared where data is.
// A path is only spelt when one is found, and a fieldsV1 subtree the old entry has byte for byte
// is not read, so an update that gains a few fields costs about what reading those costs.
func (f *Fields) FirstUndeclaredGain(g *Gains) (path, manager string, ok bool, err error) {
	return f.firstUndeclared(g, atRoot)
}

// FirstUndeclaredOwned is FirstUndeclaredGain for an object as it is stored rather than for a
// write to it: g is GainsOf(obj, nil, ...), every field any entry owns, and so what every field
// manager has ever set. One more field is never asked of the manifest: the CA bundle of each of
// a webhook configuration's webhooks (.webhooks[*].clientConfig.caBundle), which a CA injector
// (cert-manager's cainjector) writes into what Git declares. The witness asks it of the mutating
// admission objects it watches: what they may add to the agent's writes must be all Git's.
func (f *Fields) FirstUndeclaredOwned(g *Gains) (path, manager string, ok bool, err error) {
	return f.firstUndeclared(g, atInjectedRoot)
}

func (f *Fields) firstUndeclared(g *Gains, root place) (path, manager string, ok bool, err error) {
	if g == nil {
		return "", "", false, nil
	}
	s := scanners.Get().(*scanner)
	defer s.release()
	s.f, s.valid = f, true // the sets were read whole by GainsOf
	for _, e := range g.entries {
		s.b, s.i = e.set, 0
		if path, ok, err = s.gained(&f.nodes[0], e.old, root); err != nil || ok {
			m := unquote(nil, e.manager)
			return path, string(m), ok, err
		}
	}
	return "", "", false, nil
}

// place is where in the object a fieldsV1 object being walked is, for the fields
// FirstUndeclaredGain and FirstUndeclaredOwned never ask of the manifest.
type place uint8

const (
	elsewhere place = iota
	atRoot
	atMetadata
	atAnnotations
	atInjectedRoot // atRoot, for FirstUndeclaredOwned: the webhooks' CA bundles are not asked
	atWebhooks
	atWebhook
	atClientConfig
)

// next is the place of the child key of p.
func (p place) next(key []byte) place {
	switch {
	case (p == atRoot || p == atInjectedRoot) && string(key) == "f:metadata":
		return atMetadata
	case p == atMetadata && string(key) == "f:annotations":
		return atAnnotations
	case p == atInjectedRoot && string(key) == "f:webhooks":
		return atWebhooks
	case p == atWebhooks && len(key) > 2 && key[0] == 'k' && key[1] == ':':
		return atWebhook // one webhook, keyed by its name
	case p == atWebhook && string(key) == "f:clientConfig":
		return atClientConfig
	}
	return elsewhere
}

// ignored reports whether the field key at p is never asked of the manifest.
func (p place) ignored(key []byte) bool {
	switch p {
	case atRoot, atInjectedRoot:
		return string(key) == "f:status"
	case atAnnotations:
		return len(key) == 2+len(wellknown.CommitAnnotation) && string(key[2:]) == wellknown.CommitAnnotation
	case atClientConfig:
		return string(key) == "f:caBundle"
	}
	return false
}

// gained walks the fieldsV1 object at s.i, whose counterpart in the old entry is old (nil: none,
// so all of it is gained), under the declared node n (nil: nothing is declared here, and the walk
// goes on only to name the innermost gained field, or to reach one never asked of the manifest),
// and returns the first gained path n does not declare, relative to n.
func (s *scanner) gained(n *node, old []byte, at place) (path string, undeclared bool, err error) {
	if s.peek() != '{' {
		return "", false, s.unexpected("a fieldsV1 object")
	}
	// The old object's members, on the scanner's stack of them (the walk below pushes its own).
	base := len(s.pairs)
	if old != nil {
		s.pairs = pairs(s.pairs, old)
	}
	olds, next := len(s.pairs), 0
	self, keys := false, 0 // n is nil and the field itself is gained; the keys read
	defer func() { s.pairs = s.pairs[:base] }()
	err = s.items('}', func() error {
		if s.peek() != '"' {
			return s.unexpected("a key")
		}
		raw, plain, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if undeclared {
			return s.skipValue() // found: the rest is only read to its end
		}
		keys++
		start := s.peekAt()
		was := lookup(s.pairs[base:olds], raw, &next)
		if was != nil && bytes.HasPrefix(s.b[start:], was) {
			// A JSON value ends where its brackets close: the same bytes are the same subtree.
			s.i = start + len(was)
			return nil
		}
		key := text(raw, plain, &s.kbuf)
		if string(key) == "." || at.ignored(key) {
			// ".": the field itself, declared when n is; when not, a child of it is the better
			// path to name, if one is gained.
			self = self || string(key) == "." && n == nil
			return s.skipValue()
		}
		c, pe := -1, fieldpath.PathElement{}
		if n != nil {
			c, pe = s.childOf(n, key, at)
		}
		if c >= 0 {
			kid := &s.f.nodes[int(n.first)+c]
			switch kid.kind {
			case listNode, scalarNode, nullNode:
				return s.skipValue() // under a value compared as a whole
			}
			asData := (at == atRoot || at == atInjectedRoot) && string(key) == "f:stringData" // key is overwritten below
			rest, undecl, err := s.gained(kid, was, at.next(key))
			if undecl {
				seg := s.f.segment(n, c) // spelt only once something is found
				if asData {
					seg = ".stringData" // declared as data, spelt as the entry spells it
				}
				undeclared, path = true, seg+rest
			}
			return err
		}
		if !isField(key) {
			// A list element Git does not declare: named by its key, not by a field of it, or,
			// under a list Git does not declare, the list is named.
			if n != nil {
				if pe == (fieldpath.PathElement{}) {
					pe, _ = fieldpath.DeserializePathElement(string(key)) // only to spell it
				}
				path = fieldSegment(key, pe)
			}
			undeclared = true
			return s.skipValue()
		}
		// A field Git does not declare: walked on with nothing declared, to name the field inside
		// it that is gained (a label rather than the labels), or to reach one never asked of the
		// manifest (the commit annotation where Git declares no annotations).
		name, next := string(key[2:]), at.next(key)
		rest, undecl, err := s.gained(nil, was, next)
		if undecl {
			undeclared, path = true, "."+name+rest
		}
		return err
	})
	if err == nil && !undeclared && n == nil && (self || keys == 0) {
		return "", true, nil // the field itself (a leaf, or a member with no gained child)
	}
	return path, undeclared, err
}

// childOf is the position among n's children of the one a fieldsV1 key selects ("f:name",
// "k:{...}", "v:...", "i:N"), or -1; pe is the parsed key when it had to be parsed.
func (s *scanner) childOf(n *node, key []byte, at place) (int, fieldpath.PathElement) {
	f := s.f
	if isField(key) {
		if n.kind != objectNode {
			return -1, fieldpath.PathElement{}
		}
		c := f.find(n, key[2:])
		if c < 0 && (at == atRoot || at == atInjectedRoot) && string(key) == "f:stringData" {
			c = f.find(n, []byte("data")) // a core Secret's stringData is declared as data
		}
		return c, fieldpath.PathElement{}
	}
	if c, ok := s.namedChild(n, key); ok {
		return c, fieldpath.PathElement{}
	}
	pe, err := fieldpath.DeserializePathElement(string(key))
	if err != nil {
		return -1, fieldpath.PathElement{} // not a key the manifest can declare
	}
	return f.child(n, pe), pe
}

// namedChild is childOf for the common "k:" key of a list keyed by one string field (containers
// and env by name, volume mounts by mountPath), {"name":"web"}, read without parsing it as a path
// element; ok is false for any other key, which childOf parses.
func (s *scanner) namedChild(n *node, key []byte) (c int, ok bool) {
	if n.kind != namedListNode || len(key) < 2 || key[0] != 'k' || key[1] != ':' {
		return 0, false
	}
	keys := s.f.keys[n.keys]
	if len(keys) != 1 {
		return 0, false
	}
	k, name := key[2:], keys[0]
	// {"<name>":"<value>"}
	head := len(name) + 4
	if len(k) < head+3 || k[0] != '{' || k[1] != '"' || string(k[2:2+len(name)]) != name || k[head-2] != '"' || k[head-1] != ':' || k[len(k)-1] != '}' {
		return 0, false
	}
	v := k[head : len(k)-1]
	if len(v) < 2 || v[0] != '"' {
		return 0, false
	}
	end, plain := endOfString(v, 0)
	if end != len(v) {
		return 0, false
	}
	id := v[1 : len(v)-1]
	if !plain {
		s.nbuf = unquote(s.nbuf[:0], id)
		id = s.nbuf
	}
	return s.f.find(n, id), true
}

// isField reports whether a fieldsV1 key names a field ("f:name").
func isField(key []byte) bool { return len(key) > 2 && key[0] == 'f' && key[1] == ':' }

// fieldSegment spells the path segment of a fieldsV1 key the manifest does not declare.
func fieldSegment(key []byte, pe fieldpath.PathElement) string {
	switch {
	case isField(key):
		return "." + string(key[2:])
	case pe.FieldName != nil || pe.Key != nil || pe.Value != nil || pe.Index != nil:
		return peSegment(pe)
	}
	return "[" + string(key) + "]"
}

// pair is one member of a fieldsV1 object: its raw (undecoded) key and its value.
type pair struct{ key, val []byte }

// pairs appends the members of the fieldsV1 object obj to out; a malformed object ends the list
// early (what is missing counts as gained: stricter, never laxer).
func pairs(out []pair, obj []byte) []pair {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return out
	}
	i = skipWS(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		end := skipString(obj, i)
		if end < 0 {
			return out
		}
		key := obj[i+1 : end-1]
		if i = skipWS(obj, end); i >= len(obj) || obj[i] != ':' {
			return out
		}
		vstart := skipWS(obj, i+1)
		vend := validEnd(obj, vstart)
		if vend < 0 {
			return out
		}
		out = append(out, pair{key, obj[vstart:vend]})
		if i = skipWS(obj, vend); i >= len(obj) || obj[i] != ',' {
			return out
		}
		i = skipWS(obj, i+1)
	}
	return out
}

// lookup returns the value of the member of ps whose raw key is raw, or nil, looking from *next
// on first (both sets come from the apiserver's encoder, so the keys they share are in the same
// order, and a walk in order finds each where the last one was found) and moving *next past it.
// Keys are compared as the apiserver encoded them: a key spelt otherwise in the old set is not
// found, and its subtree counts as gained (stricter, never laxer).
func lookup(ps []pair, raw []byte, next *int) []byte {
	for j := *next; j < len(ps); j++ {
		if bytes.Equal(ps[j].key, raw) {
			*next = j + 1
			return ps[j].val
		}
	}
	for j := 0; j < *next && j < len(ps); j++ {
		if bytes.Equal(ps[j].key, raw) {
			return ps[j].val
		}
	}
	return nil
}
