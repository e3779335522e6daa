package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
