package reconcile_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// TestOverHTTPWithACRDAndItsResource fetches over git's smart HTTP with basic auth from a Secret
// and applies a CRD and a custom resource of it from the same signed commit.
func TestOverHTTPWithACRDAndItsResource(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	start(t)
	g := fixtures.NewGPG(t)
	carol := g.Key(t, "Carol", "carol@example.com", "ed25519", "never")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(carol, "gadgets", map[string]string{
		"deploy/crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
`,
		"deploy/ns.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata: {name: gadgets}\n",
		"deploy/gadget.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: gadgets}\nspec: {size: 3}\n",
	})
	url := fixtures.ServeGitHTTP(t, repo, "writ", "s3cret")
	if err := env.EnsureNamespace(ctx, "gitops-http"); err != nil {
		t.Fatal(err)
	}
	fast := &metav1.Duration{Duration: time.Second}
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "gadgets"}, Spec: provenancev1.TrustPolicySpec{OpenPGP: &provenancev1.OpenPGPTrust{Keys: []string{carol.PublicKey}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-http", Name: "git"}, Data: map[string][]byte{"username": []byte("writ"), "password": []byte("s3cret")}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-http", Name: "gadgets"}, Spec: reconcilev1.GitSourceSpec{
			URL: url, TrustPolicy: "gadgets", SecretRef: &reconcilev1.LocalObjectReference{Name: "git"}, Interval: fast}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-http", Name: "gadgets"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "gadgets"}, Path: "deploy", Interval: fast}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the custom resource applied", func() (bool, string) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"})
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "gadgets", Name: "g1"}, u)
		if err != nil {
			var s reconcilev1.Sync
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-http", Name: "gadgets"}, &s)
			return false, err.Error() + " / " + conditions(s.Status.Conditions)
		}
		return u.GetAnnotations()["writ.dev/commit"] == commit, "commit annotation " + u.GetAnnotations()["writ.dev/commit"]
	})
}

func conditions(cs []metav1.Condition) string {
	out := ""
	for _, c := range cs {
		out += c.Type + "=" + string(c.Status) + " " + c.Reason + ": " + c.Message + "; "
	}
	return out
}
