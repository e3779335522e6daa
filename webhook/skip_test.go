package webhook_test

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

func clientsetAs(t *testing.T, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.As(user, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestSkipsMatchOnlyExactIdentities: the webhook's matchConditions skip the apiserver's loopback
// identity and kubelets doing kubelet work, and nothing that merely resembles them. Each near
// miss is made by impersonation against the real apiserver and reaches the guard.
func TestSkipsMatchOnlyExactIdentities(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	guardedByShippedPolicy(t, "skips")
	agent := token(t, "writ-system", "writ-reconciler")
	managed := map[string]string{wellknown.ManagedLabel: "true"}
	cfg := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "skips", Name: "cfg", Labels: managed}, Data: map[string]string{"k": "v"}}
	if err := agent.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitForDenial(t, func() error { return as(t, "alice").Patch(ctx, cfg, mergePatch(`{"data":{"k":"x"}}`)) })
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "skips", Name: "web", Labels: managed},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}
	if err := agent.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := agent.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "skips", Name: "app", Labels: managed}}); err != nil {
		t.Fatal(err)
	}
	editCfg := func(user string, groups ...string) error {
		return as(t, user, groups...).Patch(ctx, cfg, mergePatch(`{"data":{"k":"hacked"}}`))
	}
	podStatus := func(user string, groups ...string) error {
		cs := clientsetAs(t, user, groups...)
		p, err := cs.CoreV1().Pods("skips").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Message = "reported by " + user
		_, err = cs.CoreV1().Pods("skips").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}
	mintToken := func(user string, groups ...string) error {
		_, err := clientsetAs(t, user, groups...).CoreV1().ServiceAccounts("skips").CreateToken(ctx, "app",
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(600))}}, metav1.CreateOptions{})
		return err
	}

	guardDenied(t, "user system:apiserver with another group edits", editCfg("system:apiserver", "devs"), `"system:apiserver"`)
	guardDenied(t, "user system:apiserver with system:masters and another group edits", editCfg("system:apiserver", "system:masters", "devs"), `"system:apiserver"`)
	guardDenied(t, "a person in group system:nodes edits a ConfigMap", editCfg("mallory", "system:nodes"), `"mallory"`)
	guardDenied(t, "a person in group system:nodes writes pod status", podStatus("mallory", "system:nodes"), `"mallory"`)
	guardDenied(t, "a person in group system:nodes mints a token", mintToken("mallory", "system:nodes"), "serviceaccounts skips/app (token)")
	guardDenied(t, "system:node:n1 outside group system:nodes writes pod status", podStatus("system:node:n1"), `"system:node:n1"`)
	guardDenied(t, "a node edits a protected ConfigMap", editCfg("system:node:n1", "system:nodes"), `"system:node:n1"`)
	guardDenied(t, "a node named nothing writes pod status", podStatus("system:node:", "system:nodes"), `"system:node:"`)
	if err := podStatus("system:node:n1", "system:nodes"); err != nil {
		t.Errorf("a kubelet reporting its pod's status: %v", err)
	}

	// A person in group system:nodes cannot approve their own break-glass request either.
	if err := as(t, "mallory", "oncall", "system:nodes").Create(ctx, &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "bg-nodes"},
		Spec: guardv1.BreakGlassRequestSpec{Requester: "mallory", Justification: "pretending to be a node", Scope: guardv1.BreakGlassScope{Namespaces: []string{"skips"}},
			Duration: metav1.Duration{Duration: time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	var bg guardv1.BreakGlassRequest
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bg-nodes"}, &bg); err != nil {
		t.Fatal(err)
	}
	bg.Spec.ApprovedBy, bg.Spec.ApprovedAt = "mallory", &metav1.Time{Time: time.Now()}
	guardDenied(t, "a person in group system:nodes approves their own request", as(t, "mallory", "platform-leads", "system:nodes").Update(ctx, &bg), "cannot approve their own request")
}

func ptrTo[T any](v T) *T { return &v }

// TestNodePodWithoutSubresourceIsSkipped: a kubelet's pod (a mirror pod, no subresource) is one of
// the skipped requests: with the webhook down it still passes, which it could not if the skip's
// CEL failed on the absent subResource (the failurePolicy, Fail, would refuse it).
func TestNodePodWithoutSubresourceIsSkipped(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	t.Run("setup", func(t *testing.T) {
		guarded(t) // the binding passes the guard; the subtest's cleanup stops it
		if err := env.Grant(ctx, rbacv1.Subject{Kind: "User", Name: "system:node:n1", APIGroup: "rbac.authorization.k8s.io"}, "cluster-admin"); err != nil {
			t.Fatal(err)
		}
	})
	node := as(t, "system:node:n1", "system:nodes")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mirror"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if err := node.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("a kubelet's pod with the webhook down: %v", err)
	}
	// A ConfigMap is not the kubelet's: it reaches the (down) webhook and fails closed.
	if err := node.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "node-cm"}}, client.DryRunAll); err == nil {
		t.Error("a kubelet's ConfigMap passed with the webhook down")
	}
}
