package charts_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// strict decodes a rendered object into its Go type, failing on any field the type lacks.
func strict(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s %s does not decode into %T: %v", u.GetKind(), u.GetName(), into, err)
	}
}

// certificate decodes a rendered Certificate with cert-manager's own API types.
func certificate(t *testing.T, u *unstructured.Unstructured) *certmanagerv1.Certificate {
	t.Helper()
	var c certmanagerv1.Certificate
	strict(t, u, &c)
	return &c
}

func issuer(t *testing.T, u *unstructured.Unstructured) *certmanagerv1.Issuer {
	t.Helper()
	var i certmanagerv1.Issuer
	strict(t, u, &i)
	return &i
}

func validatingWebhook(t *testing.T, u *unstructured.Unstructured) *admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	strict(t, u, &v)
	if len(v.Webhooks) != 2 {
		t.Fatalf("%d webhooks in %s, want 2 (guard.writ.dev, witness.writ.dev)", len(v.Webhooks), v.Name)
	}
	return &v
}

func readREADME() ([]byte, error) { return os.ReadFile("../README.md") }

// The chart's accounts are the ones Writ's Go code and shipped policies name: the reconciler is
// the agent policies/guard-writ.yaml trusts in writ-system, the controller the one the fallback
// policy lets change Writ's keys.
func TestAccountsMatchTheGuard(t *testing.T) {
	r := render(t, "writ-system", nil)
	for _, sa := range []string{wellknown.ReconcilerServiceAccount, wellknown.ControllerServiceAccount} {
		r.must(t, "ServiceAccount", sa)
	}
	raw, err := os.ReadFile("../policies/guard-writ.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gp guardv1.GuardPolicy
	if err := yaml.Unmarshal(raw, &gp); err != nil {
		t.Fatal(err)
	}
	want := guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: wellknown.ReconcilerServiceAccount}
	if !slices.Contains(gp.Spec.Agents, want) {
		t.Errorf("policies/guard-writ.yaml trusts %+v, not the chart's reconciler %+v", gp.Spec.Agents, want)
	}
}
