package app_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/cmd/writ-controller/app"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook/certs"
)

func TestManageWebhookCertsFlags(t *testing.T) {
	o, err := app.ParseFlags([]string{"--manage-webhook-certs", "--webhook-cert-secret", "tls", "--webhook-service", "guard", "--webhook-configuration", "writ-x"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.ManageWebhookCerts || o.WebhookCertSecret != "tls" || o.WebhookService != "guard" || o.WebhookConfiguration != "writ-x" {
		t.Errorf("parsed %+v", o)
	}
	if _, err := app.ParseFlags([]string{"--manage-webhook-certs", "--webhook-cert-secret="}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--webhook-cert-secret") {
		t.Errorf("an empty Secret name: %v", err)
	}
}

// writ-controller --manage-webhook-certs writes the webhook's Secret and sets the caBundle.
func TestManagerKeepsWebhookCerts(t *testing.T) {
	harness.Require(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	ns := "writ-apptls"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	path := "/validate"
	none := admissionregistrationv1.SideEffectClassNone
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "writ-apptls"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "guard.writ.dev", SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig:   admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "writ-webhook", Path: &path}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"writ.dev/never": "true"}}}}}
	if err := env.Client.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), vwc) })
	o, err := app.ParseFlags([]string{"--namespace", ns, "--metrics-bind-address", "0", "--health-probe-bind-address", freeAddr(t),
		"--manage-webhook-certs", "--webhook-configuration", vwc.Name}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := app.NewManager(ctx, env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	var s corev1.Secret
	var got admissionregistrationv1.ValidatingWebhookConfiguration
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.WebhookCertSecret}, &s); last != nil {
			continue
		}
		if last = env.Client.Get(ctx, client.ObjectKey{Name: vwc.Name}, &got); last != nil {
			continue
		}
		if bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, s.Data[certs.CABundleKey]) {
			return
		}
		last = errors.New("caBundle differs from the Secret's ca.crt")
	}
	t.Fatalf("no webhook certificates after 30s: %v", last)
}
