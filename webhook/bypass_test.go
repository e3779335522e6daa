package webhook_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (e *events) find(kind audit.Kind, user string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.all {
		if x.Kind == kind && x.Actor.User == user {
			return true
		}
	}
	return false
}

// guarded starts the guard against the test control plane: a manager's cache feeds it, the
// webhook server the apiserver calls serves it, and a Buffered recorder collects its events.
func guarded(t *testing.T) *events {
	t.Helper()
	return guardedWith(t, nil)
}

// guardedWith is guarded with the Guard set up further by configure (nil: as cmd/writ-controller
// sets it up without a witness).
func guardedWith(t *testing.T, configure func(*webhook.Guard)) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	// Warm the informers the guard reads so the first admission request does not wait on them.
	for _, l := range []client.ObjectList{&guardv1.GuardPolicyList{}, &guardv1.BreakGlassRequestList{}, &corev1.NamespaceList{}, &reconcilev1.SyncList{}} {
		if err := mgr.GetCache().List(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range webhook.OwnerObjects() {
		if _, err := mgr.GetCache().GetInformer(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	ev := &events{}
	rec := audit.NewBuffered(func(_ context.Context, e audit.Event) error {
		ev.mu.Lock()
		ev.all = append(ev.all, e)
		ev.mu.Unlock()
		return nil
	}, audit.BufferedOptions{})
	t.Cleanup(func() { _ = rec.Close(context.Background()) })
	guard := &webhook.Guard{Reader: mgr.GetCache(), Recorder: rec, ExemptNamespaces: []string{"kube-system", "kube-public", "kube-node-lease", "writ-system"}}
	if configure != nil {
		configure(guard)
	}
	// As writ-controller runs it: policies and grants kept between requests, dropped on change.
	if err := guard.InvalidateOn(ctx, mgr.GetCache()); err != nil {
		t.Fatal(err)
	}
	stop, err := env.ServeWebhooks(func(s crwebhook.Server) {
		s.Register("/guard", &crwebhook.Admission{Handler: guard})
		s.Register("/stamp", &crwebhook.Admission{Handler: &webhook.Stamp{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ev
}

const agentUser = "system:serviceaccount:writ-system:writ-reconciler"

func TestBypassAttemptsAreDenied(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	ev := guarded(t)
	admin := env.Client
	// Everyone is authorised by RBAC, so every refusal below is the guard's.
	if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"prod", "dev", "writ-system", "kube-system"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	agentCfg, err := env.ServiceAccount(ctx, "writ-system", "writ-reconciler")
	if err != nil {
		t.Fatal(err)
	}
	hpaCfg, err := env.ServiceAccount(ctx, "kube-system", "horizontal-pod-autoscaler")
	if err != nil {
		t.Fatal(err)
	}
	agent := mustClient(t, agentCfg)
	hpa := mustClient(t, hpaCfg)

	policy := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"prod"}}},
		Agents:  []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
		Exemptions: []guardv1.Exemption{{Name: "hpa-scale", Subject: guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "horizontal-pod-autoscaler"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"scale"}}},
		BreakGlass:    guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"leads"}},
		SourceOfTruth: "https://git.example.com/infra (clusters/prod)",
	}}
	if err := admin.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}

	// The agent creates what Git declares; wait until the guard sees the policy.
	cm := func(name string, labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: name, Labels: labels}, Data: map[string]string{"k": "v"}}
	}
	if err := agent.Create(ctx, cm("app-config", map[string]string{wellknown.ManagedLabel: "true"})); err != nil {
		t.Fatalf("agent create: %v", err)
	}
	waitForDenial(t, func() error { return as(t, "alice", "devs").Create(ctx, cm("probe", nil)) })
	replicas := int32(2)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}}}
	if err := agent.Create(ctx, dep); err != nil {
		t.Fatalf("agent creates a deployment: %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-0"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
	if err := agent.Create(ctx, pod); err != nil {
		t.Fatalf("agent creates a pod: %v", err)
	}
	devCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "tracked", Labels: map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"}}}
	if err := admin.Create(ctx, devCM); err == nil || !apierrors.IsForbidden(err) {
		// creating a tracked object outside a protected namespace is itself guarded
		t.Fatalf("admin created a Flux-tracked object: %v", err)
	}
	if err := agent.Create(ctx, devCM); err != nil {
		t.Fatalf("agent creates a tracked object in dev: %v", err)
	}

	// Allowed: the agent's update, patch, server-side apply and delete; the HPA's scale write.
	if err := agent.Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"v2"}}`))); err != nil {
		t.Fatalf("agent patch: %v", err)
	}
	applied := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "applied"}, Data: map[string]string{"a": "1"}}
	if err := agent.Patch(ctx, applied, client.Apply, client.FieldOwner("writ"), client.ForceOwnership); err != nil {
		t.Fatalf("agent server-side apply: %v", err)
	}
	scale := &scaler{ns: "prod", name: "web"}
	if err := scale.setUser(ctx, hpaCfg, 3); err != nil {
		t.Fatalf("HPA scale write: %v", err)
	}
	if d := mustGetDeploy(t, ctx); *d.Spec.Replicas != 3 {
		t.Fatalf("replicas %d after the HPA's scale", *d.Spec.Replicas)
	}
	_ = hpa

	kc := func(user string, groups ...string) kubernetes.Interface {
		cs, err := kubernetes.NewForConfig(env.As(user, groups...))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	adminCS := kc("kubernetes-admin", "system:masters")
	attempts := []struct {
		name string
		do   func() error
	}{
		{"admin edits a ConfigMap", func() error {
			return env.Client.Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"hacked"}}`)))
		}},
		{"system:masters user edits", func() error {
			return mustClient(t, env.As("root", "system:masters")).Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"x"}}`)))
		}},
		{"ordinary user edits", func() error {
			return as(t, "alice", "devs").Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"x"}}`)))
		}},
		{"user deletes", func() error { return as(t, "alice").Delete(ctx, cm("app-config", nil)) }},
		{"user creates a new object", func() error { return as(t, "alice").Create(ctx, cm("new", nil)) }},
		{"look-alike SA namespace", func() error {
			return as(t, "system:serviceaccount:writ-systemx:writ-reconciler").Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"x"}}`)))
		}},
		{"other namespace's SA of the same name", func() error {
			return as(t, "system:serviceaccount:default:writ-reconciler").Delete(ctx, cm("app-config", nil))
		}},
		{"agent name with a trailing space", func() error { return as(t, agentUser+" ").Delete(ctx, cm("app-config", nil)) }},
		{"agent name as a plain user with spoofed groups", func() error {
			return as(t, "writ-reconciler", "system:serviceaccounts", "system:serviceaccounts:writ-system").Delete(ctx, cm("app-config", nil))
		}},
		{"scale subresource by a user", func() error { return scale.setUser(ctx, env.As("alice"), 9) }},
		{"scale subresource by the HPA's look-alike", func() error {
			return scale.setUser(ctx, env.As("system:serviceaccount:kube-systemx:horizontal-pod-autoscaler"), 9)
		}},
		{"HPA edits the deployment spec", func() error {
			return mustClient(t, hpaCfg).Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"}},
				client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil"}]}}}}`)))
		}},
		{"status subresource", func() error {
			_, err := adminCS.AppsV1().Deployments("prod").UpdateStatus(ctx, mustGetDeploy(t, ctx), metav1.UpdateOptions{})
			return err
		}},
		{"ephemeral container", func() error {
			p, _ := adminCS.CoreV1().Pods("prod").Get(ctx, "web-0", metav1.GetOptions{})
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}})
			_, err := adminCS.CoreV1().Pods("prod").UpdateEphemeralContainers(ctx, "web-0", p, metav1.UpdateOptions{})
			return err
		}},
		{"exec into a protected pod", func() error { return connect(ctx, adminCS, "prod", "exec") }},
		{"attach to a protected pod", func() error { return connect(ctx, adminCS, "prod", "attach") }},
		{"port-forward to a protected pod", func() error { return connect(ctx, adminCS, "prod", "portforward") }},
		{"eviction", func() error {
			return adminCS.CoreV1().Pods("prod").EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-0"}})
		}},
		{"deletecollection", func() error {
			return adminCS.CoreV1().ConfigMaps("prod").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}},
		{"delete the protected namespace", func() error { return adminCS.CoreV1().Namespaces().Delete(ctx, "prod", metav1.DeleteOptions{}) }},
		{"strip the tracking label", func() error {
			return env.Client.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "tracked"}},
				client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"kustomize.toolkit.fluxcd.io/name":null}}}`)))
		}},
		{"relabel the namespace", func() error {
			return env.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}},
				client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"team":"mallory"}}}`)))
		}},
		{"dry-run edit", func() error {
			return env.Client.Patch(ctx, cm("app-config", nil), client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"x"}}`)), client.DryRunAll)
		}},
	}
	for _, a := range attempts {
		err := a.do()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "writ:") {
			t.Errorf("%s: not denied by the guard: %v", a.name, err)
		}
	}
	var got corev1.ConfigMap
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "prod", Name: "app-config"}, &got); err != nil || got.Data["k"] != "v2" {
		t.Fatalf("protected ConfigMap changed: %v %v", got.Data, err)
	}
	if !ev.find(audit.MutationDenied, "alice") {
		t.Error("denials were not recorded")
	}
	// The message a person gets.
	err = as(t, "alice", "devs").Delete(ctx, cm("app-config", nil))
	for _, want := range []string{`"alice"`, "configmaps prod/app-config", `GuardPolicy "prod"`, "https://git.example.com/infra", "BreakGlassRequest"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("denial message lacks %q: %v", want, err)
		}
	}
	// kube-system keeps working for everyone.
	if err := as(t, "alice").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "alice-was-here"}}); err != nil {
		t.Fatalf("kube-system blocked: %v", err)
	}
	t.Logf("%d bypass attempts denied", len(attempts))
}

func mustClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func as(t *testing.T, user string, groups ...string) client.Client {
	return mustClient(t, env.As(user, groups...))
}

func mustGetDeploy(t *testing.T, ctx context.Context) *appsv1.Deployment {
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "prod", Name: "web"}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// waitForDenial retries until the guard, having seen the policy, denies.
func waitForDenial(t *testing.T, try func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := try()
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "writ:") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guard never denied: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type scaler struct{ ns, name string }

// setUser writes the deployment's scale subresource as cfg's identity.
func (s *scaler) setUser(ctx context.Context, cfg *rest.Config, n int32) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	_, err = cs.AppsV1().Deployments(s.ns).UpdateScale(ctx, s.name, sc, metav1.UpdateOptions{})
	return err
}

// connect opens a pods/<sub> connection to web-0 in namespace the way kubectl does; admission
// (CONNECT) runs before the apiserver would reach a kubelet.
func connect(ctx context.Context, cs kubernetes.Interface, namespace, sub string) error {
	req := cs.CoreV1().RESTClient().Post().Namespace(namespace).Resource("pods").Name("web-0").SubResource(sub)
	switch sub {
	case "exec":
		req = req.Param("container", "web").Param("command", "sh").Param("stdout", "true")
	case "attach":
		req = req.Param("container", "web").Param("stdout", "true")
	case "portforward":
		req = req.Param("ports", "80")
	}
	return req.Do(ctx).Error()
}
