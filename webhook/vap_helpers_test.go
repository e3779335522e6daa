package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

func denied(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'writ-guard") {
		t.Errorf("%s: not denied by the fallback policy: %v", what, err)
		return
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: the denial lacks %q: %v", what, w, err)
		}
	}
}

// eventually retries try until done accepts its error, for 30 seconds.
func eventually(t *testing.T, what string, try func() error, done func(error) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := try()
		if done(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 30s", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func crd(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apiextensions.k8s.io/v1")
	u.SetKind("CustomResourceDefinition")
	u.SetName(name)
	return u
}

func breakGlass(name, requester, approvedBy string) *guardv1.BreakGlassRequest {
	b := &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
		Requester: requester, Justification: "the fallback test needs it", Scope: guardv1.BreakGlassScope{Namespaces: []string{fbProd}},
		Duration: metav1.Duration{Duration: 30 * time.Minute}, ApprovedBy: approvedBy,
	}}
	if approvedBy != "" {
		now := metav1.Now()
		b.Spec.ApprovedAt = &now
	}
	return b
}

func clientset(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func scaleTo(ctx context.Context, cfg *rest.Config, n int32) error {
	return (&scaler{ns: fbProd, name: "web"}).setUser(ctx, cfg, n)
}

func getDeploy(t *testing.T, ctx context.Context) *appsv1.Deployment {
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: fbProd, Name: "web"}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// connectTo opens pods/<sub> to fallback-prod/web-0; admission (CONNECT) runs before the
// apiserver would reach a kubelet.
func connectTo(ctx context.Context, cs kubernetes.Interface, sub string) error {
	req := cs.CoreV1().RESTClient().Post().Namespace(fbProd).Resource("pods").Name("web-0").SubResource(sub)
	if sub == "exec" {
		req = req.Param("container", "web").Param("command", "sh").Param("stdout", "true")
	} else {
		req = req.Param("ports", "80")
	}
	return req.Do(ctx).Error()
}

// sealedSecretOwner is the ownerReference of a SealedSecret named name, as the sealing
// controller sets it on the Secret it unseals.
func sealedSecretOwner(name string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "bitnami.com/v1alpha1", Kind: "SealedSecret", Name: name, UID: "0b5c1d2e-0000-4000-8000-000000000001", Controller: &yes}
}

// cleanupFallback removes what the test created, waits until the policy is gone and restores the
// webhook configuration the other tests use.
func cleanupFallback(t *testing.T, f *fallbackEnv, saved *admissionregistrationv1.ValidatingWebhookConfiguration) {
	ctx, admin := f.ctx, env.Client
	objs := f.fb.Objects()
	for i := len(objs) - 1; i > 0; i-- { // bindings, then policies, not the ConfigMap
		if err := maintainerClient(t).Delete(ctx, objs[i].DeepCopyObject().(client.Object)); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing %s: %v", objs[i].GetName(), err)
		}
	}
	// Once the binding is gone, Writ's namespace is ordinary again.
	eventually(t, "the policy's removal", func() error {
		return admin.Delete(ctx, f.fb.Params.DeepCopy())
	}, func(err error) bool { return client.IgnoreNotFound(err) == nil })
	// Without the webhook configuration (the test may have stopped before removing it), nothing
	// calls the stopped webhook.
	for _, name := range []string{fbWebhookConfig, fbOwnWebhookConfig} {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := admin.Delete(ctx, vwc); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing the webhook configuration %s: %v", name, err)
		}
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
