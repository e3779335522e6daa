package webhook_test

import (
	"os"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
)

var env *harness.Env

// maintainer may change writ-guard's policy and binding: the test control plane's static
// protection lists this user alone.
const maintainer = "writ-maintainer"

// The guard is registered for every resource and subresource, as the chart does, skipping the
// exempt namespaces in the apiserver and the apiserver's own writes.
func TestMain(m *testing.M) {
	path := "guard"
	// The chart's two entries: the guard outside the exempt namespaces, the witness for the
	// reconciler everywhere.
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "writ-guard-test"},
		Webhooks: webhook.Webhooks("writ-system", admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Path: &path}},
			[]string{"kube-system", "kube-public", "kube-node-lease", "writ-system"}),
	}
	// The approval stamp, as the chart's writ-breakglass registers it: failurePolicy Ignore, since
	// the validating guard checks approvedAt against its own clock anyway.
	stampPath := "stamp"
	ignore := admissionv1.Ignore
	none := admissionv1.SideEffectClassNone
	timeout := int32(5)
	mwc := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "writ-breakglass-test"},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:         "breakglass.writ.dev",
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Path: &stampPath}},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Update},
				Rule:       admissionv1.Rule{APIGroups: []string{"writ.dev"}, APIVersions: []string{"*"}, Resources: []string{"breakglassrequests"}},
			}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	// The control plane loads the static protection of writ-guard from its manifests directory,
	// as a production control plane configured per the README does.
	static, staticBinding, err := webhook.StaticProtection(webhook.StaticOptions{Maintainers: []string{maintainer}})
	if err != nil {
		panic(err)
	}
	os.Exit(harness.Main(m, harness.Options{ValidatingWebhooks: []*admissionv1.ValidatingWebhookConfiguration{vwc},
		MutatingWebhooks:        []*admissionv1.MutatingWebhookConfiguration{mwc},
		StaticAdmissionPolicies: []runtime.Object{static, staticBinding}}, &env))
}
