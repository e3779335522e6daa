package charts_test

import (
	"encoding/json"
	"os"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
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
	if len(v.Webhooks) != 1 {
		t.Fatalf("%d webhooks in %s, want 1", len(v.Webhooks), v.Name)
	}
	return &v
}

func readREADME() ([]byte, error) { return os.ReadFile("../README.md") }
