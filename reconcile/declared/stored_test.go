package declared_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/reconcile/declared"
	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

// TestNoFalseDiffOnStoredObjects compares real manifests (the chart's rendered output, the demo's,
// the shipped policies and testdata/app.yaml) with what the real apiserver stores for them: a
// server-side apply under dry-run (a create, for objects that do not exist), except Namespaces and
// CRDs, which are applied for real so that what lives in them can be stored. The stored object
// must match; so must the stored object with a sidecar container, an extra label and annotation
// added (a mutating webhook's work); and every declared field changed in the stored object must
// be named by Diff, with FirstDiffJSON naming Diff's first path.
//
// policies/static is left out: the apiserver loads those from disk and refuses their reserved
// names (*.static.k8s.io) through the API, so no apply ever compares them.
func TestNoFalseDiffOnStoredObjects(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	var all []manifest
	all = append(all, chartManifests(t, env.ServerVersion)...)
	all = append(all, demoManifests(t)...)
	all = append(all, readManifests(t, "../../policies/guard-writ.yaml", "../../policies/guard-flux.yaml",
		"../../policies/guard-argocd.yaml", "../../policies/trust-ssh.yaml", "../../policies/trust-gitsign.yaml")...)
	all = append(all, readManifests(t, "testdata/app.yaml")...)
	for _, src := range []string{"charts/writ", "../../test/demo/steps.go", "testdata/app.yaml"} {
		if !slices.ContainsFunc(all, func(m manifest) bool { return m.source == src }) {
			t.Fatalf("no manifests read from %s", src)
		}
	}

	// What the others live in, for real: namespaces, then CRDs (established).
	for _, m := range all {
		if ns := m.obj.GetNamespace(); ns != "" {
			apply(t, ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}, false)
		}
	}
	stored := make([]*unstructured.Unstructured, len(all))
	for i, m := range all {
		if k := m.obj.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" {
			stored[i] = apply(t, ctx, m.obj, false)
		}
	}
	for i, m := range all {
		if m.obj.GetKind() == "CustomResourceDefinition" {
			waitEstablished(t, ctx, m.obj.GetName())
		}
		if stored[i] == nil {
			stored[i] = apply(t, ctx, m.obj, true)
		}
	}

	compared, changed := 0, 0
	for i, m := range all {
		f, err := declared.Compile(m.obj)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if d := checkAgree(t, m.String(), f, stored[i].Object); len(d) != 0 {
			t.Errorf("%s: stored as applied, Diff names %q", m, d)
		}
		mutated := withMutations(stored[i].Object)
		if d := checkAgree(t, m.String()+" (mutated)", f, mutated); len(d) != 0 {
			t.Errorf("%s: stored with a sidecar, a label and an annotation added, Diff names %q", m, d)
		}
		compared++
		for _, l := range leaves(declaredView(m.obj), "", nil) {
			live := runtime.DeepCopyJSON(stored[i].Object)
			if !l.change(live) {
				t.Errorf("%s: declared field %s not found in the stored object", m, l.path)
				continue
			}
			d := checkAgree(t, m.String()+" "+l.path, f, live)
			if !slices.ContainsFunc(d, l.names) {
				t.Errorf("%s: %s changed in the stored object, Diff names %q", m, l.path, d)
			}
			changed++
		}
	}
	if compared < 40 || changed < 300 {
		t.Fatalf("only %d objects and %d changed fields compared", compared, changed)
	}
	t.Logf("%d objects, %d declared fields changed one by one", compared, changed)
}

// apply server-side applies o as Writ does (field manager writ, forced), under dry-run or for real,
// and returns what the apiserver stored.
func apply(t *testing.T, ctx context.Context, o *unstructured.Unstructured, dryRun bool) *unstructured.Unstructured {
	t.Helper()
	u := o.DeepCopy()
	u.SetManagedFields(nil)
	opts := []client.PatchOption{client.FieldOwner("writ"), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := env.Client.Patch(ctx, u, client.Apply, opts...); err != nil { //nolint:staticcheck // unstructured apply
		t.Fatalf("applying %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return u
}

func waitEstablished(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	harness.Eventually(t, "CRD "+name+" established", 30*time.Second, func() (bool, string) {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, err.Error()
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if c, _ := c.(map[string]any); c["type"] == "Established" && c["status"] == "True" {
				return true, ""
			}
		}
		return false, "not established"
	})
}

// checkAgree returns Diff of live, failing t unless FirstDiffJSON on its JSON names the first path.
func checkAgree(t *testing.T, what string, f *declared.Fields, live map[string]any) []string {
	t.Helper()
	d := f.Diff(live)
	raw, err := json.Marshal(live)
	if err != nil {
		t.Fatal(err)
	}
	path, differs, err := f.FirstDiffJSON(raw)
	if err != nil || differs != (len(d) > 0) || (differs && path != d[0]) {
		t.Errorf("%s: FirstDiffJSON = %q, %v, %v; Diff = %q", what, path, differs, err, d)
	}
	return d
}

// withMutations is live as a mutating webhook leaves it: a sidecar in every list of containers,
// an extra label and annotation on the object.
func withMutations(live map[string]any) map[string]any {
	m := runtime.DeepCopyJSON(live)
	_ = unstructured.SetNestedField(m, "yes", "metadata", "labels", "injected.example.com/by")
	_ = unstructured.SetNestedField(m, "v1", "metadata", "annotations", "injected.example.com/version")
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if cs, ok := x["containers"].([]any); ok {
				x["containers"] = append(cs, map[string]any{"name": "injected-proxy", "image": "proxy:1.0",
					"resources": map[string]any{"limits": map[string]any{"cpu": "100m"}}})
			}
			for k, e := range x {
				if k != "containers" {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(m["spec"])
	return m
}

// declaredView is the manifest as Diff reads it: a Secret's stringData in data, no status.
func declaredView(o *unstructured.Unstructured) map[string]any {
	m := runtime.DeepCopyJSON(o.Object)
	delete(m, "status")
	if o.GetAPIVersion() == "v1" && o.GetKind() == "Secret" {
		if sd, ok := m["stringData"].(map[string]any); ok {
			data, _ := m["data"].(map[string]any)
			if data == nil {
				data = map[string]any{}
			}
			for k, v := range sd {
				data[k] = base64.StdEncoding.EncodeToString([]byte(v.(string)))
			}
			m["data"] = data
			delete(m, "stringData")
		}
	}
	return m
}

// leaf is one declared scalar: its path, the paths Diff may name when it changes, and how to
// change it in a live object.
type leaf struct {
	path string
	// want are the paths Diff may name for the change: "[*]" is any element of a list of
	// objects (matched by name, by the keys of its schema or by position: which, the test leaves
	// to Diff), and a changed key of an element (keyFields) may name the element instead.
	want   []string
	change func(live map[string]any) bool
}

// keyFields are the fields of list elements that key a list-map of a built-in kind, or a custom
// resource's list by name: changing one makes the declared element a missing one.
var keyFields = []string{"name", "containerPort", "protocol", "port", "mountPath", "ip", "uid", "type", "devicePath", "topologyKey", "whenUnsatisfiable"}

// names reports whether d is a path l.want allows.
func (l leaf) names(d string) bool {
	for _, w := range l.want {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(w), `\[\*\]`, `\[[^\]]*\]`) + "$"
		if regexp.MustCompile(re).MatchString(d) {
			return true
		}
	}
	return false
}

// step finds, in a live value, the child a path segment names.
type step func(live any) (get func() any, set func(any), ok bool)

func key(k string) step {
	return func(live any) (func() any, func(any), bool) {
		m, ok := live.(map[string]any)
		if !ok {
			return nil, nil, false
		}
		return func() any { return m[k] }, func(v any) { m[k] = v }, true
	}
}

func index(i int) step {
	return func(live any) (func() any, func(any), bool) {
		l, ok := live.([]any)
		if !ok || i >= len(l) {
			return nil, nil, false
		}
		return func() any { return l[i] }, func(v any) { l[i] = v }, true
	}
}

func named(name string) step {
	return func(live any) (func() any, func(any), bool) {
		l, _ := live.([]any)
		for i, e := range l {
			if m, ok := e.(map[string]any); ok && m["name"] == name {
				return func() any { return l[i] }, func(v any) { l[i] = v }, true
			}
		}
		return nil, nil, false
	}
}

// leaves lists the scalars git declares under path (steps lead there from the object's root).
func leaves(git any, path string, steps []step) []leaf {
	switch g := git.(type) {
	case map[string]any:
		var out []leaf
		for k, v := range g {
			out = append(out, leaves(v, path+"."+k, append(slices.Clip(steps), key(k)))...)
		}
		return out
	case []any:
		var out []leaf
		names := namesOf(g)
		for i, v := range g {
			if names != nil {
				p := path + "[name=" + names[i] + "]"
				for _, l := range leaves(v, p, append(slices.Clip(steps), named(names[i]))) {
					out = append(out, elementLeaf(l, p, path))
				}
				continue
			}
			p := path + "[" + strconv.Itoa(i) + "]"
			for _, l := range leaves(v, p, append(slices.Clip(steps), index(i))) {
				out = append(out, elementLeaf(l, p, path))
			}
		}
		return out
	case nil:
		return nil
	}
	changed := changedValue(git)
	return []leaf{{path: path, want: []string{path}, change: func(live map[string]any) bool {
		var cur any = live
		for i, s := range steps {
			get, set, ok := s(cur)
			if !ok {
				return false
			}
			if i == len(steps)-1 {
				set(changed)
				return true
			}
			if get() == nil { // a parent the type omits when empty: the changed value brings it
				set(map[string]any{})
			}
			cur = get()
		}
		return false
	}}}
}

// elementLeaf is l, a leaf under the element p of the list at path, with the element's segment
// in what Diff may name left to Diff ("[*]"), and the element itself allowed for a key field.
func elementLeaf(l leaf, p, path string) leaf {
	for i, w := range l.want {
		if rest, ok := strings.CutPrefix(w, p); ok {
			l.want[i] = path + "[*]" + rest
			if f, ok := strings.CutPrefix(rest, "."); ok && slices.Contains(keyFields, f) && (isObjectElement(l, p)) {
				l.want = append(l.want, path+"[*]")
			}
		}
	}
	return l
}

// isObjectElement reports whether the leaf l is a field right in the element p (not deeper).
func isObjectElement(l leaf, p string) bool {
	rest := strings.TrimPrefix(l.path, p)
	return strings.Count(rest, ".") == 1 && !strings.Contains(rest, "[")
}

// namesOf returns the elements' names if every one is an object with a distinct string name.
func namesOf(l []any) []string {
	var names []string
	for _, e := range l {
		m, ok := e.(map[string]any)
		name, isString := m["name"].(string)
		if !ok || !isString || slices.Contains(names, name) {
			return nil
		}
		names = append(names, name)
	}
	return names
}

// changedValue is a value of the same JSON type that differs from v in every spelling.
func changedValue(v any) any {
	switch x := v.(type) {
	case string:
		return x + "-changed"
	case bool:
		return !x
	case int64:
		return x + 1
	case float64:
		return x + 1
	}
	return "changed"
}
