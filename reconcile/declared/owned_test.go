package declared_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"writ.dev/writ/reconcile/declared"
)

func ownedSet(t testing.TB, fieldsV1 string) *fieldpath.Set {
	t.Helper()
	s := &fieldpath.Set{}
	if err := s.FromJSON(strings.NewReader(fieldsV1)); err != nil {
		t.Fatal(err)
	}
	return s
}

const gitService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
`

func TestFirstUndeclared(t *testing.T) {
	deploy := compile(t, gitDeployment)
	service := compile(t, gitService)
	crd := compile(t, `apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop}
spec:
  items: [{name: a, size: 1}]
  atomic: [1, 2]
`)
	for _, c := range []struct {
		name   string
		f      *declared.Fields
		owned  string
		want   string
		undecl bool
	}{
		{name: "what the manifest sets", f: deploy, owned: `{"f:metadata":{"f:labels":{".":{},"f:writ.dev/managed":{}}},"f:spec":{"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:hostNetwork":{},"f:automountServiceAccountToken":{},"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:name":{},"f:image":{},"f:args":{},"f:resources":{"f:limits":{"f:cpu":{},"f:memory":{}}}}}}}}}`},
		{name: "a label Git does not set", f: deploy, owned: `{"f:metadata":{"f:labels":{"f:writ.dev/managed":{},"f:x":{}}}}`, want: ".metadata.labels.x", undecl: true},
		{name: "an annotation under an empty declared map", f: deploy, owned: `{"f:metadata":{"f:annotations":{".":{},"f:a":{}}}}`, want: ".metadata.annotations.a", undecl: true},
		{name: "a container Git does not declare", f: deploy, owned: `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{}}}}}}}`, want: ".spec.template.spec.containers[name=sidecar]", undecl: true},
		{name: "a field of a declared container Git does not set", f: deploy, owned: `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:command":{}}}}}}}`, want: ".spec.template.spec.containers[name=web].command", undecl: true},
		{name: "replicas Git does not set", f: deploy, owned: `{"f:spec":{"f:replicas":{}}}`, want: ".spec.replicas", undecl: true},
		{name: "a port by its keys, protocol defaulted", f: service, owned: `{"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:targetPort":{}}},"f:selector":{}}}`},
		{name: "another port", f: service, owned: `{"f:spec":{"f:ports":{"k:{\"port\":81,\"protocol\":\"TCP\"}":{".":{}}}}}`, want: ".spec.ports[port=81,protocol=TCP]", undecl: true},
		{name: "a custom resource's list-map by name", f: crd, owned: `{"f:spec":{"f:items":{"k:{\"name\":\"a\"}":{"f:size":{}}},"f:atomic":{}}}`},
		{name: "a custom resource's list-map by other keys", f: crd, owned: `{"f:spec":{"f:items":{"k:{\"size\":1}":{"f:name":{}}}}}`},
		{name: "another custom element", f: crd, owned: `{"f:spec":{"f:items":{"k:{\"name\":\"b\"}":{}}}}`, want: ".spec.items[name=b]", undecl: true},
		{name: "under a positional list", f: crd, owned: `{"f:spec":{"f:atomic":{"i:5":{}}}}`},
		{name: "a set's element under an object", f: deploy, owned: `{"f:metadata":{"f:finalizers":{"v:\"x\"":{}}}}`, want: ".metadata.finalizers", undecl: true},
		{name: "nothing owned", f: deploy, owned: `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, undecl := c.f.FirstUndeclared(ownedSet(t, c.owned))
			if got != c.want || undecl != c.undecl {
				t.Fatalf("FirstUndeclared = %q, %v; want %q, %v", got, undecl, c.want, c.undecl)
			}
		})
	}
}

// TestFirstUndeclaredOnStoredObject: what the apiserver recorded for Writ's server-side apply of
// benchDeployment (manager writ) is declared, and the sidecar the mesh injector applied is not.
func TestFirstUndeclaredOnStoredObject(t *testing.T) {
	f, entries := storedOwnership(t)
	if path, undecl := f.FirstUndeclared(ownedSet(t, entries["writ"])); undecl {
		t.Errorf("writ's own apply owns %s, which the manifest does not declare", path)
	}
	if _, undecl := f.FirstUndeclared(ownedSet(t, entries["mesh-injector"])); !undecl {
		t.Error("the mesh injector's sidecar passes as declared")
	}
}

// storedOwnership is benchDeployment compiled and the fieldsV1 of each manager of liveFixture.
func storedOwnership(t testing.TB) (*declared.Fields, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(liveFixture)
	if err != nil {
		t.Fatal(err)
	}
	var live struct {
		Metadata struct {
			ManagedFields []struct {
				Manager  string          `json:"manager"`
				FieldsV1 json.RawMessage `json:"fieldsV1"`
			} `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &live); err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, e := range live.Metadata.ManagedFields {
		entries[e.Manager] = string(e.FieldsV1)
	}
	return compile(t, benchDeployment()), entries
}

// BenchmarkFirstUndeclared: parsing the fieldsV1 of Writ's apply of a 20 KB Deployment and
// walking it against the manifest, as the witness would on every agent write.
func BenchmarkFirstUndeclared(b *testing.B) {
	f, entries := storedOwnership(b)
	fieldsV1 := entries["writ"]
	b.ReportAllocs()
	for b.Loop() {
		s := &fieldpath.Set{}
		if err := s.FromJSON(strings.NewReader(fieldsV1)); err != nil {
			b.Fatal(err)
		}
		if path, undecl := f.FirstUndeclared(s); undecl {
			b.Fatal(path)
		}
	}
}

// BenchmarkFirstUndeclaredWalk is the walk alone, on a set already parsed.
func BenchmarkFirstUndeclaredWalk(b *testing.B) {
	f, entries := storedOwnership(b)
	s := ownedSet(b, entries["writ"])
	b.ReportAllocs()
	for b.Loop() {
		if path, undecl := f.FirstUndeclared(s); undecl {
			b.Fatal(path)
		}
	}
}
