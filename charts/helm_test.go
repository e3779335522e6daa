package charts_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/test/harness"
)

// helmConfig is Helm's own client for the control plane, as a cluster admin who maintains Writ
// (the static protection lets that identity remove the fallback policy).
func helmConfig(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	kc, err := env.KubeConfig(maintainer, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &path, &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// `helm install` as a person, in Helm's own order of the objects, is accepted, the fallback
// policy bound last; `helm uninstall` then works once a person has unbound the policy, and keeps
// what the chart says it keeps.
func TestHelmInstall(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	ns := "writ-helm"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cfg := helmConfig(t, ns)
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "writ", ns
	install.TakeOwnership = true // the CRDs the control plane was started with
	rel, err := install.Run(loadChart(t), nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed || !strings.Contains(rel.Info.Notes, "Next:") {
		t.Errorf("release %s, notes:\n%s", rel.Info.Status, rel.Info.Notes)
	}
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "writ-guard"}, &binding); err != nil {
		t.Fatalf("the fallback policy is not bound after the install: %v", err)
	}
	waitFallbackActive(t)

	// Uninstalling the guard is deliberate, as the README says: unbind the fallback policy
	// (audited), remove the webhook configuration (else the apiserver asks the departing webhook
	// about every cluster-scoped deletion that follows), then helm uninstall.
	if err := env.Client.Delete(ctx, binding.DeepCopy()); err == nil || !strings.Contains(err.Error(), "writ-guard-protection.static.k8s.io") {
		t.Fatalf("an admin who is no maintainer unbinds the fallback: %v", err)
	}
	m, err := client.New(env.As(maintainer, "system:masters"), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, &binding); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the admin may remove writ-guard once the policy is unbound", func() error {
		return env.Client.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "writ-guard"}})
	})
	if _, err := action.NewUninstall(cfg).Run("writ"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "writ-webhook"}, &d); !apierrors.IsNotFound(err) {
		t.Errorf("writ-webhook after uninstall: %v", err)
	}
	var pvc corev1.PersistentVolumeClaim
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "writ-audit"}, &pvc); err != nil {
		t.Errorf("the audit volume was not kept: %v", err)
	}
	var vap admissionregistrationv1.ValidatingAdmissionPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "writ-guard"}, &vap); !apierrors.IsNotFound(err) {
		t.Errorf("the fallback policy after uninstall: %v", err)
	}
}
