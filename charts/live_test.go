package charts_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook/certs"
)

// live holds, per combination, checks made while the rendered objects are installed.
var live = map[string]func(t *testing.T, r rendering){
	// Once the fallback policy holds, the admin may not touch writ-guard, but cert-manager's
	// cainjector may set its caBundle.
	"defaults": func(t *testing.T, r rendering) {
		waitFallbackActive(t)
		injector, err := client.New(env.As("system:serviceaccount:cert-manager:cert-manager-cainjector", "system:masters"), client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		if err := setCABundle(injector, []byte("injected")); err != nil {
			t.Errorf("cainjector may not set writ-guard's caBundle: %v", err)
		}
		// That field alone.
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := injector.Get(context.Background(), client.ObjectKey{Name: "writ-guard"}, &vwc); err != nil {
			t.Fatal(err)
		}
		ignore := admissionregistrationv1.Ignore
		vwc.Webhooks[0].FailurePolicy = &ignore
		if err := injector.Update(context.Background(), &vwc); err == nil || !strings.Contains(err.Error(), "writ: ") {
			t.Errorf("cainjector made writ-guard fail open: %v", err)
		}
		breakGlassThroughTheFallback(t, r)
	},
	// Self-managed TLS: writ-controller, with the chart's RBAC and nothing more, makes the
	// certificates and sets the caBundle past the fallback policy; then every component runs as
	// its Deployment says (runComponents).
	"self-managed-tls": func(t *testing.T, r rendering) {
		waitFallbackActive(t)
		defer runComponents(t, r)
		ns := r.namespace
		cfg := env.As("system:serviceaccount:"+ns+":writ-controller", "system:serviceaccounts", "system:serviceaccounts:"+ns, "system:authenticated")
		c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		rot := &certs.Rotator{Client: c, Namespace: ns, Secret: "writ-webhook-tls", Service: "writ-webhook", WebhookConfiguration: "writ-guard"}
		if _, err := rot.Ensure(context.Background()); err != nil {
			t.Fatalf("writ-controller cannot manage the webhook's certificates with the chart's RBAC: %v", err)
		}
		var s corev1.Secret
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "writ-webhook-tls"}, &s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), &s) })
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "writ-guard"}, &vwc); err != nil {
			t.Fatal(err)
		}
		if string(vwc.Webhooks[0].ClientConfig.CABundle) != string(s.Data[certs.CABundleKey]) {
			t.Error("writ-guard's caBundle is not the Secret's ca.crt")
		}
	},
}

func setCABundle(c client.Client, b []byte) error {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(context.Background(), client.ObjectKey{Name: "writ-guard"}, &vwc); err != nil {
		return err
	}
	vwc.Webhooks[0].ClientConfig.CABundle = b
	return c.Update(context.Background(), &vwc)
}

// waitFallbackActive waits until the fallback policy denies the admin a change of writ-guard.
func waitFallbackActive(t *testing.T) {
	t.Helper()
	eventually(t, "the fallback policy denies the admin a change of writ-guard", func() error {
		err := setCABundle(env.Client, []byte("admin"))
		if err != nil && strings.Contains(err.Error(), "writ: ") {
			return nil
		}
		if err == nil {
			return errors.New("allowed")
		}
		return err
	})
}
