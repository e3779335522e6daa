package scheme_test

import (
	"testing"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/scheme"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Every group a Writ client reads or writes is in the scheme.
func TestSchemeKnowsEveryGroup(t *testing.T) {
	s, err := scheme.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []runtime.Object{&corev1.Secret{}, &provenancev1.TrustPolicy{}, &auditv1.AuditEvent{}, &guardv1.GuardPolicy{},
		&guardv1.BreakGlassRequest{}, &reconcilev1.GitSource{}, &reconcilev1.Sync{}, &ssv1alpha1.SealedSecret{}} {
		if _, _, err := s.ObjectKinds(o); err != nil {
			t.Errorf("%T: %v", o, err)
		}
	}
}
