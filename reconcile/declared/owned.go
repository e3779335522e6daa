package declared

import (
	"strconv"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// child is the position among n's children of the one pe selects, or -1 if n declares none.
func (f *Fields) child(n *node, pe fieldpath.PathElement) int {
	switch {
	case pe.FieldName != nil && n.kind == objectNode:
		return f.findString(n, *pe.FieldName)
	case pe.Key != nil && n.kind == namedListNode:
		return f.element(n, *pe.Key)
	}
	return -1
}

// findString is find for a string key (the conversion does not escape: short keys stay on the
// stack).
func (f *Fields) findString(n *node, key string) int { return f.find(n, []byte(key)) }

// element returns the position among the keyed list n's elements of the one whose keys are key,
// or -1. When key names the fields the list is keyed by (its schema's keys, or "name"), the
// element is looked up by identity; otherwise (a custom resource's list-map keyed by other fields
// than the name) each declared element is tried field by field.
func (f *Fields) element(n *node, key value.FieldList) int {
	keys := f.keys[n.keys]
	if sameKeys(keys, key) {
		var id []byte
		for k, name := range keys {
			s, present := keyScalar(key, name)
			var good bool
			if id, good = appendIdentity(id, len(keys), k, s, present); !good {
				return -1
			}
		}
		return f.find(n, id)
	}
	for i := range f.kids(n) {
		e := &f.nodes[int(n.first)+i]
		if e.kind == objectNode && f.hasKeys(e, key) {
			return i
		}
	}
	return -1
}

// hasKeys reports whether the declared object e has every field of key with its value.
func (f *Fields) hasKeys(e *node, key value.FieldList) bool {
	for _, kf := range key {
		c := f.findString(e, kf.Name)
		if c < 0 {
			return false
		}
		s, _ := keyScalar(key, kf.Name)
		if v := &f.nodes[int(e.first)+c]; v.kind != scalarNode || !f.matches(v, s) {
			return false
		}
	}
	return true
}

// sameKeys reports whether key names exactly the fields keys, whatever their order; a defaulted
// key (keyDefaults) may be absent from it.
func sameKeys(keys []string, key value.FieldList) bool {
	for _, kf := range key {
		found := false
		for _, k := range keys {
			found = found || k == kf.Name
		}
		if !found {
			return false
		}
	}
	for _, k := range keys {
		if _, present := keyScalar(key, k); !present {
			return false
		}
	}
	return true
}

// keyScalar is the value of key's field name, or the apiserver's default for it.
func keyScalar(key value.FieldList, name string) (scalar, bool) {
	for _, kf := range key {
		if kf.Name == name {
			return valueScalar(kf.Value)
		}
	}
	if d, ok := keyDefaults[name]; ok {
		return scalar{kind: stringScalar, s: d}, true
	}
	return scalar{}, false
}

// valueScalar is the scalar of a key's value; present is false for null.
func valueScalar(v value.Value) (scalar, bool) {
	switch {
	case v == nil || v.IsNull():
		return scalar{}, false
	case v.IsString():
		return scalar{kind: stringScalar, s: v.AsString()}, true
	case v.IsInt():
		return scalar{kind: numberScalar, f: float64(v.AsInt())}, true
	case v.IsFloat():
		return scalar{kind: numberScalar, f: v.AsFloat()}, true
	case v.IsBool():
		return scalar{kind: boolScalar, b: v.AsBool()}, true
	}
	return scalar{}, true // an object or a list as a key: matches no declared scalar
}

// peSegment spells an element of a path the manifest does not declare as Diff would: a field as
// ".name", a list-map element by its keys ("[name=sidecar]", "[containerPort=80,protocol=TCP]"),
// a set's element by its value, a positional one by its index. Only keys and set values (which
// the apiserver itself puts in managedFields) are named, never another field's value.
func peSegment(pe fieldpath.PathElement) string {
	switch {
	case pe.FieldName != nil:
		return "." + *pe.FieldName
	case pe.Key != nil:
		var b strings.Builder
		b.WriteByte('[')
		for i, kf := range *pe.Key {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(kf.Name + "=" + valueString(kf.Value))
		}
		b.WriteByte(']')
		return b.String()
	case pe.Value != nil:
		return "[" + valueString(*pe.Value) + "]"
	case pe.Index != nil:
		return indexPath(*pe.Index)
	}
	return "[?]"
}

func valueString(v value.Value) string {
	if s, ok := valueScalar(v); ok {
		switch s.kind {
		case stringScalar:
			return s.s
		case numberScalar:
			return strconv.FormatFloat(s.f, 'g', -1, 64)
		case boolScalar:
			return strconv.FormatBool(s.b)
		}
	}
	return value.ToString(v)
}
