package declared_test

import (
	"strings"
	"testing"

	"writ.dev/writ/reconcile/declared"
)

// mutatingManifest is a MutatingWebhookConfiguration as Git declares it (cert-manager's CA
// injector fills in the CA bundle).
const mutatingManifest = `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mesh
  annotations:
    cert-manager.io/inject-ca-from: mesh/injector
webhooks:
- name: inject.mesh.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {namespace: mesh, name: injector, path: /inject}
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
`

// storedMutating is the object as the apiserver stores it after writ's apply and the injector's
// update (managedFields as the apiserver writes them), with extra the JSON of a further entry.
func storedMutating(extra string) []byte {
	writ := `{"f:metadata":{"f:annotations":{"f:cert-manager.io/inject-ca-from":{},"f:writ.dev/commit":{}}},` +
		`"f:webhooks":{"k:{\"name\":\"inject.mesh.example.com\"}":{".":{},"f:admissionReviewVersions":{},` +
		`"f:clientConfig":{"f:service":{"f:name":{},"f:namespace":{},"f:path":{}}},"f:name":{},"f:rules":{},"f:sideEffects":{}}}}`
	injector := `{"f:webhooks":{"k:{\"name\":\"inject.mesh.example.com\"}":{"f:clientConfig":{"f:caBundle":{}}}}}`
	entries := `{"manager":"writ","operation":"Apply","apiVersion":"admissionregistration.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":` + writ + `},` +
		`{"manager":"cainjector","operation":"Update","apiVersion":"admissionregistration.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":` + injector + `}`
	if extra != "" {
		entries += "," + extra
	}
	return []byte(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",` +
		`"metadata":{"name":"mesh","annotations":{"cert-manager.io/inject-ca-from":"mesh/injector","writ.dev/commit":"aaaa"},"managedFields":[` + entries + `]},` +
		`"webhooks":[{"name":"inject.mesh.example.com","admissionReviewVersions":["v1"],"sideEffects":"None","failurePolicy":"Fail","timeoutSeconds":10,` +
		`"clientConfig":{"service":{"namespace":"mesh","name":"injector","path":"/inject","port":443},"caBundle":"Q0E="},` +
		`"rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"scope":"*"}]}]}`)
}

func firstUndeclaredOwned(t *testing.T, f *declared.Fields, obj []byte) (string, string, bool) {
	t.Helper()
	g, err := declared.GainsOf(obj, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	path, manager, ok, err := f.FirstUndeclaredOwned(g)
	if err != nil {
		t.Fatal(err)
	}
	return path, manager, ok
}

// TestFirstUndeclaredOwned: a mutating webhook configuration as Git declares it, with the CA
// bundle an injector owns, owns nothing undeclared; a webhook, a rule or a field another manager
// adds is found, and so is a CA bundle anywhere but under a webhook's clientConfig.
func TestFirstUndeclaredOwned(t *testing.T) {
	f := compile(t, mutatingManifest)
	if path, manager, ok := firstUndeclaredOwned(t, f, storedMutating("")); ok {
		t.Fatalf("FirstUndeclaredOwned = %s (field manager %q) on what Git declares and the CA injector fills in", path, manager)
	}
	// FirstUndeclaredGain, the rule for a write, asks the injector's CA bundle of Git.
	g, err := declared.GainsOf(storedMutating(""), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if path, manager, ok, err := f.FirstUndeclaredGain(g); err != nil || !ok || manager != "cainjector" || !strings.HasSuffix(path, ".clientConfig.caBundle") {
		t.Errorf("FirstUndeclaredGain = %q, %q, %v, %v; want the injector's CA bundle", path, manager, ok, err)
	}
	entry := func(manager, set string) string {
		return `{"manager":"` + manager + `","operation":"Update","apiVersion":"admissionregistration.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":` + set + `}`
	}
	for _, c := range []struct{ name, set, path string }{
		{"a webhook", `{"f:webhooks":{"k:{\"name\":\"mallory.example.com\"}":{".":{},"f:name":{},"f:clientConfig":{"f:url":{}}}}}`, `.webhooks[name=mallory.example.com]`},
		{"a URL", `{"f:webhooks":{"k:{\"name\":\"inject.mesh.example.com\"}":{"f:clientConfig":{"f:url":{}}}}}`, `.webhooks[name=inject.mesh.example.com].clientConfig.url`},
		{"an object selector", `{"f:webhooks":{"k:{\"name\":\"inject.mesh.example.com\"}":{"f:objectSelector":{}}}}`, `.webhooks[name=inject.mesh.example.com].objectSelector`},
		{"a label", `{"f:metadata":{"f:labels":{"f:team":{}}}}`, `.metadata.labels.team`},
		{"a CA bundle elsewhere", `{"f:spec":{"f:clientConfig":{"f:caBundle":{}}}}`, `.spec.clientConfig.caBundle`},
	} {
		path, manager, ok := firstUndeclaredOwned(t, f, storedMutating(entry("mallory", c.set)))
		if !ok || manager != "mallory" || path != c.path {
			t.Errorf("%s: FirstUndeclaredOwned = %q, %q, %v; want %s of field manager mallory", c.name, path, manager, ok, c.path)
		}
	}
}
