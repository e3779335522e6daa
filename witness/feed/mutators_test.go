package feed

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// meshYAML is a MutatingWebhookConfiguration that never fires (its objectSelector matches no
// object, and it fails open), pointing at url.
func meshYAML(name, url string) string {
	return `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: ` + name + `
webhooks:
- name: inject.mesh.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig:
    url: ` + url + `
  objectSelector:
    matchLabels: {feed-test: never}
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
`
}

// serverSideApply applies doc as field manager with the tracking label and source annotation the
// reconciler stamps (labelled: with them), as the apiserver stores a write of the reconciler's.
func (s *site) serverSideApply(t *testing.T, doc, manager string, labelled bool, commit string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	if labelled {
		u.SetLabels(map[string]string{wellknown.ManagedLabel: s.ns + "." + s.key.Name})
		u.SetAnnotations(map[string]string{wellknown.SourceAnnotation: apply.SourceOf(s.gs.Spec.URL, "apps"), wellknown.CommitAnnotation: commit})
	}
	if err := env.Client.Patch(context.Background(), u, client.Apply, client.FieldOwner(manager), client.ForceOwnership); err != nil {
		t.Fatalf("server-side apply of %s as %s: %v", u.GetName(), manager, err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
}

// TestFeedAccountsForMutatingAdmission: the agent's write of what Git declares is denied
// (UnaccountedMutator) while a MutatingWebhookConfiguration or MutatingAdmissionPolicy exists that
// no verified commit declares, and admitted again once it is gone; one the commit declares, with
// the CA bundle an injector adds, is accounted for; a webhook another manager adds to it is not.
func TestFeedAccountsForMutatingAdmission(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	r := start(t)
	s := newSite(t, "feed-mutators", "1")
	s.repo.Commit(s.alice, "a mesh injector", map[string]string{"apps/mesh.yaml": meshYAML("feed-mesh", "https://mesh.example.com/inject")})
	c := s.repo.Git("rev-parse", "HEAD")
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	r.waitReady(t, s, "the Sync's index")

	write := s.update(t, s.storedSettings(t, c))
	judged := func(what string, want witness.Reason, mentions ...string) {
		t.Helper()
		harness.Eventually(t, what, 30*time.Second, func() (bool, string) {
			res := r.feed.Check(write)
			msg := res.Message()
			ok := res.Reason == want && res.Allowed == (want == witness.Declared)
			for _, m := range mentions {
				ok = ok && strings.Contains(msg, m)
			}
			return ok, msg
		})
	}
	unaccounted := func() float64 { v, _ := harness.Metric(r.reg, "writ_witness_unaccounted_mutators", nil); return v }
	judged("the agent's write with no mutator", witness.Declared)

	// One no commit declares, with the agent's own labels: denied while it exists.
	s.serverSideApply(t, meshYAML("feed-mallory", "https://mallory.example.com/mutate"), wellknown.FieldManager, true, c)
	judged("the write while feed-mallory exists", witness.UnaccountedMutator,
		"MutatingWebhookConfiguration.admissionregistration.k8s.io feed-mallory: no verified commit declares it")
	if n := unaccounted(); n != 1 {
		t.Errorf("writ_witness_unaccounted_mutators = %v, want 1", n)
	}
	if err := env.Client.Delete(ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "admissionregistration.k8s.io/v1",
		"kind": "MutatingWebhookConfiguration", "metadata": map[string]any{"name": "feed-mallory"}}}); err != nil {
		t.Fatal(err)
	}
	judged("the write once feed-mallory is deleted", witness.Declared)

	// What the commit declares, applied as the reconciler applies it, and its CA bundle filled in
	// by an injector: accounted for.
	s.serverSideApply(t, meshYAML("feed-mesh", "https://mesh.example.com/inject"), wellknown.FieldManager, true, c)
	caBundle := `{"webhooks":[{"name":"inject.mesh.example.com","clientConfig":{"caBundle":"` + fakeCABundle + `"}}]}`
	mesh := &unstructured.Unstructured{}
	mesh.SetAPIVersion("admissionregistration.k8s.io/v1")
	mesh.SetKind("MutatingWebhookConfiguration")
	mesh.SetName("feed-mesh")
	if err := env.Client.Patch(ctx, mesh, client.RawPatch(types.StrategicMergePatchType, []byte(caBundle)), client.FieldOwner("cainjector")); err != nil {
		t.Fatal(err)
	}
	judged("the write with the declared mesh injector and its CA bundle", witness.Declared)
	// Its URL changed by anyone: the commit declares another.
	if err := env.Client.Patch(ctx, mesh, client.RawPatch(types.StrategicMergePatchType,
		[]byte(`{"webhooks":[{"name":"inject.mesh.example.com","clientConfig":{"url":"https://mallory.example.com/inject"}}]}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	judged("the write with the mesh injector pointed elsewhere", witness.UnaccountedMutator,
		"feed-mesh: field .webhooks[name=inject.mesh.example.com].clientConfig.url differs from what commit "+c)
	s.serverSideApply(t, meshYAML("feed-mesh", "https://mesh.example.com/inject"), wellknown.FieldManager, true, c)
	judged("the write with the mesh injector healed", witness.Declared)
	// A webhook another manager adds: not declared.
	extra := strings.Replace(meshYAML("feed-mesh", "https://mallory.example.com/mutate"), "inject.mesh.example.com", "more.mallory.example.com", 1)
	s.serverSideApply(t, extra, "helm", false, c)
	judged("the write with a webhook added to the mesh injector", witness.UnaccountedMutator,
		"feed-mesh: field .webhooks[name=more.mallory.example.com] (field manager \"helm\") is not declared by commit "+c)
}

// fakeCABundle is base64 of a PEM-looking string: the apiserver does not parse a caBundle.
const fakeCABundle = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

// TestFeedAccountsForMutatingAdmissionPolicies: a MutatingAdmissionPolicy and a binding no
// commit declares deny the agent's writes; trusting the policy by name trusts its binding too;
// one matching only Writ's AuditEvents (the audit submitter's) needs no accounting.
func TestFeedAccountsForMutatingAdmissionPolicies(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	r := start(t)
	m := r.feed.mut
	policy := func(name, group, resource string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{"apiGroups": []any{group}, "apiVersions": []any{"*"},
					"operations": []any{"CREATE"}, "resources": []any{resource}}}},
				"matchConditions":    []any{map[string]any{"name": "never", "expression": "false"}},
				"reinvocationPolicy": "Never",
				"mutations": []any{map[string]any{"patchType": "ApplyConfiguration", "applyConfiguration": map[string]any{
					"expression": `Object{metadata: Object.metadata{labels: {"team": "mallory"}}}`}}},
			}}}
	}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
		"metadata": map[string]any{"name": "feed-mallory"}, "spec": map[string]any{"policyName": "feed-mallory"}}}
	for _, o := range []*unstructured.Unstructured{policy("feed-mallory", "apps", "deployments"), binding, policy("feed-audit", "writ.dev", "auditevents")} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	names := func(list []unaccounted) string {
		var s []string
		for _, u := range list {
			s = append(s, u.key.String()+" ("+u.why+")")
		}
		return strings.Join(s, "; ")
	}
	want := "MutatingAdmissionPolicy.admissionregistration.k8s.io feed-mallory (no verified commit declares it); " +
		"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io feed-mallory (no verified commit declares it)"
	harness.Eventually(t, "the policy and its binding unaccounted for, the audit-only policy not", 30*time.Second, func() (bool, string) {
		got := names(m.current())
		return got == want, got
	})
	allowed := witness.Result{Allowed: true, Reason: witness.Declared, Operation: witness.Update, Object: witness.Key{Kind: "ConfigMap", Namespace: "x", Name: "y"}}
	if res := m.vet(allowed, func(types.NamespacedName) bool { return false }); res.Allowed || res.Reason != witness.UnaccountedMutator ||
		!strings.Contains(res.Message(), "feed-mallory (and 1 more): no verified commit declares it") {
		t.Errorf("vet while they exist: %+v: %s", res, res.Message())
	}
	if res := m.vet(witness.Result{Allowed: true, Reason: witness.Prune, Operation: witness.Delete}, nil); !res.Allowed {
		t.Errorf("a prune is vetted: %+v (a DELETE is not mutated)", res)
	}
	// The same cluster, the policy trusted by name.
	k, err := ParseTrustedMutator("MutatingAdmissionPolicy/feed-mallory")
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.trusted = map[witness.Key]bool{k: true}
	m.seen.Add(1) // recompute
	m.mu.Unlock()
	if got := names(m.current()); got != "" {
		t.Errorf("with the policy trusted, unaccounted: %s", got)
	}
	for _, bad := range []string{"MutatingAdmissionPolicyBinding/x", "MutatingWebhookConfiguration/", "ValidatingWebhookConfiguration/x", "x"} {
		if _, err := ParseTrustedMutator(bad); err == nil {
			t.Errorf("ParseTrustedMutator(%q) accepted", bad)
		}
	}
}
