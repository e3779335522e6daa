package charts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
)

// noCRD lists kinds whose CRD the control plane cannot have offline, checked by the render tests
// only: none since the ServiceMonitor CRD comes from the Prometheus Operator's module.
var noCRD = map[string]string{}

// Every object of every combination is applied server-side, with strict field validation, and
// accepted; then the apiserver says what each service account may do.
func TestApplyAndRBAC(t *testing.T) {
	harness.Require(t, env)
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, c.namespace, c.values)
			removeWebhooks := install(t, r)
			if f := live[c.name]; f != nil {
				f(t, r)
			}
			// Gone before the RBAC checks: with no webhook pod behind it, it would fail requests.
			removeWebhooks()
			rbac[c.name](t, r.namespace)
		})
	}
}

// install applies r in Helm's spirit (CRDs, then the rest, the admission configuration last) and
// removes it again when the test ends, keeping the CRDs. It returns a function that removes the
// webhook configuration at once.
func install(t *testing.T, r rendering) func() {
	t.Helper()
	ctx := context.Background()
	for _, o := range append([]*unstructured.Unstructured{{Object: map[string]any{"metadata": map[string]any{"namespace": r.namespace}}}}, r.objects...) {
		if ns := o.GetNamespace(); ns != "" {
			if err := env.EnsureNamespace(ctx, ns); err != nil {
				t.Fatal(err)
			}
		}
	}
	dyn := dynamic.NewForConfigOrDie(env.Config)
	admin := applier{dyn: dyn, mapper: env.Client.RESTMapper()}
	var crds, rest, policies, webhooks []*unstructured.Unstructured
	for _, o := range r.objects {
		switch {
		case noCRD[o.GetKind()] != "":
			t.Logf("%s %s: not applied: %s", o.GetKind(), o.GetName(), noCRD[o.GetKind()])
		case o.GetKind() == "CustomResourceDefinition":
			crds = append(crds, o)
		case o.GetKind() == "ValidatingWebhookConfiguration":
			webhooks = append(webhooks, o)
		case strings.HasPrefix(o.GetAPIVersion(), "admissionregistration.k8s.io/"):
			policies = append(policies, o)
		default:
			rest = append(rest, o)
		}
	}
	t.Cleanup(func() {
		uninstall(t, admin, append(append(append([]*unstructured.Unstructured{}, webhooks...), policies...), rest...))
	})
	for _, o := range crds {
		admin.apply(t, o)
		waitEstablished(t, admin, o)
	}
	for _, o := range rest {
		admin.apply(t, o)
	}
	// The control plane's static protection lets only an agent or a maintainer create admission
	// policies (a MutatingAdmissionPolicy could rewrite what the agent applies): install them as
	// the maintainer.
	maint := applier{dyn: dynamic.NewForConfigOrDie(env.As(maintainer, "system:masters")), mapper: env.Client.RESTMapper()}
	for _, o := range policies {
		maint.apply(t, o)
	}
	// Once the fallback policy is bound, only the agents may change writ-* webhook
	// configurations: install them as the agent, as the README says.
	agent := agentApplier(t, r)
	for _, o := range webhooks {
		agent.apply(t, o)
	}
	for _, o := range r.objects {
		if noCRD[o.GetKind()] == "" {
			admin.mustExist(t, o)
		}
	}
	return func() { removeWebhooks(t, r, webhooks) }
}

// removeWebhooks removes Writ's webhook configurations as a person does it, since not even the
// agent may while the fallback is bound: a maintainer of the static protection unbinds writ-guard,
// the admin deletes them, and writ-guard is bound again (as anyone may where it is not bound) and
// in force once an admin's write in Writ's namespace is denied again.
func removeWebhooks(t *testing.T, r rendering, webhooks []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	admin := applier{dyn: dynamic.NewForConfigOrDie(env.Config), mapper: env.Client.RESTMapper()}
	binding := r.find("ValidatingAdmissionPolicyBinding", webhook.FallbackPolicyName)
	if binding != nil {
		maint := applier{dyn: dynamic.NewForConfigOrDie(env.As(maintainer, "system:masters")), mapper: env.Client.RESTMapper()}
		maint.delete(t, binding)
	}
	for _, o := range webhooks {
		eventually(t, "deleting "+o.GetKind()+" "+o.GetName(), func() error { return admin.tryDelete(o) })
	}
	if binding == nil {
		return
	}
	if err := env.Client.Create(ctx, binding.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: "writ-fallback-probe"}}
	eventually(t, "writ-guard in force again", func() error {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+webhook.FallbackPolicyName+"'") {
			return fmt.Errorf("an admin's write in Writ's namespace is not denied by the fallback: %v", err)
		}
		return nil
	})
}

// agentApplier acts as the first agent the fallback policy trusts (with full rights), or as the
// admin when the policy is off.
func agentApplier(t *testing.T, r rendering) applier {
	t.Helper()
	cfg := env.Config
	if cm := r.find("ConfigMap", "writ-guard-agents"); cm != nil {
		agents, _, _ := unstructured.NestedString(cm.Object, "data", "agents")
		cfg = env.As(strings.Split(agents, "\n")[0], "system:masters")
	}
	return applier{dyn: dynamic.NewForConfigOrDie(cfg), mapper: env.Client.RESTMapper()}
}

func uninstall(t *testing.T, admin applier, objs []*unstructured.Unstructured) {
	// The bindings first: while they are bound, the policy's own ConfigMap, Writ's keys and
	// webhook configurations are protected from the admin (and the webhook configurations from
	// the agent too). Only a maintainer of the static protection may remove them.
	maint := applier{dyn: dynamic.NewForConfigOrDie(env.As(maintainer, "system:masters")), mapper: env.Client.RESTMapper()}
	for _, kind := range []string{"ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingAdmissionPolicy"} {
		for _, o := range objs {
			if o.GetKind() == kind {
				if err := admin.tryDelete(o); err == nil || !strings.Contains(err.Error(), "writ-guard-protection.static.k8s.io") {
					t.Errorf("the admin deleting %s %s: %v, want the static protection's denial", kind, o.GetName(), err)
				}
				maint.delete(t, o)
			}
		}
	}
	for _, o := range objs {
		if o.GetKind() == "ValidatingWebhookConfiguration" ||
			!strings.HasPrefix(o.GetAPIVersion(), "admissionregistration.k8s.io/") && noCRD[o.GetKind()] == "" {
			eventually(t, "deleting "+o.GetKind()+" "+o.GetName(), func() error { return admin.tryDelete(o) })
		}
	}
}

type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func (a applier) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource).Namespace(o.GetNamespace()), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// apply sends o as a server-side apply with strict field validation, as `helm install
// --server-side` and `kubectl apply --server-side` do.
func (a applier) apply(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	res, err := a.resource(o)
	if err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	body, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := res.Patch(context.Background(), o.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "helm", Force: &force, FieldValidation: "Strict"}); err != nil {
		t.Fatalf("the apiserver refused %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
}

func (a applier) mustExist(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	res, err := a.resource(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Get(context.Background(), o.GetName(), metav1.GetOptions{}); err != nil {
		t.Errorf("%s %s/%s not there after the apply: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
}

func (a applier) tryDelete(o *unstructured.Unstructured) error {
	res, err := a.resource(o)
	if err != nil {
		return err
	}
	if err := res.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (a applier) delete(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	if err := a.tryDelete(o); err != nil {
		t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func waitEstablished(t *testing.T, a applier, crd *unstructured.Unstructured) {
	t.Helper()
	eventually(t, "CRD "+crd.GetName()+" established", func() error {
		res, err := a.resource(crd)
		if err != nil {
			return err
		}
		live, err := res.Get(context.Background(), crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				if r, ok := env.Client.RESTMapper().(meta.ResettableRESTMapper); ok {
					r.Reset()
				}
				return nil
			}
		}
		return errors.New("not established")
	})
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Errorf("%s: %v", what, err)
}

// access is one question to the authorizer: may the account do verb on resource?
type access struct {
	verb, group, resource, subresource, namespace, name string
	allowed                                             bool
}

// can asks the apiserver (SubjectAccessReview) whether each access holds for the service
// account, as a pod running as it would be authorized.
func can(t *testing.T, namespace, account string, checks []access) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	user := "system:serviceaccount:" + namespace + ":" + account
	for _, c := range checks {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Group: c.group, Resource: c.resource,
				Subresource: c.subresource, Namespace: c.namespace, Name: c.name},
		}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != c.allowed {
			t.Errorf("%s: %s %s/%s %q in %q: allowed=%v, want %v (%s)", account, c.verb, c.group, c.resource+subOf(c.subresource), c.name,
				c.namespace, got.Status.Allowed, c.allowed, got.Status.Reason)
		}
	}
}

func subOf(s string) string {
	if s == "" {
		return ""
	}
	return "/" + s
}

// rbac holds, per combination, what each account may and may not do.
var rbac = map[string]func(t *testing.T, ns string){
	"defaults": func(t *testing.T, ns string) {
		webhookAccount(t, ns)
		controllerAccount(t, ns, true)
		// Without webhook.witnessSecretNamespaces the witness's get on Secrets is cluster-wide,
		// Writ's own namespace included (README, "The witness: who holds the index").
		can(t, ns, "writ-webhook", []access{{"get", "", "secrets", "", ns, "writ-audit-signing-key", true}})
		can(t, ns, "writ-controller", []access{
			{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "writ-guard", false},
		})
		// The agent applies whatever Git holds: cluster-admin by default.
		can(t, ns, "writ-reconciler", []access{
			{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", "", true},
			{"delete", "", "namespaces", "", "", "shop", true},
		})
	},
	"self-managed-tls": func(t *testing.T, ns string) {
		webhookAccount(t, ns)
		controllerAccount(t, ns, true)
		can(t, ns, "writ-controller", []access{
			{"get", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "writ-guard", true},
			{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "writ-guard", true},
			{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "some-other-webhook", false},
			{"delete", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "writ-guard", false},
		})
	},
	"postgres-issuer-no-sealing": func(t *testing.T, ns string) {
		webhookAccount(t, ns)
		controllerAccount(t, ns, false)
		// webhook.witnessSecretNamespaces [shop]: the witness gets Secrets there and nowhere else.
		can(t, ns, "writ-webhook", []access{
			{"get", "", "secrets", "", ns, "writ-audit-signing-key", false},
			{"get", "", "secrets", "", "db", "git-credentials", false},
			{"list", "", "secrets", "", "shop", "", false},
		})
		// Without applyClusterRole the reconciler can do only what its own role says.
		can(t, ns, "writ-reconciler", []access{
			{"list", "writ.dev", "gitsources", "", "", "", true},
			{"watch", "writ.dev", "syncs", "", "shop", "", true},
			{"patch", "writ.dev", "syncs", "status", "shop", "app", true},
			{"get", "writ.dev", "trustpolicies", "", "", "ssh", true},
			{"watch", "writ.dev", "breakglassrequests", "", "", "", true}, // grants pause healing
			{"update", "writ.dev", "breakglassrequests", "", "", "x", false},
			{"get", "", "secrets", "", "shop", "git-credentials", true},
			{"impersonate", "", "serviceaccounts", "", "shop", "deployer", true},
			{"create", "writ.dev", "auditevents", "", ns, "", true},
			{"update", "coordination.k8s.io", "leases", "", ns, "writ-reconciler.writ.dev", true},
			{"create", "apps", "deployments", "", "shop", "", false},
			{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", "", false},
			{"delete", "", "namespaces", "", "", "shop", false},
			{"update", "writ.dev", "guardpolicies", "", "", "writ", false},
			{"create", "", "secrets", "", "shop", "", false},
			{"impersonate", "", "users", "", "", "admin", false},
			{"impersonate", "", "groups", "", "", "system:masters", false},
			{"delete", "writ.dev", "auditevents", "", ns, "x", false},
		})
	},
	"custom-ports-no-pdb": func(t *testing.T, ns string) {
		webhookAccount(t, ns)
		controllerAccount(t, ns, true)
	},
	"reconciler-only": func(t *testing.T, ns string) {
		can(t, ns, "writ-webhook", []access{{"list", "writ.dev", "guardpolicies", "", "", "", false}})
		can(t, ns, "writ-controller", []access{{"get", "", "secrets", "", ns, "writ-audit-signing-key", false}})
		can(t, ns, "writ-reconciler", []access{{"list", "writ.dev", "gitsources", "", "", "", true}})
	},
}

// webhookAccount: the guard reads its policies and namespaces, hands audit events over; its
// witness reads GitSources, Syncs and TrustPolicies and gets (never lists or watches) the
// credential Secrets GitSources name; it writes none of them.
func webhookAccount(t *testing.T, ns string) {
	t.Helper()
	can(t, ns, "writ-webhook", []access{
		{"list", "writ.dev", "guardpolicies", "", "", "", true},
		{"watch", "writ.dev", "breakglassrequests", "", "", "", true},
		{"get", "", "namespaces", "", "", "shop", true},
		{"watch", "apps", "replicasets", "", "", "", true}, // the owners of exempt writes
		{"list", "bitnami.com", "sealedsecrets", "", "", "", true},
		{"update", "apps", "deployments", "", "shop", "web", false},
		{"create", "writ.dev", "auditevents", "", ns, "", true},
		{"create", "writ.dev", "auditevents", "", "shop", "", false},
		{"list", "writ.dev", "gitsources", "", "", "", true},
		{"watch", "writ.dev", "syncs", "", "shop", "", true},
		{"get", "writ.dev", "trustpolicies", "", "", "ssh", true},
		{"get", "", "secrets", "", "shop", "git-credentials", true},
		{"list", "", "secrets", "", "", "", false},
		{"watch", "", "secrets", "", "shop", "", false},
		{"update", "", "secrets", "", "shop", "git-credentials", false},
		{"patch", "writ.dev", "gitsources", "status", "shop", "app", false},
		{"update", "writ.dev", "syncs", "", "shop", "app", false},
		{"update", "writ.dev", "trustpolicies", "", "", "ssh", false},
		{"update", "writ.dev", "guardpolicies", "", "", "writ", false},
		{"update", "writ.dev", "breakglassrequests", "", "", "x", false},
		{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", "writ-guard", false},
		{"create", "", "pods", "", ns, "", false},
	})
}

// controllerAccount: audit keys and events in Writ's namespace; Secrets everywhere only for
// sealing.
func controllerAccount(t *testing.T, ns string, sealing bool) {
	t.Helper()
	can(t, ns, "writ-controller", []access{
		{"get", "", "secrets", "", ns, "writ-audit-signing-key", true},
		{"create", "", "secrets", "", ns, "", true},
		{"list", "writ.dev", "auditevents", "", "", "", true},
		{"delete", "writ.dev", "auditevents", "", ns, "x", true},
		{"delete", "writ.dev", "auditevents", "", "shop", "x", false},
		{"update", "", "configmaps", "", ns, "writ-audit-public-key", true},
		{"update", "", "configmaps", "", ns, "writ-guard-agents", false},
		{"update", "coordination.k8s.io", "leases", "", ns, "writ-controller.writ.dev", true},
		{"list", "", "secrets", "", "shop", "", sealing},
		{"create", "", "secrets", "", "shop", "", sealing},
		{"delete", "", "secrets", "", ns, "writ-audit-signing-key", false},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", "", false},
		{"delete", "", "namespaces", "", "", "shop", false},
		{"update", "writ.dev", "guardpolicies", "", "", "writ", false},
		{"impersonate", "", "serviceaccounts", "", "shop", "deployer", false},
	})
}
