package witness_test

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/witness"
)

var (
	shop   = types.NamespacedName{Namespace: "writ-system", Name: "shop"}
	shared = types.NamespacedName{Namespace: "writ-system", Name: "shared"}
	late   = types.NamespacedName{Namespace: "writ-system", Name: "late"}
)

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
	c3 = "3333333333333333333333333333333333333333"
	b1 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// secretValue is the password a test Secret declares; no Result or message may contain it.
const secretValue = "hunter2-do-not-print"

// deployment is the manifest of shop/web with the given image, as Git declares it.
func deployment(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ` + image + `
        resources: {limits: {cpu: "0.5", memory: 128Mi}}
`
}

// liveDeployment is shop/web as the apiserver is about to store it: defaulted, with a sidecar a
// mutating webhook added, and the cpu Git spells 0.5 spelt as the apiserver does.
func liveDeployment(image string, replicas string) string {
	// In the order the apiserver writes a Deployment's fields.
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: u
  resourceVersion: "9"
  generation: 2
  labels: {app: web, writ.dev/managed: writ-system.shop}
spec:
  replicas: ` + replicas + `
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "` + image + `", resources: {limits: {cpu: 500m, memory: 128Mi}}, imagePullPolicy: IfNotPresent}
      - {name: sidecar, image: "proxy:1"}
      restartPolicy: Always
      dnsPolicy: ClusterFirst
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 25%, maxSurge: 25%}}
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 600
status: {observedGeneration: 2, replicas: 3}
`
}

func configMap(name, value string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata: {name: ` + name + `, namespace: shop}
data: {a: "` + value + `"}
`
}

const secret = `apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
type: Opaque
stringData: {password: ` + secretValue + `}
`

const service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`

// objects parses YAML documents into rendered objects.
func objects(t testing.TB, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// jsonOf is the JSON of a YAML document, as an AdmissionReview carries the object.
func jsonOf(t testing.TB, doc string) []byte {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publish(t testing.TB, x *witness.Index, sync types.NamespacedName, commit string, docs ...string) {
	t.Helper()
	if err := x.Publish(sync, commit, objects(t, docs...)); err != nil {
		t.Fatal(err)
	}
}

var (
	webKey    = witness.Key{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}
	secretKey = witness.Key{Kind: "Secret", Namespace: "shop", Name: "db"}
)

func cmKey(name string) witness.Key {
	return witness.Key{Kind: "ConfigMap", Namespace: "shop", Name: name}
}

// noValue fails t if s contains the test Secret's value, in clear or in base64.
func noValue(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range []string{secretValue, "aHVudGVyMi1kby1ub3QtcHJpbnQ", "other-password", "b3RoZXItcGFzc3dvcmQ"} {
		if strings.Contains(s, v) {
			t.Errorf("%s contains a Secret's value: %s", what, s)
		}
	}
}

// applied is the JSON of live, an object as the apiserver is about to store it, with the
// managedFields entry Writ's server-side apply of manifest gets: manager writ, operation Apply,
// and the fields manifest sets, computed as the apiserver computes them (client-go's schema for
// server-side apply), without the fields the apiserver never records (name, namespace, apiVersion,
// kind). Fields live has that manifest does not set (defaults, a sidecar a mutating webhook added)
// are owned by no entry, as on a real cluster.
func applied(t testing.TB, live, manifest string) []byte {
	t.Helper()
	return withEntries(t, live, writEntry(t, objects(t, manifest)[0]))
}

// writEntry is the managedFields entry Writ's server-side apply of m gets (see applied).
func writEntry(t testing.TB, m *unstructured.Unstructured) map[string]any {
	t.Helper()
	tv, err := applyconfigurations.NewTypeConverter(scheme.Scheme).ObjectToTyped(m)
	if err != nil {
		t.Fatal(err)
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		t.Fatal(err)
	}
	set = set.Difference(fieldpath.NewSet(fieldpath.MakePathOrDie("apiVersion"), fieldpath.MakePathOrDie("kind"),
		fieldpath.MakePathOrDie("metadata", "name"), fieldpath.MakePathOrDie("metadata", "namespace")))
	fieldsV1, err := set.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	return managedEntry("writ", "Apply", m.GetAPIVersion(), string(fieldsV1))
}

// managedEntry is one managedFields entry.
func managedEntry(manager, operation, apiVersion, fieldsV1 string) map[string]any {
	return map[string]any{"manager": manager, "operation": operation, "apiVersion": apiVersion,
		"time": "2026-12-02T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": json.RawMessage(fieldsV1)}
}

// withEntries is the JSON of live with entries appended to its managedFields.
func withEntries(t testing.TB, live string, entries ...map[string]any) []byte {
	t.Helper()
	u := objects(t, live)[0]
	list, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	for _, e := range entries {
		list = append(list, plain(t, e))
	}
	if err := unstructured.SetNestedSlice(u.Object, list, "metadata", "managedFields"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// webJSON is shop/web as liveDeployment stores it after Writ applied deployment(image).
func webJSON(t testing.TB, image, replicas string) []byte {
	return applied(t, liveDeployment(image, replicas), deployment(image))
}

// cmJSON is the ConfigMap as the apiserver stores it after Writ applied it.
func cmJSON(t testing.TB, name, value string) []byte {
	return applied(t, configMap(name, value), configMap(name, value))
}

// plain is v as encoding/json decodes its JSON (json.RawMessage values become maps), as
// unstructured objects hold it.
func plain(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
