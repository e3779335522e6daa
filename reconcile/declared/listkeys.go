package declared

import (
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	smd "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// A list of objects is matched element by element by its keys: for a built-in kind, the keys of
// its list-map in the schema client-go ships for server-side apply (containers and env by name,
// a container's ports by containerPort and protocol, a Service's by port and protocol, volume
// mounts by mountPath); an atomic list of a built-in kind (tolerations, args, RBAC rules and
// subjects) and a set are matched by position. A custom resource's lists keep the rule without
// a schema: objects that each have a distinct string "name" by name, any other list by position.

// keyDefaults are the values the apiserver fills in for an absent key before it merges a list
// (so Git may omit them): a port's protocol.
var keyDefaults = map[string]string{"protocol": "TCP"}

// nameKeys is the rule without a schema: objects keyed by "name".
var nameKeys = []string{"name"}

// typ is a position in a built-in kind's schema; the zero typ knows nothing (a custom resource,
// or a field the schema does not describe).
type typ struct {
	s    *smd.Schema
	atom smd.Atom
}

var (
	schemas     sync.Map // schema.GroupVersionKind -> typ
	clientTypes = sync.OnceValue(func() func(u *unstructured.Unstructured) (*smd.Schema, smd.TypeRef, bool) {
		tc := applyconfigurations.NewTypeConverter(scheme.Scheme)
		return func(u *unstructured.Unstructured) (*smd.Schema, smd.TypeRef, bool) {
			tv, err := tc.ObjectToTyped(u)
			if err != nil {
				return nil, smd.TypeRef{}, false
			}
			return tv.Schema(), tv.TypeRef(), true
		}
	})
)

// typeOf returns the schema of a built-in kind, or the zero typ.
func typeOf(gvk schema.GroupVersionKind) typ {
	if v, ok := schemas.Load(gvk); ok {
		return v.(typ)
	}
	var t typ
	if _, err := scheme.Scheme.New(gvk); err == nil {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetGroupVersionKind(gvk)
		if s, tr, ok := clientTypes()(u); ok {
			t = resolve(s, tr)
		}
	}
	schemas.Store(gvk, t)
	return t
}

func resolve(s *smd.Schema, tr smd.TypeRef) typ {
	a, ok := s.Resolve(tr)
	if !ok {
		return typ{}
	}
	return typ{s: s, atom: a}
}

// field is the type of an object's key k.
func (t typ) field(k string) typ {
	if t.s == nil || t.atom.Map == nil {
		return typ{}
	}
	if f, ok := t.atom.Map.FindField(k); ok {
		return resolve(t.s, f.Type)
	}
	if t.atom.Map.ElementType.NamedType != nil || t.atom.Map.ElementType.Inlined != (smd.Atom{}) {
		return resolve(t.s, t.atom.Map.ElementType)
	}
	return typ{}
}

// elem is the type of a list's elements.
func (t typ) elem() typ {
	if t.s == nil || t.atom.List == nil {
		return typ{}
	}
	return resolve(t.s, t.atom.List.ElementType)
}

// listKeys returns how a list of this type is matched: by the keys it returns (keyed), or by
// position (keyed false). known is false when the schema does not say (the rule without one).
func (t typ) listKeys() (keys []string, keyed, known bool) {
	if t.s == nil || t.atom.List == nil {
		return nil, false, false
	}
	if l := t.atom.List; l.ElementRelationship == smd.Associative && len(l.Keys) > 0 {
		return l.Keys, true, true
	}
	return nil, false, true
}

// maxKeys is the most keys a list is matched by; a list-map of more is matched by position.
const maxKeys = 4

// identities returns the identity of every element of l under keys, if each element is an object
// with a distinct one. With one key, an element's identity is its string value; with more, the
// values of all, each tagged with its JSON type (appendIdentity). An absent key with a default
// (keyDefaults) has that value.
func identities(l []any, keys []string) ([]string, bool) {
	if len(l) == 0 || len(keys) > maxKeys {
		return nil, false
	}
	ids := make([]string, len(l))
	seen := map[string]bool{}
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		var id []byte
		for k, key := range keys {
			v, present := m[key]
			if v == nil {
				present = false
				if d, has := keyDefaults[key]; has {
					v, present = d, true
				}
			}
			if id, ok = appendIdentity(id, len(keys), k, scalarOf(v), present); !ok {
				return nil, false
			}
		}
		if seen[string(id)] {
			return nil, false
		}
		seen[string(id)], ids[i] = true, string(id)
	}
	return ids, true
}

// appendIdentity appends the part of an identity for the k-th of n keys, whose value is v
// (present false: absent or null). With one key it must be a string, and is its own identity;
// with more, each part is tagged with its type and the parts are separated by a zero byte. Two
// elements with different keys that spell the same identity are only ever taken for the same
// element, which is then compared field by field, keys included: a difference, never a match.
func appendIdentity(id []byte, n, k int, v scalar, present bool) ([]byte, bool) {
	if n == 1 {
		return append(id, v.s...), present && v.kind == stringScalar
	}
	if k > 0 {
		id = append(id, 0)
	}
	if !present {
		return append(id, 'a'), true
	}
	switch v.kind {
	case stringScalar:
		return append(append(id, 's'), v.s...), true
	case numberScalar:
		return strconv.AppendFloat(append(id, 'n'), v.f, 'g', -1, 64), true
	case boolScalar:
		return strconv.AppendBool(append(id, 'b'), v.b), true
	}
	return id, false
}

// elementSegment is the path segment of a keyed element: "[name=web]",
// "[containerPort=8080,protocol=TCP]"; values are the element's own keys, never other fields.
func elementSegment(keys []string, id string) string {
	if len(keys) == 1 {
		return "[" + keys[0] + "=" + id + "]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for k, part := range strings.Split(id, "\x00") {
		if k >= len(keys) {
			break
		}
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(keys[k])
		b.WriteByte('=')
		if len(part) > 0 && part[0] != 'a' {
			b.WriteString(part[1:])
		}
	}
	b.WriteByte(']')
	return b.String()
}
