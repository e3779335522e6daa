package apply_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

// countingClient is a client whose per-object requests are counted: PATCHes (server-side applies
// and their dry runs) and unlabelled GETs of namespaced objects and namespaces.
func countingClient(t *testing.T) (client.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch || (r.Method == http.MethodGet && r.URL.Query().Get("labelSelector") == "" && strings.Contains(r.URL.Path, "/namespaces/")) {
				n.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With a Memo, a resync of what nobody touched sends no per-object request; an edit, a
// deletion or a change in Git still takes the full path and is healed, applied or reported.
func TestMemoSkipsOnlyUntouchedObjects(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	c, requests := countingClient(t)
	e := apply.New(c)
	e.Memo = apply.NewMemo()
	stamp := apply.Stamp{SyncNamespace: "writ-system", SyncName: "memo", Commit: "c1"}
	const nsName = "memo"
	docs := func(b string) []string {
		return []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + nsName + "}",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: " + nsName + "}\ndata: {k: '1'}",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: " + nsName + "}\ndata: {k: '" + b + "'}"}
	}
	res, err := e.Apply(ctx, objects(t, docs("1")...), stamp, nil, true)
	if err != nil || len(res.Created) != 3 {
		t.Fatalf("first apply: %v, created %v", err, res.Created)
	}
	if e.Memo.Len() != 3 {
		t.Fatalf("memo holds %d objects after the first apply, want 3", e.Memo.Len())
	}

	requests.Store(0)
	res, err = e.Apply(ctx, objects(t, docs("1")...), stamp, res.Inventory, true)
	if err != nil || len(res.Unchanged) != 3 || len(res.Created)+len(res.Configured) != 0 {
		t.Fatalf("no-op apply: %v, %+v", err, res)
	}
	drifts, err := e.Drift(ctx, objects(t, docs("1")...), stamp)
	if err != nil || len(drifts) != 0 {
		t.Fatalf("no-op drift check: %v, %v", err, drifts)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("no-op apply and drift check sent %d per-object requests, want 0", n)
	}

	// An out-of-band edit: reported by Drift, healed by Apply.
	edited := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: "a"}}
	if err := env.Client.Patch(ctx, edited, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"hacked"}}`)),
		client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	drifts, err = e.Drift(ctx, objects(t, docs("1")...), stamp)
	if err != nil || len(drifts) != 1 || drifts[0].Name != "a" {
		t.Fatalf("drift after an edit: %v, %+v", err, drifts)
	}
	res, err = e.Apply(ctx, objects(t, docs("1")...), stamp, res.Inventory, true)
	if err != nil || len(res.Configured) != 1 || res.Configured[0].Name != "a" {
		t.Fatalf("healing apply: %v, %+v", err, res)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(edited), edited); err != nil || edited.Data["k"] != "1" {
		t.Fatalf("not healed: %v %v", err, edited.Data)
	}

	// A deletion: recreated.
	if err := env.Client.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	res, err = e.Apply(ctx, objects(t, docs("1")...), stamp, res.Inventory, true)
	if err != nil || len(res.Created) != 1 || res.Created[0].Name != "b" {
		t.Fatalf("apply after a deletion: %v, %+v", err, res)
	}

	// A change in Git: applied, and the commit annotation moves.
	stamp.Commit = "c2"
	res, err = e.Apply(ctx, objects(t, docs("2")...), stamp, res.Inventory, true)
	if err != nil || len(res.Configured) != 1 || res.Configured[0].Name != "b" || len(res.Unchanged) != 2 {
		t.Fatalf("apply of a change: %v, %+v", err, res)
	}
	var b corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: nsName, Name: "b"}, &b); err != nil || b.Data["k"] != "2" || b.Annotations[wellknown.CommitAnnotation] != "c2" {
		t.Fatalf("b after the change: %v %v %v", err, b.Data, b.Annotations)
	}

	// Forgetting the sync brings the full path back.
	e.Memo.Forget("writ-system", "memo")
	requests.Store(0)
	if _, err := e.Apply(ctx, objects(t, docs("2")...), stamp, res.Inventory, true); err != nil {
		t.Fatal(err)
	}
	if requests.Load() == 0 {
		t.Error("after Forget, the resync sent no per-object request: the memo was still used")
	}
}
