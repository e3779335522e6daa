package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"text/template"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// The chart's template and webhook.FallbackPolicy build the same objects, with the chart's
// default values and with others.
func TestFallbackChartMatchesGo(t *testing.T) {
	tmpl, err := os.ReadFile("../charts/writ/templates/guard-validatingadmissionpolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../charts/writ/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	flux := []string{"system:serviceaccount:flux-system:kustomize-controller", "system:serviceaccount:flux-system:helm-controller"}
	// The chart adds whoever sets writ-guard's caBundle: by default cert-manager's cainjector.
	cainjector := "system:serviceaccount:cert-manager:cert-manager-cainjector validatingwebhookconfigurations.admissionregistration.k8s.io"
	cases := []struct {
		name string
		set  func(v map[string]any)
		opts webhook.FallbackOptions
	}{
		{"defaults", func(map[string]any) {}, webhook.FallbackOptions{Namespace: "writ-system",
			Exempt: append(append([]string{}, webhook.DefaultFallbackExempt...), cainjector, webhook.SealingExemption("writ-system"))}},
		{"flux", func(v map[string]any) {
			v["writReconciler"], v["agents"], v["exempt"] = false, []any{flux[0], flux[1]}, []any{"group:system:nodes pods/status"}
		}, webhook.FallbackOptions{Namespace: "gitops", Agents: flux, Exempt: []string{"group:system:nodes pods/status", cainjector, webhook.SealingExemption("gitops")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal(raw, &values); err != nil {
				t.Fatal(err)
			}
			c.set(values["guardFallback"].(map[string]any))
			got := renderChart(t, string(tmpl), c.opts.Namespace, values)
			policy, binding, cm, err := webhook.FallbackPolicy(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []client.Object{cm, policy, binding} {
				if len(got) != 3 {
					t.Fatalf("the template renders %d objects, want 3", len(got))
				}
				g := want.DeepCopyObject().(client.Object)
				if err := yaml.UnmarshalStrict(got[i], g); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				g.SetAnnotations(nil) // Helm's hook annotations are the chart's business
				if !equality.Semantic.DeepEqual(g, want) {
					w, _ := yaml.Marshal(want)
					r, _ := yaml.Marshal(g)
					t.Errorf("the chart and webhook.FallbackPolicy differ on %s:\nchart:\n%s\nGo:\n%s", want.GetName(), r, w)
				}
			}
		})
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	values["guardFallback"].(map[string]any)["enabled"] = false
	if docs := renderChart(t, string(tmpl), "writ-system", values); len(docs) != 0 {
		t.Errorf("guardFallback.enabled=false still renders %d objects", len(docs))
	}
}

// renderChart renders a template the way Helm would for these plain substitutions and returns its
// non-empty YAML documents.
func renderChart(t *testing.T, text, namespace string, values map[string]any) [][]byte {
	t.Helper()
	tp, err := template.New("chart").Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, map[string]any{"Release": map[string]any{"Namespace": namespace}, "Values": values}); err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range strings.Split(b.String(), "\n---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func TestFallbackOptionsAreValidated(t *testing.T) {
	for _, o := range []webhook.FallbackOptions{
		{},
		{Namespace: "Writ System"},
		{Namespace: "writ-system", Agents: []string{"system:serviceaccount:writ-system:writ-reconciler "}},
		{Namespace: "writ-system", Agents: []string{"*"}},
		{Namespace: "writ-system", Exempt: []string{"system:serviceaccount:kube-system:horizontal-pod-autoscaler"}},
		{Namespace: "writ-system", Exempt: []string{"system:serviceaccount:kube-system:x *"}},
		{Namespace: "writ-system", Exempt: []string{"group:system:nodes\tpods"}},
	} {
		if _, _, _, err := webhook.FallbackPolicy(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

func ExampleFallbackPolicy() {
	policy, binding, params, err := webhook.FallbackPolicy(webhook.FallbackOptions{
		Namespace: "writ-system",
		Agents:    []string{"system:serviceaccount:flux-system:kustomize-controller"},
	})
	if err != nil {
		panic(err)
	}
	// Apply params first: the binding denies everything it matches while they are missing.
	fmt.Println(policy.Name, binding.Spec.ParamRef.Namespace+"/"+params.Name)
	fmt.Println(params.Data[webhook.FallbackAgentsKey])
	// Output:
	// writ-guard writ-system/writ-guard-agents
	// system:serviceaccount:flux-system:kustomize-controller
}

// fallbackEnv is what TestFallbackPolicyWithoutTheWebhook works with.
type fallbackEnv struct {
	ctx                     context.Context
	agent, ctrl, hpa, admin client.Client
	hpaCfg                  *rest.Config
	policy                  *admissionregistrationv1.ValidatingAdmissionPolicy
	binding                 *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	params                  *corev1.ConfigMap
}

const (
	fbProd          = "fallback-prod" // labelled writ.dev/protected=true
	fbDev           = "fallback-dev"  // not labelled
	fbWrit          = "writ-system"   // Writ's namespace, as the chart installs it
	fbWebhookConfig = "writ-guard-test"
)

// The fallback policy on the real apiserver: with the guard webhook serving, then crashed (still
// registered, failing closed), then with its configuration gone, the apiserver itself keeps the
// core rule. It works in namespaces of its own and Writ's, and removes everything it creates
// (restoring the webhook configuration) so the package's other tests see the cluster as before.
//
// What the apiserver does not let a ValidatingAdmissionPolicy protect, asserted where it can be:
//   - ValidatingAdmissionPolicies and their bindings (and MutatingAdmissionPolicies and theirs):
//     the apiserver never evaluates API-created policies for them (k8s.io/apiserver
//     pkg/admission/plugin/policy/generic/plugin.go, admissionConfigResources), so writ-guard
//     cannot protect itself. The static policy webhook.StaticProtection, loaded from the control
//     plane's staticManifestsDir (as this package's control plane does), can: see
//     staticProtection. Without it, removing the binding is the audited first step of any
//     bypass. Webhook configurations, by contrast, are evaluated: writ-* is protected below.
//   - Requests that never reach admission: reads (an admin can still read the keys: that is
//     RBAC's job), etcd, and the static pods of a node.
//   - Identities: the policy trusts user names, so whoever may impersonate an agent, a node or
//     an exempt controller, or run a pod as one (editing the agent's Deployment, exec into its
//     pod, creating a pod with its service account), passes. It denies token requests for the
//     agents; keep the agents' namespaces labelled protected too, and impersonation with RBAC.
//   - system:apiserver is not evaluated (matchConditions), as in the webhook.
//   - Expiry: CEL has no clock, so a break-glass grant listed in the ConfigMap lasts until Writ's
//     controller removes it; the webhook, while up, still enforces its expiry.
//   - Approver groups of break-glass requests: the policy checks only the structure (yourself,
//     unapproved, approved by someone else, immutable once approved); grant update on
//     breakglassrequests to approvers only.
//   - Mutation: a MutatingAdmissionPolicy (never evaluated by policies) or a mutating webhook
//     not named writ-* can rewrite what the agent applies; the request is still the agent's.
//   - Granularity: exemptions name resources, not operations, and the policy cannot see
//     GuardPolicies, so selecting namespaces by name, Warn mode, tracked objects outside protected
//     namespaces and per-policy agents remain the webhook's alone. AuditEvents are left to RBAC.
//   - Drains: evictions of protected pods are denied (as by the webhook) unless the drainer has
//     an exemption line with pods/eviction.
//   - The kube-system, kube-public and kube-node-lease namespaces are never matched.
func TestFallbackPolicyWithoutTheWebhook(t *testing.T) {
	harness.Require(t, env)
	f := setupFallback(t)
	ctx, admin := f.ctx, f.admin
	cm := func(ns, name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"k": "v"}}
	}
	patch := func(c client.Client, o client.Object, body string, opts ...client.PatchOption) error {
		return c.Patch(ctx, o, client.RawPatch("application/merge-patch+json", []byte(body)), opts...)
	}
	edit := func(c client.Client) error { return patch(c, cm(fbProd, "app-config"), `{"data":{"k":"hacked"}}`) }

	// Crashed: still registered, failing closed. The apiserver runs policies before webhooks, so a
	// non-agent is refused by the policy and never waits on the webhook; the agent passes the
	// policy and is then refused by the unreachable webhook.
	denied(t, "admin edit, webhook down", edit(admin), `update of configmaps fallback-prod/app-config by "`, "change it in Git")
	if err := edit(f.agent); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("agent edit with the webhook registered but down: %v", err)
	}
	// Kubelets are never sent to the webhook (matchConditions), so nodes keep reporting status.
	node := as(t, "system:node:fallback-n1", "system:nodes")
	if err := node.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fallback-n1"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Errorf("a kubelet registers its node with the webhook down: %v", err)
	}
	heartbeat := `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status",` +
		`"lastHeartbeatTime":"2026-11-22T00:00:00Z","lastTransitionTime":"2026-11-22T00:00:00Z"}]}}`
	if err := node.Status().Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fallback-n1"}}, client.RawPatch("application/merge-patch+json", []byte(heartbeat))); err != nil {
		t.Errorf("a kubelet's status heartbeat with the webhook down: %v", err)
	}
	if err := patch(admin, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fallback-n1"}}, `{"metadata":{"labels":{"team":"x"}}}`); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("an admin's node edit did not go to the (down) webhook: %v", err)
	}

	// Gone: webhooks are never called for webhook configurations, but policies are.
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: fbWebhookConfig}}
	denied(t, "admin deletes the webhook configuration", admin.Delete(ctx, vwc), "only the GitOps agent may change its policies, CRDs and webhook")
	denied(t, "admin deletes every webhook configuration (dry run)", clientset(t, env.Config).AdmissionregistrationV1().ValidatingWebhookConfigurations().
		DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{}), fbWebhookConfig)
	if err := f.agent.Delete(ctx, vwc); err != nil {
		t.Fatalf("the agent deletes the webhook configuration: %v", err)
	}

	adminCS := clientset(t, env.Config)
	alice, bob := as(t, "alice", "devs"), as(t, "bob", "leads")
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "writ-audit-signing-key"}}
	params := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: webhook.FallbackParamsName}}
	token := func(ns, sa string) error {
		_, err := adminCS.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err
	}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"admin edits", edit(admin)},
		{"admin deletes", admin.Delete(ctx, cm(fbProd, "app-config"))},
		{"admin creates", admin.Create(ctx, cm(fbProd, "new"))},
		{"admin deletes a collection", adminCS.CoreV1().ConfigMaps(fbProd).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})},
		{"dry-run edit", patch(admin, cm(fbProd, "app-config"), `{"data":{"k":"x"}}`, client.DryRunAll)},
		{"system:masters user edits", edit(as(t, "root", "system:masters"))},
		{"ordinary user edits", edit(alice)},
		{"look-alike service account namespace", edit(as(t, "system:serviceaccount:writ-systemx:writ-reconciler"))},
		{"agent name with a trailing space", edit(as(t, "system:serviceaccount:writ-system:writ-reconciler "))},
		{"agent name as a plain user with its groups", edit(as(t, "writ-reconciler", "system:serviceaccounts", "system:serviceaccounts:writ-system"))},
		{"scale subresource by a user", scaleTo(ctx, env.As("alice"), 9)},
		{"the HPA edits the deployment spec", patch(f.hpa, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web"}}, `{"spec":{"minReadySeconds":7}}`)},
		{"status subresource", admin.Status().Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"status":{"replicas":5}}`)))},
		{"exec (CONNECT)", connectTo(ctx, adminCS, "exec")},
		{"port-forward (CONNECT)", connectTo(ctx, adminCS, "portforward")},
		{"remove the protection label", patch(admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fbProd}}, `{"metadata":{"labels":{"writ.dev/protected":null}}}`)},
		{"relabel the protected namespace", patch(admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fbProd}}, `{"metadata":{"labels":{"team":"mallory"}}}`)},
		{"delete the protected namespace", admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fbProd}}, client.DryRunAll)},
		{"protect a namespace outside Git", patch(admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fbDev}}, `{"metadata":{"labels":{"writ.dev/protected":"true"}}}`)},
		{"delete Writ's namespace", admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fbWrit}}, client.DryRunAll)},
		{"delete a GuardPolicy", admin.Delete(ctx, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback"}})},
		{"edit a GuardPolicy", patch(admin, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback"}}, `{"spec":{"mode":"Warn"}}`)},
		{"create a TrustPolicy", admin.Create(ctx, &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback"},
			Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: "mallory@example.com ssh-ed25519 AAAA"}}})},
		{"delete the GuardPolicy CRD", admin.Delete(ctx, crd("guardpolicies.writ.dev"), client.DryRunAll)},
		// A delete by collection names no object in the request: the names come from the objects.
		{"delete every CRD (dry run)", dynamic.NewForConfigOrDie(env.Config).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{})},
		{"delete every Secret in Writ's namespace (dry run)", adminCS.CoreV1().Secrets(fbWrit).
			DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{})},
		{"edit the audit signing key", patch(admin, key, `{"stringData":{"audit.key":"mallory"}}`)},
		{"plant a sealing key", admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "sealed-secrets-keymallory",
			Labels: map[string]string{"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}}})},
		{"add an agent", patch(admin, params, `{"data":{"agents":"default\n"}}`)},
		{"delete the agent list", admin.Delete(ctx, params, client.DryRunAll)},
		{"Writ's controller adds an agent", patch(f.ctrl, params, `{"data":{"agents":"system:serviceaccount:writ-system:writ-controller\n"}}`)},
		{"Writ's controller edits a ConfigMap (it may only unseal Secrets)", patch(f.ctrl, cm(fbProd, "app-config"), `{"data":{"k":"ctrl"}}`)},
		{"mint the agent's token", token(fbWrit, "writ-reconciler")},
		{"a break-glass request for someone else", alice.Create(ctx, breakGlass("fallback-for-bob", "bob", ""))},
		{"a pre-approved break-glass request", alice.Create(ctx, breakGlass("fallback-approved", "alice", "bob"))},
	} {
		denied(t, d.name, d.err, "writ: ")
	}

	staticProtection(t, f)

	// Allowed: the agent, Kubernetes' own exempt writes, and what is not protected.
	for _, a := range []struct {
		name string
		err  error
	}{
		{"agent edits", patch(f.agent, cm(fbProd, "app-config"), `{"data":{"k":"v2"}}`)},
		{"agent creates", f.agent.Create(ctx, cm(fbProd, "from-git"))},
		{"agent applies", f.agent.Patch(ctx, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "applied"}}, client.Apply, client.FieldOwner("writ"), client.ForceOwnership)},
		{"agent deletes", f.agent.Delete(ctx, cm(fbProd, "from-git"))},
		{"Writ's controller unseals a Secret", f.ctrl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "unsealed"}, StringData: map[string]string{"k": "v"}})},
		{"the HPA scales", scaleTo(ctx, f.hpaCfg, 3)},
		{"kube-system keeps working", alice.Create(ctx, cm("kube-system", "fallback-alice"))},
		{"an unprotected namespace", alice.Create(ctx, cm(fbDev, "alice"))},
		{"an ordinary Secret in Writ's namespace", patch(admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-other"}}, `{"stringData":{"x":"y"}}`)},
		{"a token for another service account", token(fbDev, "robot")},
		{"Writ's controller rotates the audit key", patch(f.ctrl, key, `{"stringData":{"audit.key":"rotated"}}`)},
		{"the agent changes GuardPolicies", f.agent.Create(ctx, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback-agent"},
			Spec: guardv1.GuardPolicySpec{Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"fallback-none"}}}}})},
		{"a break-glass request for yourself", alice.Create(ctx, breakGlass("fallback-alice", "alice", ""))},
	} {
		if a.err != nil {
			t.Errorf("%s: %v", a.name, a.err)
		}
	}
	if d := getDeploy(t, ctx); *d.Spec.Replicas != 3 || d.Spec.MinReadySeconds != 0 {
		t.Errorf("deployment replicas %d, minReadySeconds %d: want the HPA's 3 and Git's 0", *d.Spec.Replicas, d.Spec.MinReadySeconds)
	}

	// Exemptions may name a group: the nodes' events are theirs to write, not a look-alike user's.
	event := func(user string, groups ...string) error {
		return as(t, user, groups...).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, GenerateName: "web-0."},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: fbProd, Name: "web-0"}, Reason: "Pulled", Message: "pulled"})
	}
	if err := event("system:node:n1", "system:nodes"); err != nil {
		t.Errorf("a node records an event: %v", err)
	}
	denied(t, "a node's name without its group", event("system:node:n1"), `create of events `+fbProd+`/web-0.`, `by "system:node:n1"`)

	// Once the agent deletes a protected namespace, whatever empties it may delete, nothing more.
	doomed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fallback-doomed", Labels: map[string]string{webhook.ProtectedNamespaceLabel: "true"}}}
	if err := f.agent.Create(ctx, doomed); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if err := f.agent.Create(ctx, cm(doomed.Name, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.agent.Delete(ctx, doomed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleting in a terminating namespace", func() error { return admin.Delete(ctx, cm(doomed.Name, "a")) },
		func(err error) bool { return err == nil })
	denied(t, "editing in a terminating namespace", patch(admin, cm(doomed.Name, "b"), `{"data":{"k":"x"}}`), "is protected")

	// Break-glass: approval by another person, then never a change.
	approve := func(c client.Client, who, duration string) error {
		at := time.Now().UTC().Format(time.RFC3339)
		return patch(c, &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "fallback-alice"}},
			`{"spec":{"approvedBy":"`+who+`","approvedAt":"`+at+`","duration":"`+duration+`"}}`)
	}
	denied(t, "self-approval", approve(alice, "alice", "30m0s"), "another person approves it")
	denied(t, "approval that changes the request", approve(bob, "bob", "2h0m0s"), "create a new request instead")
	if err := approve(bob, "bob", "30m0s"); err != nil {
		t.Fatalf("bob approves: %v", err)
	}
	denied(t, "editing an approved request", patch(alice, &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "fallback-alice"}},
		`{"spec":{"justification":"something else entirely"}}`), "never changes")

	// Writ's controller mirrors the grant into the ConfigMap, the one key it may change.
	if err := patch(f.ctrl, params, `{"data":{"breakGlass":"alice `+fbProd+`\n"}}`); err != nil {
		t.Fatalf("the controller lists a grant: %v", err)
	}
	eventually(t, "alice's grant", func() error { return edit(alice) }, func(err error) bool { return err == nil })
	denied(t, "bob has no grant", edit(bob), `"bob"`)

	failClosed(t, f)
}

// failClosed: without its ConfigMap the policy denies everything it matches, even the agent,
// until an admin removes the binding (which no API policy can prevent) and restores the list.
func failClosed(t *testing.T, f *fallbackEnv) {
	ctx := f.ctx
	if err := f.agent.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: webhook.FallbackParamsName}}); err != nil {
		t.Fatalf("the agent deletes the agent list: %v", err)
	}
	dev := func(c client.Client, name string) error {
		return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbDev, Name: name}})
	}
	lockedDown := func(err error) bool { return err != nil && strings.Contains(err.Error(), "no params found") }
	eventually(t, "lock-down", func() error { return dev(f.admin, "locked") }, lockedDown)
	if err := dev(f.agent, "locked-agent"); !lockedDown(err) {
		t.Errorf("the agent without the list: %v", err)
	}
	if err := as(t, "alice").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-locked"}}); err != nil {
		t.Fatalf("kube-system blocked during the lock-down: %v", err)
	}
	// Recovery: a maintainer (whom the static protection lets through) removes the binding, the
	// list is restored, and the binding made again.
	deniedStatically(t, "an admin unbinds during the lock-down", f.admin.Delete(ctx, f.binding.DeepCopy()))
	if err := maintainerClient(t).Delete(ctx, f.binding.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unbinding", func() error { return f.admin.Create(ctx, f.params.DeepCopy()) }, func(err error) bool { return err == nil })
	if err := f.admin.Create(ctx, f.binding.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	waitForPolicy(t, f)
}

func setupFallback(t *testing.T) *fallbackEnv {
	ctx := context.Background()
	f := &fallbackEnv{ctx: ctx, admin: env.Client}
	var err error
	opts := webhook.FallbackOptions{Namespace: fbWrit, Exempt: append(append([]string{}, webhook.DefaultFallbackExempt...), webhook.SealingExemption(fbWrit))}
	if f.policy, f.binding, f.params, err = webhook.FallbackPolicy(opts); err != nil {
		t.Fatal(err)
	}
	saved := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: fbWebhookConfig}, saved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupFallback(t, f, saved) })

	// While the guard serves (it has no policy for these namespaces, so it allows).
	t.Run("setup", func(t *testing.T) {
		guarded(t)
		// Everyone is authorised by RBAC, so every refusal is admission's.
		if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
			t.Fatal(err)
		}
		ensureNamespace(t, fbProd, map[string]string{webhook.ProtectedNamespaceLabel: "true"})
		ensureNamespace(t, fbDev, nil)
		ensureNamespace(t, fbWrit, nil)
		for _, sa := range [][2]string{{fbWrit, "writ-reconciler"}, {fbWrit, "writ-controller"}, {"kube-system", "horizontal-pod-autoscaler"}} {
			cfg, err := env.ServiceAccount(ctx, sa[0], sa[1])
			if err != nil {
				t.Fatal(err)
			}
			switch sa[1] {
			case "writ-reconciler":
				f.agent = mustClient(t, cfg)
			case "writ-controller":
				f.ctrl = mustClient(t, cfg)
			default:
				f.hpa, f.hpaCfg = mustClient(t, cfg), cfg
			}
		}
		if _, err := env.ServiceAccount(ctx, fbDev, "robot"); err != nil {
			t.Fatal(err)
		}
		replicas := int32(2)
		for _, o := range []client.Object{
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}, Data: map[string]string{"k": "v"}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web-0"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "writ-audit-signing-key"}, StringData: map[string]string{"audit.key": "k"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-other"}},
			&guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback"},
				Spec: guardv1.GuardPolicySpec{Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"fallback-none"}}}}},
			f.params.DeepCopy(), f.policy.DeepCopy(), f.binding.DeepCopy(),
		} {
			if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
		}
		waitForPolicy(t, f)
		// With the webhook up the agent still works: the policy lets it through to the webhook.
		if err := f.agent.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"v1"}}`))); err != nil {
			t.Fatalf("agent edit with the webhook up: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	return f
}

// waitForPolicy waits until the apiserver enforces the policy.
func waitForPolicy(t *testing.T, f *fallbackEnv) {
	t.Helper()
	eventually(t, "the policy", func() error {
		return f.admin.Patch(f.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"probe"}}`)), client.DryRunAll)
	}, func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'writ-guard'")
	})
}

// cleanupFallback removes what the test created, waits until the policy is gone and restores the
// webhook configuration the other tests use.
func cleanupFallback(t *testing.T, f *fallbackEnv, saved *admissionregistrationv1.ValidatingWebhookConfiguration) {
	ctx, admin := f.ctx, env.Client
	for _, o := range []client.Object{f.binding.DeepCopy(), f.policy.DeepCopy()} {
		if err := maintainerClient(t).Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing %s: %v", o.GetName(), err)
		}
	}
	// Once the binding is gone, Writ's namespace is ordinary again.
	eventually(t, "the policy's removal", func() error {
		return admin.Delete(ctx, f.params.DeepCopy())
	}, func(err error) bool { return client.IgnoreNotFound(err) == nil })
	// Without the webhook configuration (the test may have stopped before removing it), nothing
	// calls the stopped webhook.
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: fbWebhookConfig}}
	if err := admin.Delete(ctx, vwc); client.IgnoreNotFound(err) != nil {
		t.Errorf("removing the webhook configuration: %v", err)
	}
	for _, o := range []client.Object{
		&guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback"}},
		&guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "fallback-agent"}},
		&guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "fallback-alice"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "writ-audit-signing-key"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-other"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-alice"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-locked"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fallback-n1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "unsealed"}},
	} {
		if err := admin.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing %T %s: %v", o, o.GetName(), err)
		}
	}
	restored := saved.DeepCopy()
	restored.ObjectMeta = metav1.ObjectMeta{Name: saved.Name, Labels: saved.Labels, Annotations: saved.Annotations}
	if err := admin.Create(ctx, restored); err != nil {
		t.Errorf("restoring the webhook configuration %s: %v", fbWebhookConfig, err)
	}
}
