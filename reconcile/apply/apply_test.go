package apply_test

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}`

const ns = `apiVersion: v1
kind: Namespace
metadata: {name: shop}`

const widget = `apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3}`

func cm(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: shop}\ndata: {k: '" + value + "'}"
}

func TestApplyStagesPrunesAndNeverDeletesForeignObjects(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	e := apply.New(env.Client)
	stamp := apply.Stamp{SyncNamespace: "writ-system", SyncName: "shop", Commit: "c1", Source: "https://git.example.com/shop//apps"}

	// A CRD, its custom resource and the namespace they live in, in one commit.
	res, err := e.Apply(ctx, objects(t, widget, cm("a", "1"), crd, ns, cm("b", "1")), stamp, nil, true)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if len(res.Created) != 5 || len(res.Inventory) != 5 {
		t.Fatalf("created %v, inventory %v", res.Created, res.Inventory)
	}
	var got corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "a"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Labels[wellknown.ManagedLabel] != "writ-system.shop" || got.Annotations[wellknown.CommitAnnotation] != "c1" || got.Annotations[wellknown.SourceAnnotation] == "" {
		t.Fatalf("stamp missing: %v %v", got.Labels, got.Annotations)
	}
	if mf := got.ManagedFields; len(mf) == 0 || mf[0].Manager != wellknown.FieldManager {
		t.Fatalf("managed fields %v", mf)
	}

	// The same commit again changes nothing.
	res2, err := e.Apply(ctx, objects(t, widget, cm("a", "1"), crd, ns, cm("b", "1")), stamp, res.Inventory, true)
	if err != nil || len(res2.Unchanged) != 5 || len(res2.Created)+len(res2.Configured)+len(res2.Pruned) != 0 {
		t.Fatalf("re-apply: %+v %v", res2, err)
	}

	// Someone else's object in the namespace, and one of ours another sync has since taken over.
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "foreign"}}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	prev := append(res2.Inventory, apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "foreign"})

	// Next commit: b renamed to c, a changed.
	stamp.Commit = "c2"
	res3, err := e.Apply(ctx, objects(t, widget, cm("a", "2"), crd, ns, cm("c", "1")), stamp, prev, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res3.Pruned) != 1 || res3.Pruned[0].Name != "b" || len(res3.Created) != 1 || len(res3.Configured) != 1 {
		t.Fatalf("rename: created %v configured %v pruned %v", res3.Created, res3.Configured, res3.Pruned)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "b"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("b not pruned: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "foreign"}, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("an object Writ did not create was deleted: %v", err)
	}
	// The commit annotation moves only on what changed.
	for name, want := range map[string]string{"a": "c2", "c": "c2"} {
		var x corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &x); err != nil || x.Annotations[wellknown.CommitAnnotation] != want {
			t.Errorf("%s: commit annotation %q, want %q (%v)", name, x.Annotations[wellknown.CommitAnnotation], want, err)
		}
	}
	var space corev1.Namespace
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &space); err != nil || space.Annotations[wellknown.CommitAnnotation] != "c1" {
		t.Errorf("unchanged namespace restamped: %v %v", space.Annotations, err)
	}

	// Fields another manager owns and Git does not declare stay theirs.
	patch := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"},"data":{"other":"x"}}`)
	if err := env.Client.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "a"}}, client.RawPatch("application/apply-patch+yaml", patch), client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(ctx, objects(t, widget, cm("a", "2"), crd, ns, cm("c", "1")), stamp, res3.Inventory, true); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "a"}, &got); err != nil || got.Data["other"] != "x" || got.Data["k"] != "2" {
		t.Fatalf("other manager's field lost or ours not applied: %v %v", got.Data, err)
	}

	// prune=false keeps what Git dropped.
	res5, err := e.Apply(ctx, objects(t, widget, crd, ns, cm("c", "1")), stamp, res3.Inventory, false)
	if err != nil || len(res5.Pruned) != 0 {
		t.Fatalf("prune off: %v %v", res5.Pruned, err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "a"}, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("prune=false deleted a: %v", err)
	}
}

func TestApplyNeedsASyncName(t *testing.T) {
	harness.Require(t, env)
	if _, err := apply.New(env.Client).Apply(context.Background(), nil, apply.Stamp{}, nil, true); err == nil {
		t.Fatal("applied without an owner")
	}
}
