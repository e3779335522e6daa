package apply

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Comparing what the apiserver stores with what Git declares.
//
// Drift is judged on the live object itself, never on a server-side dry-run of Writ's apply: a
// mutating admission policy or webhook changes a dry-run exactly as it changes the real write,
// so a dry-run agrees with whatever the mutation stored. declaredDiff walks the fields the Git
// manifest sets (the fields Writ applies, and so owns under its field manager) and compares each
// with the live value; fields Git does not set (defaults, other managers' fields, status) are
// never compared.
//
// The apiserver stores a built-in kind in a canonical form, so a declared value may legitimately
// come back spelled differently: a quantity "1000m" as "1", base64 re-encoded, a false or zero
// that the type omits dropped, a Secret's stringData merged into data. For kinds the client's
// scheme knows, the manifest is also put through the same typed round trip (decode into the Go
// type, encode again) and a live value equal to either spelling matches. Custom resources are
// stored as sent (numbers compared as numbers). Known limitations: a list of objects is matched
// by element "name" when every element has one, else by position, and then must have the same
// length (an element another manager added to such a list is reported); a list of scalars must
// be equal, in order; a CRD's own conversion webhook that rewrites a declared value is reported.

// declaredDiff returns the paths (".spec.template.spec.containers[name=web].image") at which
// live differs from a field want declares; values are never returned.
func declaredDiff(want, live *unstructured.Unstructured) []string {
	w := secretData(want.GroupVersionKind(), want.Object)
	n := normalised(want)
	if n == nil {
		n = w
	}
	// A status subresource is never written by Writ's apply.
	w, n = without(w, "status"), without(n, "status")
	return compare("", w, n, true, live.Object, true, nil)
}

func without(m map[string]any, key string) map[string]any {
	if _, ok := m[key]; !ok {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			c[k] = v
		}
	}
	return c
}

// normalised is want as the apiserver would store it if it were stored unchanged: its typed round
// trip, or nil for a kind the scheme does not know (stored as sent).
func normalised(want *unstructured.Unstructured) map[string]any {
	obj, err := scheme.Scheme.New(want.GroupVersionKind())
	if err != nil {
		return nil
	}
	b, err := json.Marshal(want.Object)
	if err != nil || json.Unmarshal(b, obj) != nil {
		return nil
	}
	if b, err = json.Marshal(obj); err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	return secretData(want.GroupVersionKind(), m)
}

// secretData merges a core Secret's stringData into data, base64-encoded, as the apiserver does.
func secretData(gvk schema.GroupVersionKind, m map[string]any) map[string]any {
	sd, ok := m["stringData"].(map[string]any)
	if gvk.Group != "" || gvk.Kind != "Secret" || !ok {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	data := map[string]any{}
	if d, ok := m["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	delete(c, "stringData")
	c["data"] = data
	return c
}

// compare appends the paths where live differs from want. norm is want's normalised spelling
// (hasNorm false: the typed round trip dropped the field, a zero value the type omits).
func compare(path string, want, norm any, hasNorm bool, live any, hasLive bool, out []string) []string {
	if want == nil {
		return out // null in Git unsets a field: nothing declared
	}
	if !hasLive || live == nil {
		if empty(want) || !hasNorm {
			return out
		}
		return append(out, path)
	}
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return append(out, path)
		}
		n, _ := norm.(map[string]any)
		for _, k := range sortedKeys(w) {
			var nv any
			nok := n == nil // no normalised map: want is its own spelling
			if n != nil {
				nv, nok = n[k]
			} else {
				nv = w[k]
			}
			lv, lok := l[k]
			out = compare(path+"."+k, w[k], nv, nok, lv, lok, out)
		}
		return out
	case []any:
		l, ok := live.([]any)
		if !ok {
			return append(out, path)
		}
		n, _ := norm.([]any)
		if len(n) != len(w) {
			n = w
		}
		if names, ok := elementNames(w); ok {
			byName := map[string]any{}
			if ln, ok := elementNames(l); ok {
				for i, name := range ln {
					byName[name] = l[i]
				}
			}
			for i, name := range names {
				p := path + "[name=" + name + "]"
				lv, lok := byName[name]
				if !lok {
					out = append(out, p)
					continue
				}
				out = compare(p, w[i], n[i], true, lv, true, out)
			}
			return out
		}
		if len(l) != len(w) {
			return append(out, path)
		}
		for i := range w {
			out = compare(path+"["+strconv.Itoa(i)+"]", w[i], n[i], true, l[i], true, out)
		}
		return out
	default:
		if scalarEqual(want, live) || (hasNorm && norm != nil && scalarEqual(norm, live)) {
			return out
		}
		return append(out, path)
	}
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

// scalarEqual compares two JSON scalars, numbers by value whatever their Go type.
func scalarEqual(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum || bNum {
		return aNum && bNum && fa == fb
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
