package declared_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"writ.dev/writ/reconcile/declared"
)

// managed is an object whose managedFields are entries, each "manager operation apiVersion
// [subresource]" followed by its fieldsV1 after a tab.
func managed(entries ...string) []byte {
	var list []map[string]any
	for _, e := range entries {
		head, set, _ := strings.Cut(e, "\t")
		f := strings.Fields(head)
		m := map[string]any{"manager": f[0], "operation": f[1], "apiVersion": f[2], "time": "2026-12-02T10:00:00Z",
			"fieldsType": "FieldsV1", "fieldsV1": json.RawMessage(set)}
		if len(f) > 3 {
			m["subresource"] = f[3]
		}
		list = append(list, m)
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "managedFields": list}, "spec": map[string]any{}})
	if err != nil {
		panic(err)
	}
	return b
}

// firstUndeclaredGain is FirstUndeclaredGain of GainsOf(obj, old), which must say the same with
// the JSON vouched for and without.
func firstUndeclaredGain(t testing.TB, f *declared.Fields, obj, old []byte) (string, string, bool) {
	t.Helper()
	var answers [2]struct {
		path, manager string
		ok            bool
	}
	for i, valid := range []bool{true, false} {
		g, err := declared.GainsOf(obj, old, valid)
		if err != nil {
			t.Fatalf("GainsOf(valid=%v): %v", valid, err)
		}
		a := &answers[i]
		var ferr error
		if a.path, a.manager, a.ok, ferr = f.FirstUndeclaredGain(g); ferr != nil {
			t.Fatalf("FirstUndeclaredGain: %v", ferr)
		}
	}
	if answers[0] != answers[1] {
		t.Fatalf("vouched %+v, checked %+v", answers[0], answers[1])
	}
	// The lists found by the caller, as the guard finds them: the same answer.
	g, err := declared.GainsOfLists(managedList(t, obj), managedList(t, old), true)
	if err != nil {
		t.Fatalf("GainsOfLists: %v", err)
	}
	path, manager, ok, err := f.FirstUndeclaredGain(g)
	if err != nil || path != answers[0].path || manager != answers[0].manager || ok != answers[0].ok {
		t.Fatalf("from the lists: %q, %q, %v, %v; from the objects %+v", path, manager, ok, err, answers[0])
	}
	return answers[0].path, answers[0].manager, answers[0].ok
}

// managedList is the JSON of obj's metadata.managedFields, byte for byte, or nil.
func managedList(t testing.TB, obj []byte) []byte {
	t.Helper()
	if obj == nil {
		return nil
	}
	var o struct {
		Metadata struct {
			ManagedFields json.RawMessage `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata.ManagedFields
}

const gitService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
`

// TestFirstUndeclaredGain: on a CREATE (no old object) every field an entry owns is gained and
// must be declared; status and the commit annotation are never asked of the manifest.
func TestFirstUndeclaredGain(t *testing.T) {
	deploy := compile(t, gitDeployment)
	service := compile(t, gitService)
	crd := compile(t, `apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop}
spec:
  items: [{name: a, size: 1}]
  atomic: [1, 2]
`)
	secret := compile(t, `apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: x}
data: {user: YQ==}
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
		{name: "the commit annotation", f: deploy, owned: `{"f:metadata":{"f:annotations":{"f:writ.dev/commit":{}}}}`},
		{name: "the commit annotation where Git declares no annotations", f: service, owned: `{"f:metadata":{"f:annotations":{"f:writ.dev/commit":{}}}}`},
		{name: "annotations themselves where Git declares none", f: service, owned: `{"f:metadata":{"f:annotations":{".":{},"f:writ.dev/commit":{}}}}`, want: ".metadata.annotations", undecl: true},
		{name: "another annotation where Git declares none", f: service, owned: `{"f:metadata":{"f:annotations":{"f:writ.dev/commit":{},"f:x":{}}}}`, want: ".metadata.annotations.x", undecl: true},
		{name: "the commit annotation as a label", f: deploy, owned: `{"f:metadata":{"f:labels":{"f:writ.dev/commit":{}}}}`, want: ".metadata.labels.writ.dev/commit", undecl: true},
		{name: "status", f: deploy, owned: `{"f:status":{"f:replicas":{},"f:conditions":{"k:{\"type\":\"Available\"}":{}}}}`},
		{name: "status below the root", f: deploy, owned: `{"f:spec":{"f:status":{}}}`, want: ".spec.status", undecl: true},
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
		{name: "a key that is not a path element", f: deploy, owned: `{"f:spec":{"x:y":{}}}`, want: ".spec[x:y]", undecl: true},
		{name: "a Secret's stringData, declared as data", f: secret, owned: `{"f:stringData":{".":{},"f:password":{}},"f:data":{"f:user":{}}}`},
		{name: "a Secret's stringData key Git does not set", f: secret, owned: `{"f:stringData":{"f:token":{}}}`, want: ".stringData.token", undecl: true},
		{name: "an escaped field name", f: deploy, owned: `{"f:metadata":{"f:labels":{"f:\u0078":{}}}}`, want: ".metadata.labels.x", undecl: true},
		{name: "nothing owned", f: deploy, owned: `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, manager, undecl := firstUndeclaredGain(t, c.f, managed("kubectl-patch Update apps/v1\t"+c.owned), nil)
			if got != c.want || undecl != c.undecl {
				t.Fatalf("FirstUndeclaredGain = %q, %v; want %q, %v", got, undecl, c.want, c.undecl)
			}
			if undecl && manager != "kubectl-patch" {
				t.Errorf("manager = %q, want kubectl-patch", manager)
			}
		})
	}
}

// TestGainsOfAnUpdate: on an UPDATE only what an entry gains over the stored object's entry of
// the same manager, operation, apiVersion and subresource is asked of the manifest: fields an
// entry already owned, or lost, are not.
func TestGainsOfAnUpdate(t *testing.T) {
	deploy := compile(t, gitDeployment)
	const (
		writ   = "writ Apply apps/v1\t" + `{"f:metadata":{"f:labels":{"f:writ.dev/managed":{}}}}`
		hpa    = "hpa Update apps/v1\t" + `{"f:spec":{"f:replicas":{}}}`
		legacy = "kubectl-edit Update apps/v1\t" + `{"f:metadata":{"f:labels":{"f:team":{},"f:tier":{}}}}`
	)
	for _, c := range []struct {
		name     string
		old, obj []byte
		changed  int
		want     string
	}{
		{name: "nothing changed", old: managed(writ, hpa, legacy), obj: managed(writ, hpa, legacy)},
		{name: "entries in another order", old: managed(writ, hpa, legacy), obj: managed(legacy, writ, hpa)},
		{name: "an entry loses fields", old: managed(writ, hpa, legacy), changed: 1,
			obj: managed(writ, hpa, "kubectl-edit Update apps/v1\t"+`{"f:metadata":{"f:labels":{"f:team":{}}}}`)},
		{name: "an entry that owned undeclared fields gains one more", old: managed(writ, legacy), changed: 1,
			obj: managed(writ, "kubectl-edit Update apps/v1\t"+`{"f:metadata":{"f:labels":{"f:team":{},"f:tier":{},"f:zone":{}}}}`), want: ".metadata.labels.zone"},
		{name: "a new entry", old: managed(writ, hpa), obj: managed(writ, hpa, legacy), changed: 1, want: ".metadata.labels.team"},
		{name: "the same manager in another apiVersion is another entry", old: managed(writ, legacy), changed: 1,
			obj: managed(writ, "kubectl-edit Update apps/v1beta2\t"+`{"f:metadata":{"f:labels":{"f:team":{},"f:tier":{}}}}`), want: ".metadata.labels.team"},
		{name: "the same manager on a subresource is another entry", old: managed(writ, hpa), changed: 1,
			obj: managed(writ, hpa, "hpa Update apps/v1 scale\t"+`{"f:spec":{"f:replicas":{}}}`), want: ".spec.replicas"},
		{name: "the agent's apply takes a declared field over", old: managed(writ, "kubectl-edit Update apps/v1\t"+`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:image":{}}}}}}}`), changed: 2,
			obj: managed("writ Apply apps/v1\t"+`{"f:metadata":{"f:labels":{"f:writ.dev/managed":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`, "kubectl-edit Update apps/v1\t{}")},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := declared.GainsOf(c.obj, c.old, true)
			if err != nil {
				t.Fatal(err)
			}
			if g.Len() != c.changed {
				t.Errorf("%d entries changed, want %d", g.Len(), c.changed)
			}
			got, _, undecl := firstUndeclaredGain(t, deploy, c.obj, c.old)
			if got != c.want || undecl != (c.want != "") {
				t.Fatalf("FirstUndeclaredGain = %q, %v; want %q", got, undecl, c.want)
			}
		})
	}
}

// TestGainsOfWithoutManagedFields: an object about to be stored with no managedFields (a request
// that reset them) tells nothing of what the write set: ErrNoManagedFields, for the caller to
// deny. Malformed JSON is an error, never an empty Gains.
func TestGainsOfWithoutManagedFields(t *testing.T) {
	for _, obj := range []string{`{"metadata":{"name":"web"}}`, `{"metadata":{"managedFields":[]}}`, `{"spec":{}}`, `{}`} {
		if _, err := declared.GainsOf([]byte(obj), nil, true); !errors.Is(err, declared.ErrNoManagedFields) {
			t.Errorf("GainsOf(%s) = %v, want ErrNoManagedFields", obj, err)
		}
	}
	for _, obj := range []string{`{"metadata":{"managedFields":[{"manager":"m","fieldsV1":{"f:x"}}]}}`, `[]`, `{"metadata":{"managedFields":[{"fieldsV1":[]}]}}`} {
		if g, err := declared.GainsOf([]byte(obj), nil, false); err == nil || errors.Is(err, declared.ErrNoManagedFields) {
			t.Errorf("GainsOf(%s) = %v, %v, want a malformed-JSON error", obj, g, err)
		}
	}
}

// TestFirstUndeclaredGainOnStoredObject: what the apiserver recorded for Writ's server-side apply
// of benchDeployment (manager writ) is declared, and the sidecar the mesh injector applied is not.
func TestFirstUndeclaredGainOnStoredObject(t *testing.T) {
	f, raw := storedFixture(t)
	path, manager, undecl := firstUndeclaredGain(t, f, raw, nil)
	if !undecl || manager != "mesh-injector" {
		t.Fatalf("FirstUndeclaredGain = %q, %q, %v: the mesh injector's sidecar passes as declared", path, manager, undecl)
	}
	// The stored object as its own old one, but for the mesh injector's entry: writ's entry
	// (10 KB of fieldsV1) walked against the manifest owns only declared fields.
	without := strings.Replace(string(raw), `"manager":"mesh-injector"`, `"manager":"mesh-injector-was"`, 1)
	if path, manager, undecl := firstUndeclaredGain(t, f, raw, []byte(without)); !undecl || manager != "mesh-injector" {
		t.Fatalf("FirstUndeclaredGain = %q, %q, %v, want the mesh injector's entry", path, manager, undecl)
	}
	withoutWrit := strings.Replace(string(raw), `"manager":"writ"`, `"manager":"writ-was"`, 1)
	g, err := declared.GainsOf(raw, []byte(withoutWrit), true)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("%d entries gained, want writ's alone", g.Len())
	}
	if path, _, undecl, err := f.FirstUndeclaredGain(g); undecl || err != nil {
		t.Errorf("writ's own apply owns %s (%v), which the manifest does not declare", path, err)
	}
}

// storedFixture is benchDeployment compiled and liveFixture's JSON.
func storedFixture(t testing.TB) (*declared.Fields, []byte) {
	t.Helper()
	raw, err := os.ReadFile(liveFixture)
	if err != nil {
		t.Fatal(err)
	}
	return compile(t, benchDeployment()), raw
}

// BenchmarkGains: what the witness adds to an agent's write of a 20 KB Deployment for the
// managedFields rule. create: no old object, so every entry is walked against the manifest
// (writ's 10 KB of fieldsV1 among them); update-unchanged: the stored object's entries are the
// same bytes (a re-apply, a drift heal of a value), so nothing is walked; update-writ: only
// writ's entry changed (a new commit's apply), walked against the old one.
func BenchmarkGains(b *testing.B) {
	f, raw := storedFixture(b)
	for _, c := range []struct {
		name string
		old  []byte
		want bool
	}{
		{"create", nil, true},
		{"update-unchanged", raw, false},
		{"update-writ", writChanged(raw), false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g, err := declared.GainsOf(raw, c.old, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, undecl, err := f.FirstUndeclaredGain(g); undecl != c.want || err != nil {
					b.Fatal(undecl, err)
				}
			}
		})
	}
}

// writChanged is raw whose writ entry lacked the first container's image: a new commit's apply
// gains it.
func writChanged(raw []byte) []byte {
	at := strings.Index(string(raw), `"manager":"writ"`)
	return []byte(string(raw[:at]) + strings.Replace(string(raw[at:]), `"f:image":{}`, `"f:imagez":{}`, 1))
}
