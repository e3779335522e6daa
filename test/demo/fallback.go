package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// staticProtection is what the control plane loads from its manifests directory, as the README
// tells operators to: policies/static/writ-guard-protection.yaml for Writ in writNS.
func staticProtection() ([]runtime.Object, error) {
	p, b, err := webhook.StaticProtection(webhook.StaticOptions{Namespace: writNS})
	if err != nil {
		return nil, err
	}
	return []runtime.Object{p, b}, nil
}

// installFallback installs the guard's fallback policies, their bindings and parameters as the
// chart does (guardFallback's defaults, with the sealing component's exemption), the bindings
// last, and waits until the apiserver enforces them.
func (d *demo) installFallback(ctx context.Context) error {
	d.s.section("Install the guard's fallback: ValidatingAdmissionPolicies the apiserver evaluates itself, as the chart does")
	fb, err := webhook.FallbackPolicy(webhook.FallbackOptions{Namespace: writNS,
		Exempt: append(append([]string{}, webhook.DefaultFallbackExempt...), webhook.SealingExemption(writNS))})
	if err != nil {
		return err
	}
	for _, o := range fb.Objects() {
		if err := d.env.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	// Enforced once the admin may no longer touch the webhook configuration.
	if err := d.until(ctx, "the fallback policy", time.Minute, func() (bool, string) {
		err := d.env.Client.Delete(ctx, &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "writ-guard"}}, client.DryRunAll)
		_, denied := denial(err)
		return denied, fmt.Sprint("dry-run delete of writ-guard: ", err)
	}); err != nil {
		return err
	}
	d.s.evidence("ValidatingAdmissionPolicy %s and %s bound, parameters %s/%s (%d agent, %d exemption lines)",
		webhook.FallbackPolicyName, webhook.CredentialsPolicyName, writNS, webhook.FallbackParamsName,
		len(strings.Split(fb.Params.Data[webhook.FallbackAgentsKey], "\n")), len(strings.Split(fb.Params.Data[webhook.FallbackExemptKey], "\n")))
	d.s.evidence("static ValidatingAdmissionPolicy %s: loaded by the apiserver from its manifests directory at start", webhook.StaticProtectionName)
	return nil
}

// switchOffAttempts: with full RBAC, bob cannot switch the guard off: not by deleting its webhook
// configuration, not by setting its policy to Warn, not by minting the agent's token, not by
// unbinding the fallback.
func (d *demo) switchOffAttempts(ctx context.Context, c client.Client) error {
	d.s.say("Nor can he switch the guard off, or become the agent:")
	cs, err := kubernetes.NewForConfig(d.env.As(bob.user, bob.group))
	if err != nil {
		return err
	}
	for _, a := range []struct {
		cmd string
		err error
	}{
		{"delete validatingwebhookconfiguration writ-guard", c.Delete(ctx, &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "writ-guard"}})},
		{`patch guardpolicy writ --type merge -p '{"spec":{"mode":"Warn"}}'`, c.Patch(ctx, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "writ"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"mode":"Warn"}}`)))},
		{"create token writ-reconciler -n writ-system", func() error {
			_, err := cs.CoreV1().ServiceAccounts(writNS).CreateToken(ctx, reconcilerSA, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		}()},
		{"delete validatingadmissionpolicybinding writ-guard", c.Delete(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: webhook.FallbackPolicyName}})},
	} {
		d.s.cmd("%s %s", bob.kubectl(), a.cmd)
		msg, ok := denial(a.err)
		if !ok {
			return fmt.Errorf("bob's %q was not denied: %v", a.cmd, a.err)
		}
		d.s.evidence("%s", msg)
	}
	return nil
}
