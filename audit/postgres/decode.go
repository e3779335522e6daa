package postgres

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"writ.dev/writ/audit"
)

// decodeEvent decodes a stored event. Stored events are what encoding/json writes for an
// audit.Event — no whitespace, no nulls, known keys — so a parser for just that shape decodes
// them several times faster than json.Unmarshal, which is most of what Scan and Verify cost.
// Anything else (an escaped or invalid UTF-8 string, an unknown or repeated key, a float, null)
// falls back to json.Unmarshal; FuzzDecodeEvent checks the two agree.
//
// The fast path cannot weaken Verify: it recomputes every hash from the decoded event, so a
// decoding that differed from the stored bytes could only fail verification (and Verify then
// decodes again with json.Unmarshal before it reports a broken chain).
func decodeEvent(b []byte) (audit.Event, error) {
	var e audit.Event
	d := newDecoder(b)
	if d.event(&e) && d.i == len(b) {
		return e, nil
	}
	return slowDecodeEvent(b)
}

func slowDecodeEvent(b []byte) (audit.Event, error) {
	var e audit.Event
	err := json.Unmarshal(b, &e)
	return e, err
}

// decoder is a cursor over encoding/json output. Its methods report false as soon as the input
// leaves the shape the fast path handles. Decoded strings share one copy of the input, s.
type decoder struct {
	b []byte
	s string
	i int
}

func newDecoder(b []byte) *decoder { return &decoder{b: b, s: string(b)} }

func (d *decoder) next(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// raw returns a string's contents: no escapes, no control characters, valid UTF-8.
func (d *decoder) raw() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, utf8.ValidString(s)
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

func str[T ~string](d *decoder, dst *T) bool {
	s, ok := d.raw()
	*dst = T(s)
	return ok
}

func strs[T ~string](d *decoder, dst *[]T) bool {
	if !d.next('[') {
		return false
	}
	*dst = []T{}
	for first := true; !d.next(']'); first = false {
		var s T
		if !first && !d.next(',') || !str(d, &s) {
			return false
		}
		*dst = append(*dst, s)
	}
	return true
}

// integer reads a JSON integer (no fraction or exponent) that fits in 64 bits.
func (d *decoder) integer(signed bool) (string, bool) {
	start := d.i
	if signed {
		d.next('-')
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.b[digits] == '0' || d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return "", false
	}
	return d.s[start:d.i], true
}

func (d *decoder) uint64(dst *uint64) bool {
	s, ok := d.integer(false)
	v, err := strconv.ParseUint(s, 10, 64)
	*dst = v
	return ok && err == nil
}

func (d *decoder) int(dst *int) bool {
	s, ok := d.integer(true)
	v, err := strconv.ParseInt(s, 10, strconv.IntSize)
	*dst = int(v)
	return ok && err == nil
}

// object reads {"key":value,...}, calling field for each key with the cursor on its value.
func (d *decoder) object(field func(key string) bool) bool {
	if !d.next('{') {
		return false
	}
	for first := true; !d.next('}'); first = false {
		if !first && !d.next(',') {
			return false
		}
		k, ok := d.raw()
		if !ok || !d.next(':') || !field(k) {
			return false
		}
	}
	return true
}

// fields decodes an object with known keys, each at most once.
func (d *decoder) fields(keys []string, field func(int) bool) bool {
	var seen uint32
	return d.object(func(k string) bool {
		for i, key := range keys {
			if k == key {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return field(i)
			}
		}
		return false
	})
}

// eventKeys are audit.Event's JSON keys.
var eventKeys = []string{"seq", "time", "kind", "actor", "object", "operation", "commit", "repository",
	"signers", "approvers", "policy", "reason", "breakGlass", "fields", "digests", "objects", "count",
	"criteria", "prevHash", "hash"}

var (
	actorKeys  = []string{"user", "groups", "serviceAccount"}
	objectKeys = []string{"group", "version", "kind", "namespace", "name", "subresource"}
)

func (d *decoder) event(e *audit.Event) bool {
	text := []*string{5: &e.Operation, 6: &e.Commit, 7: &e.Repository, 10: &e.Policy, 11: &e.Reason, 12: &e.BreakGlass, 18: &e.PrevHash, 19: &e.Hash}
	lists := []*[]string{8: &e.Signers, 9: &e.Approvers, 13: &e.Fields}
	return d.fields(eventKeys, func(k int) bool {
		switch k {
		case 0:
			return d.uint64(&e.Seq)
		case 1:
			start := d.i
			_, ok := d.raw()
			return ok && e.Time.UnmarshalJSON(d.b[start:d.i]) == nil
		case 2:
			return str(d, &e.Kind)
		case 3:
			a := &e.Actor
			return d.fields(actorKeys, func(k int) bool {
				if k == 1 {
					return strs(d, &a.Groups)
				}
				return str(d, []*string{&a.User, nil, &a.ServiceAccount}[k])
			})
		case 4:
			o := &e.Object
			dst := []*string{&o.Group, &o.Version, &o.Kind, &o.Namespace, &o.Name, &o.Subresource}
			return d.fields(objectKeys, func(k int) bool { return str(d, dst[k]) })
		case 8, 9, 13:
			return strs(d, lists[k])
		case 14:
			e.Digests = map[string]string{}
			return d.object(func(k string) bool {
				var v string
				ok := str(d, &v)
				e.Digests[k] = v
				return ok
			})
		case 15:
			e.Objects = map[string]int{}
			return d.object(func(k string) bool {
				var v int
				ok := d.int(&v)
				e.Objects[k] = v
				return ok
			})
		case 16:
			return d.int(&e.Count)
		case 17:
			return strs(d, &e.Criteria)
		default:
			return str(d, text[k])
		}
	})
}
