package charts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// breakGlassThroughTheFallback: on the chart's install with the webhook gone (the fallback policy
// alone), an approved break-glass request works: writ-controller, as its Deployment runs it with
// the chart's RBAC, mirrors the grant into the fallback's parameters, the requester's in-scope
// edit succeeds, an out-of-scope one is denied saying what the grant covers, and once the grant
// expires the edit is denied again.
func breakGlassThroughTheFallback(t *testing.T, r rendering) {
	ctx := context.Background()
	agent := agentClient(t, r)
	// The webhook down: its configuration removed, as a person does it (not even the agent may
	// while the fallback is bound).
	removeWebhooks(t, r, []*unstructured.Unstructured{r.find("ValidatingWebhookConfiguration", "writ-guard")})
	const ns = "bg-fallback"
	// (until the apiserver notices the webhook is gone, it still calls it)
	waitFor(t, "the webhook's removal", func() error {
		err := agent.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{wellknown.ProtectedNamespaceLabel: "true"}}})
		return client.IgnoreAlreadyExists(err)
	})
	for _, name := range []string{"app", "other"} {
		if err := agent.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"mode": "normal"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Only the grants component of the chart's writ-controller, as its service account.
	start(t, r, "writ-controller", []string{"--enable-audit=false", "--enable-sealing=false", "--leader-elect=false"})

	person := func(user string) client.Client {
		c, err := client.New(env.As(user, "oncall", "system:masters"), client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ann, lea := person("ann"), person("lea")
	edit := func(name string) error {
		return ann.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"maintenance"}}`)))
	}
	deniedByFallback := func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'writ-guard'")
	}
	if err := edit("app"); !deniedByFallback(err) {
		t.Fatalf("ann's edit before any break-glass: %v", err)
	}
	bgr := &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "inc-fallback"}, Spec: guardv1.BreakGlassRequestSpec{
		Requester: "ann", Justification: "checkout is down, the fallback test needs it",
		Scope:    guardv1.BreakGlassScope{Namespaces: []string{ns}, Resources: []guardv1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}, Names: []string{"app"}},
		Duration: metav1.Duration{Duration: 8 * time.Second}}}
	if err := ann.Create(ctx, bgr); err != nil {
		t.Fatalf("ann requests break-glass: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), bgr) })
	approval := fmt.Sprintf(`{"spec":{"approvedBy":"lea","approvedAt":%q}}`, time.Now().UTC().Format(time.RFC3339))
	if err := lea.Patch(ctx, bgr.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(approval))); err != nil {
		t.Fatalf("lea approves: %v", err)
	}
	waitFor(t, "ann's approved, in-scope edit to pass the fallback policy", func() error { return edit("app") })
	if err := edit("other"); !deniedByFallback(err) || !strings.Contains(err.Error(), "Your break-glass grants do not cover this request") ||
		!strings.Contains(err.Error(), "ann "+ns+" resources=/configmaps names=app until=") {
		t.Errorf("ann's out-of-scope edit: %v", err)
	}
	var params corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: webhook.FallbackParamsName}, &params); err != nil {
		t.Fatal(err)
	}
	if got := params.Data[webhook.FallbackBreakGlassKey]; !strings.HasPrefix(got, "ann "+ns+" ") || !strings.HasSuffix(got, " request=inc-fallback\n") {
		t.Errorf("breakGlass key %q", got)
	}
	waitFor(t, "the grant's expiry to deny ann again", func() error {
		if err := edit("app"); !deniedByFallback(err) {
			return fmt.Errorf("still allowed: %v", err)
		}
		return nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: webhook.FallbackParamsName}, &params); err != nil {
		t.Fatal(err)
	}
	if got := params.Data[webhook.FallbackBreakGlassKey]; got != "" {
		t.Errorf("breakGlass key after the expiry: %q", got)
	}
}

// agentClient is a client for the first agent the fallback policy trusts (with full rights), or
// the admin's when the policy is off.
func agentClient(t *testing.T, r rendering) client.Client {
	t.Helper()
	cm := r.find("ConfigMap", webhook.FallbackParamsName)
	if cm == nil {
		return env.Client
	}
	agents := cm.Object["data"].(map[string]any)[webhook.FallbackAgentsKey].(string)
	c, err := client.New(env.As(strings.Split(agents, "\n")[0], "system:masters"), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
