package audit

import (
	"encoding/json"
	"unicode/utf8"
)

// DecodeEvent decodes a stored record: what encoding/json writes for an Event. Both stores
// use it. so a small parser for exactly that shape (fields in declaration order, no
// whitespace, no escapes) decodes almost every record several times faster than json.Unmarshal,
// with one allocation for all its strings; anything else — an escaped string, a field it does not
// know, a null — falls back to json.Unmarshal. FuzzDecodeEvent checks that the fast path agrees
// with json.Unmarshal.
//
// The fast path cannot weaken verification: the chain hash is recomputed from the decoded event,
// so a decoding that differed from the written event could only fail verification, never pass it.
func DecodeEvent(b []byte, e *Event) error {
	*e = Event{}
	if fastDecodeEvent(b, e) {
		return nil
	}
	*e = Event{}
	return json.Unmarshal(b, e)
}

// Event's JSON keys in declaration order, the order encoding/json writes them.
var (
	eventFields = []string{"seq", "time", "kind", "actor", "submitter", "object", "operation", "commit",
		"repository", "signers", "approvers", "policy", "reason", "breakGlass", "fields", "digests",
		"objects", "count", "criteria", "prevHash", "hash"}
	actorFields  = []string{"user", "groups", "serviceAccount"}
	objectFields = []string{"group", "version", "kind", "namespace", "name", "subresource"}
)

// parser is a cursor over a JSON payload. s holds the same bytes as b, so that decoded strings
// are substrings of one allocation. Every method reports false where the input leaves the shape
// encoding/json writes, and the caller then falls back.
type parser struct {
	b []byte
	s string
	i int
}

func (p *parser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// plain marks the bytes a string may hold on the fast path: not a quote, backslash, control
// character or the start of a multi-byte sequence (those are checked separately).
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string without escapes, control characters or invalid UTF-8.
func (p *parser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.b); p.i++ {
		if c := p.b[p.i]; !plain[c] {
			if c != '"' {
				if c < 0x80 {
					return "", false // a backslash or control character
				}
				ascii = false
				continue
			}
			s := p.s[start:p.i]
			p.i++
			return s, ascii || utf8.ValidString(s)
		}
	}
	return "", false
}

// next starts the next member of an object: it consumes the separator (none before the first)
// and reports false at the closing brace or bracket end.
func (p *parser) next(first bool, end byte) (more, ok bool) {
	if p.byte(end) {
		return false, true
	}
	if !first && !p.byte(',') {
		return false, false
	}
	return true, true
}

// key reads `"name":` and returns the index of name in fields, which must exceed after: keys
// come in declaration order, once each.
func (p *parser) key(fields []string, after int) (int, bool) {
	s, ok := p.str()
	if !ok || !p.byte(':') {
		return 0, false
	}
	for k := after + 1; k < len(fields); k++ {
		if fields[k] == s {
			return k, true
		}
	}
	return 0, false
}

// strs reads an array of strings, of any string type.
func strs[S ~string](p *parser) ([]S, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := make([]S, 0, 4)
	for first := true; ; first = false {
		more, ok := p.next(first, ']')
		if !ok || !more {
			return out, ok
		}
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, S(s))
	}
}

// int reads a JSON integer as encoding/json accepts it for an int: no fraction, no exponent,
// no leading zero, in range.
func (p *parser) int(signed bool) (int64, uint64, bool) {
	minus := signed && p.byte('-')
	start := p.i
	var v uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		d := uint64(p.b[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		v = v*10 + d
	}
	n := p.i - start
	if n == 0 || (n > 1 && p.b[start] == '0') || (minus && v == 0) {
		return 0, 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, 0, false
	}
	if !signed {
		return 0, v, true
	}
	const maxInt = uint64(^uint(0) >> 1)
	if v > maxInt {
		return 0, 0, false
	}
	if minus {
		return -int64(v), 0, true
	}
	return int64(v), 0, true
}

func (p *parser) goInt() (int, bool) {
	v, _, ok := p.int(true)
	return int(v), ok
}

// dict reads a JSON object with sorted, distinct keys, as encoding/json writes a map, calling
// value for each key.
func dict[V any](p *parser, value func(*parser) (V, bool)) (map[string]V, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := map[string]V{}
	prev := ""
	for first := true; ; first = false {
		more, ok := p.next(first, '}')
		if !ok || !more {
			return m, ok
		}
		k, ok := p.str()
		if !ok || (!first && k <= prev) || !p.byte(':') {
			return nil, false
		}
		v, ok := value(p)
		if !ok {
			return nil, false
		}
		m[k], prev = v, k
	}
}

func (p *parser) actor(a *Actor) bool {
	if !p.byte('{') {
		return false
	}
	last := -1
	for first := true; ; first = false {
		more, ok := p.next(first, '}')
		if !ok || !more {
			return ok
		}
		k, ok := p.key(actorFields, last)
		switch last = k; {
		case !ok:
		case k == 0:
			a.User, ok = p.str()
		case k == 1:
			a.Groups, ok = strs[string](p)
		default:
			a.ServiceAccount, ok = p.str()
		}
		if !ok {
			return false
		}
	}
}

func (p *parser) object(o *ObjectRef) bool {
	if !p.byte('{') {
		return false
	}
	dst := [...]*string{&o.Group, &o.Version, &o.Kind, &o.Namespace, &o.Name, &o.Subresource}
	last := -1
	for first := true; ; first = false {
		more, ok := p.next(first, '}')
		if !ok || !more {
			return ok
		}
		k, ok := p.key(objectFields, last)
		if ok {
			*dst[k], ok = p.str()
		}
		if !ok {
			return false
		}
		last = k
	}
}

func fastDecodeEvent(b []byte, e *Event) bool {
	p := &parser{b: b, s: string(b)}
	if !p.byte('{') {
		return false
	}
	strField := [...]*string{6: &e.Operation, 7: &e.Commit, 8: &e.Repository, 11: &e.Policy,
		12: &e.Reason, 13: &e.BreakGlass, 19: &e.PrevHash, 20: &e.Hash}
	last := -1
	for first := true; ; first = false {
		more, ok := p.next(first, '}')
		if !ok {
			return false
		}
		if !more {
			return p.i == len(b)
		}
		k, ok := p.key(eventFields, last)
		if !ok {
			return false
		}
		last = k
		switch k {
		case 0:
			_, e.Seq, ok = p.int(false)
		case 1:
			start := p.i
			if _, ok = p.str(); ok {
				ok = e.Time.UnmarshalJSON(b[start:p.i]) == nil
			}
		case 2:
			var s string
			s, ok = p.str()
			e.Kind = Kind(s)
		case 3:
			ok = p.actor(&e.Actor)
		case 4:
			ok = p.actor(&e.Submitter)
		case 5:
			ok = p.object(&e.Object)
		case 9:
			e.Signers, ok = strs[string](p)
		case 10:
			e.Approvers, ok = strs[string](p)
		case 14:
			e.Fields, ok = strs[string](p)
		case 15:
			e.Digests, ok = dict(p, (*parser).str)
		case 16:
			e.Objects, ok = dict(p, (*parser).goInt)
		case 17:
			e.Count, ok = p.goInt()
		case 18:
			e.Criteria, ok = strs[Criterion](p)
		default:
			*strField[k], ok = p.str()
		}
		if !ok {
			return false
		}
	}
}
