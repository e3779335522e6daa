package webhook_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
)

// staticProtection: with writ-guard bound, the control plane's static policy (loaded by this
// package's TestMain, as the README tells operators to) denies every attempt to unbind, weaken or
// delete it, by any admin but the listed maintainer, and leaves metadata-only updates alone.
func staticProtection(t *testing.T, f *fallbackEnv) {
	t.Helper()
	ctx, admin := f.ctx, f.admin
	bindingRef := func() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
		return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: webhook.FallbackPolicyName}}
	}
	policyRef := func() *admissionregistrationv1.ValidatingAdmissionPolicy {
		return &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: webhook.FallbackPolicyName}}
	}
	merge := func(c client.Client, o client.Object, body string) error {
		return c.Patch(ctx, o, client.RawPatch("application/merge-patch+json", []byte(body)))
	}
	root := as(t, "root", "system:masters")
	adminCS := clientset(t, env.Config)
	for _, d := range []struct {
		name string
		err  error
	}{
		{"admin deletes the binding", admin.Delete(ctx, bindingRef())},
		{"admin deletes the policy", admin.Delete(ctx, policyRef())},
		{"a system:masters user deletes the binding", root.Delete(ctx, bindingRef())},
		{"admin deletes every binding (dry run)", adminCS.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().
			DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{})},
		{"admin makes the binding warn only", merge(admin, bindingRef(), `{"spec":{"validationActions":["Warn"]}}`)},
		{"admin points the binding at another agent list", merge(admin, bindingRef(), `{"spec":{"paramRef":{"name":"mallory-agents"}}}`)},
		{"admin narrows the binding to one namespace", merge(admin, bindingRef(), `{"spec":{"matchResources":{"namespaceSelector":{"matchLabels":{"none":"x"}}}}}`)},
		{"admin makes the policy fail open", merge(admin, policyRef(), `{"spec":{"failurePolicy":"Ignore"}}`)},
		{"admin rewrites the policy's rule", merge(admin, policyRef(), `{"spec":{"matchConditions":[{"name":"not-the-apiserver","expression":"false"}]}}`)},
		{"impersonating the maintainer's name with a trailing space", as(t, maintainer+" ", "system:masters").Delete(ctx, bindingRef(), client.DryRunAll)},
		// Writ's own policies are not even the agent's: the witness reviews it through them.
		{"the agent deletes the binding (dry run)", f.agent.Delete(ctx, bindingRef(), client.DryRunAll)},
		{"the agent makes the policy fail open (dry run)", f.agent.Patch(ctx, policyRef(),
			client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"failurePolicy":"Ignore"}}`)), client.DryRunAll)},
	} {
		deniedStatically(t, d.name, d.err)
	}
	for _, a := range []struct {
		name string
		err  error
	}{
		{"admin labels the binding (metadata only)", merge(admin, bindingRef(), `{"metadata":{"labels":{"team":"platform"}}}`)},
		{"admin annotates the policy (metadata only)", merge(admin, policyRef(), `{"metadata":{"annotations":{"note":"reviewed"}}}`)},
		{"the agent labels the binding (metadata only, dry run)", f.agent.Patch(ctx, bindingRef(),
			client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"team":"git"}}}`)), client.DryRunAll)},
		{"the maintainer deletes the binding (dry run)", maintainerClient(t).Delete(ctx, bindingRef(), client.DryRunAll)},
		{"the maintainer changes the policy (dry run)", maintainerClient(t).Patch(ctx, policyRef(),
			client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"failurePolicy":"Ignore"}}`)), client.DryRunAll)},
	} {
		if a.err != nil {
			t.Errorf("%s: %v", a.name, a.err)
		}
	}
	// The binding still denies: nothing above weakened it.
	var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
	if err := admin.Get(ctx, client.ObjectKeyFromObject(bindingRef()), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Spec.ValidationActions) == 0 || b.Spec.ValidationActions[0] != admissionregistrationv1.Deny || b.Spec.ParamRef.Name != webhook.FallbackParamsName {
		t.Errorf("the binding changed: %+v", b.Spec)
	}
}

func maintainerClient(t *testing.T) client.Client {
	return mustClient(t, env.As(maintainer, "system:masters"))
}

func deniedStatically(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+webhook.StaticProtectionName+"'") {
		t.Errorf("%s: not denied by the static protection: %v", what, err)
		return
	}
	if !strings.Contains(err.Error(), "or a maintainer listed in that policy may") {
		t.Errorf("%s: the denial does not say who may: %v", what, err)
	}
}

// The shipped static manifest is what StaticProtection makes with no maintainers.
func TestShippedStaticProtection(t *testing.T) {
	policy, binding, err := webhook.StaticProtection(webhook.StaticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, o := range []any{policy, binding} {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, "---\n"...), b...)
	}
	const path = "../policies/static/writ-guard-protection.yaml"
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := bytes.Cut(got, []byte("\n---\n"))
	if !ok || !bytes.HasPrefix(header, []byte("#")) || !bytes.Equal(append([]byte("---\n"), body...), want) {
		if os.Getenv("WRIT_UPDATE_STATIC") != "" {
			if err := os.WriteFile(path, append(append(header, '\n'), want...), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is not what webhook.StaticProtection makes: run WRIT_UPDATE_STATIC=1 go test -run TestShippedStaticProtection ./webhook", path)
	}
	if !strings.HasSuffix(policy.Name, ".static.k8s.io") || binding.Spec.PolicyName != policy.Name {
		t.Errorf("names %q / %q: the apiserver loads only *.static.k8s.io and bindings of them", policy.Name, binding.Spec.PolicyName)
	}
}

func TestStaticOptionsAreValidated(t *testing.T) {
	for _, m := range []string{"", "*", " alice", "alice ", "al\nice"} {
		if _, _, err := webhook.StaticProtection(webhook.StaticOptions{Maintainers: []string{m}}); err == nil {
			t.Errorf("maintainer %q accepted", m)
		}
	}
	for _, a := range []string{"", "*", "flux "} {
		if _, _, err := webhook.StaticProtection(webhook.StaticOptions{Agents: []string{a}}); err == nil {
			t.Errorf("agent %q accepted", a)
		}
	}
	if _, _, err := webhook.StaticProtection(webhook.StaticOptions{Namespace: "Writ System"}); err == nil {
		t.Error("namespace \"Writ System\" accepted")
	}
	p, _, err := webhook.StaticProtection(webhook.StaticOptions{Namespace: "gitops", Maintainers: []string{`o"brien`, "system:serviceaccount:writ-system:writ-upgrader"}})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range p.Spec.Variables {
		vars[v.Name] = v.Expression
	}
	if got := vars["maintainer"]; got != `request.userInfo.username in ["o\"brien", "system:serviceaccount:writ-system:writ-upgrader"]` {
		t.Errorf("maintainers expression %s", got)
	}
	// The agents default to Writ's reconciler in the namespace given.
	if got := vars["agent"]; got != `request.userInfo.username in ["system:serviceaccount:gitops:writ-reconciler"]` {
		t.Errorf("agents expression %s", got)
	}
}

// The audit submitter policies the chart ships may be created by whoever installs it, where they
// do not exist; under that name, nothing that matches anything but AuditEvents, and no other
// mutating policy, passes the static protection.
func TestStaticProtectionAdmitsTheAuditSubmitterPoliciesAlone(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	mp, mb, vp, vb, err := auditcontroller.SubmitterPolicies("writ-system")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{mp, mb, vp, vb} {
		if err := env.Client.Create(ctx, o.DeepCopyObject().(client.Object), client.DryRunAll); err != nil {
			t.Errorf("the chart's %T, by the admin (dry run): %v", o, err)
		}
	}
	wide := mp.DeepCopy()
	wide.Spec.MatchConstraints.ResourceRules[0].APIGroups, wide.Spec.MatchConstraints.ResourceRules[0].Resources = []string{"apps"}, []string{"deployments"}
	also := mp.DeepCopy()
	also.Spec.MatchConstraints.ResourceRules = append(also.Spec.MatchConstraints.ResourceRules, wide.Spec.MatchConstraints.ResourceRules[0])
	wideV := vp.DeepCopy()
	wideV.Spec.MatchConstraints.ResourceRules[0].Resources = []string{"*"}
	other := mp.DeepCopy()
	other.Name = "mallory-mutates"
	elsewhere := mb.DeepCopy()
	elsewhere.Spec.PolicyName = "mallory-mutates"
	for _, d := range []struct {
		name string
		obj  client.Object
	}{
		{"a mutating policy of that name matching Deployments", wide},
		{"a mutating policy of that name matching AuditEvents and Deployments", also},
		{"a validating policy of that name matching everything", wideV},
		{"a mutating policy of another name", other},
		{"a binding of that name for another policy", elsewhere},
	} {
		deniedStatically(t, d.name, env.Client.Create(ctx, d.obj, client.DryRunAll))
	}
}
