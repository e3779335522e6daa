package harness

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/controlplane"
)

var env *Env

const guardedLabel = "writ-test/guarded"

func TestMain(m *testing.M) {
	path := "validate-configmaps"
	fail := admissionv1.Fail
	none := admissionv1.SideEffectClassNone
	timeout := int32(5)
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "writ-harness-test"},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:                    "configmaps.harness.writ.dev",
			ClientConfig:            admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Path: &path}},
			Rules:                   []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create}, Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{guardedLabel: "true"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	os.Exit(Main(m, Options{ValidatingWebhooks: []*admissionv1.ValidatingWebhookConfiguration{vwc}}, &env))
}

func TestServerIsTheBuiltControlPlane(t *testing.T) {
	Require(t, env)
	if env.ServerVersion != controlplane.KubernetesVersion {
		t.Fatalf("apiserver reports %q, want %q", env.ServerVersion, controlplane.KubernetesVersion)
	}
	t.Logf("kube-apiserver %s", env.ServerVersion)
}

func TestWritCRDsAreInstalled(t *testing.T) {
	Require(t, env)
	ctx := context.Background()
	tp := &provenancev1.TrustPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "harness"},
		Spec:       provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: "alice@example.com ssh-ed25519 AAAA"}},
	}
	if err := env.Client.Create(ctx, tp); err != nil {
		t.Fatalf("creating a TrustPolicy: %v", err)
	}
	var got provenancev1.TrustPolicy
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tp), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Mode != provenancev1.ModeRange {
		t.Errorf("mode defaulted to %q, want Range", got.Spec.Mode)
	}
	// The CRD's own validation runs in the apiserver.
	bad := &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "trusts-nothing"}}
	err := env.Client.Create(ctx, bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "trust at least one signature format") {
		t.Fatalf("a policy trusting nothing was not rejected by the CRD schema: %v", err)
	}
	src := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "two-refs"}, Spec: reconcilev1.GitSourceSpec{
		URL: "https://git.example.com/infra", TrustPolicy: "harness", Ref: &reconcilev1.GitRef{Branch: "main", Tag: "v1"}}}
	if err := env.Client.Create(ctx, src); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "exactly one of branch, tag, semver and commit") {
		t.Fatalf("a source with two refs was accepted: %v", err)
	}
	src.Spec.Ref = &reconcilev1.GitRef{Branch: "main"}
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatalf("a valid GitSource was refused: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil || src.Spec.Interval == nil || src.Spec.Interval.Duration != time.Minute {
		t.Fatalf("interval not defaulted: %v %v", src.Spec.Interval, err)
	}
}

// seen records the identity of each admission request the test webhook receives.
type seen struct {
	mu   sync.Mutex
	reqs []admission.Request
}

func (s *seen) Handle(_ context.Context, req admission.Request) admission.Response {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if strings.HasPrefix(req.Name, "deny-") {
		return admission.Denied("harness denies " + req.Name + " for " + req.UserInfo.Username + " in groups " + strings.Join(req.UserInfo.Groups, ","))
	}
	return admission.Allowed("")
}

func (s *seen) last(name string) (admission.Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.reqs) - 1; i >= 0; i-- {
		if s.reqs[i].Name == name {
			return s.reqs[i], true
		}
	}
	return admission.Request{}, false
}

func TestWebhookSeesCallerAndCanDeny(t *testing.T) {
	Require(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &seen{}
	if _, err := env.ServeWebhooks(func(s webhook.Server) {
		s.Register("/validate-configmaps", &webhook.Admission{Handler: h})
	}); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Labels: map[string]string{guardedLabel: "true"}}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, User("alice"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	alice, err := env.ClientAs("alice", "team-a", "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}

	// An allowed create, seen with the impersonated identity.
	ok := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "guarded", Name: "allowed"}}
	if err := alice.Create(ctx, ok); err != nil {
		t.Fatalf("allowed create failed: %v", err)
	}
	req, found := h.last("allowed")
	if !found {
		t.Fatal("the webhook never saw the create")
	}
	if req.UserInfo.Username != "alice" || !contains(req.UserInfo.Groups, "team-a") {
		t.Fatalf("webhook saw %q %v, want alice in team-a", req.UserInfo.Username, req.UserInfo.Groups)
	}

	// A denied create: the caller gets the webhook's message, and nothing is stored.
	deny := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "guarded", Name: "deny-me"}}
	err = alice.Create(ctx, deny)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "harness denies deny-me for alice in groups team-a") {
		t.Fatalf("create was not denied with the webhook's message: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(deny), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("denied ConfigMap exists: %v", err)
	}

	// A service account authenticates with a real token and is seen as itself.
	saCfg, err := env.ServiceAccount(ctx, "guarded", "robot")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, ServiceAccountSubject("guarded", "robot"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().ConfigMaps("guarded").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "deny-robot"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "for system:serviceaccount:guarded:robot in groups") {
		t.Fatalf("service account create not denied as itself: %v", err)
	}
	req, _ = h.last("deny-robot")
	if !contains(req.UserInfo.Groups, "system:serviceaccounts:guarded") {
		t.Fatalf("service account groups %v", req.UserInfo.Groups)
	}

	// Namespaces outside the webhook's selector are not intercepted.
	if err := env.EnsureNamespace(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "open", Name: "deny-not-called"}}); err != nil {
		t.Fatalf("create outside the selector was intercepted: %v", err)
	}
}

func TestImpersonatedUserWithoutRBACIsForbiddenBeforeAdmission(t *testing.T) {
	Require(t, env)
	mallory, err := env.ClientAs("mallory")
	if err != nil {
		t.Fatal(err)
	}
	err = mallory.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x"}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "mallory" cannot create`) {
		t.Fatalf("want an RBAC denial, got %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
