package webhook_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/policies"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// A small Helm chart, as `helm create` makes one: its objects carry app.kubernetes.io/instance.
var helmChart = map[string]string{
	"Chart.yaml": "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
	"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hello
  labels:
    app.kubernetes.io/name: hello
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  greeting: hello
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-hello
  labels:
    app.kubernetes.io/name: hello
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  ports: [{port: 80}]
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
`,
}

// helmInstall installs the chart as a cluster admin with Helm's own client, into namespace.
func helmInstall(t *testing.T, namespace, release string) error {
	t.Helper()
	dir := t.TempDir()
	for name, text := range helmChart {
		path := filepath.Join(dir, "hello", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := loader.Load(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := env.KubeConfig("helm-user", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = release, namespace
	_, err = install.Run(ch, nil)
	return err
}

// TestHelmReleasesOutsideProtectionAreUnaffected: with the shipped Argo CD policy in Enforce, a
// real `helm install` into an unprotected namespace works (its objects carry Argo CD's legacy
// instance label, which no longer counts unless a policy opts in); an object Argo CD tracks by
// annotation, and a release into a protected namespace, are still denied.
func TestHelmReleasesOutsideProtectionAreUnaffected(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	guarded(t)
	if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(policies.FS, "guard-argocd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gp guardv1.GuardPolicy
	if err := yaml.UnmarshalStrict(b, &gp); err != nil {
		t.Fatal(err)
	}
	if gp.Spec.Mode != guardv1.Enforce || gp.Spec.Protect.ArgoCDLabelTracking {
		t.Fatalf("the shipped Argo CD policy: mode %s, argoCDLabelTracking %v", gp.Spec.Mode, gp.Spec.Protect.ArgoCDLabelTracking)
	}
	ensureNamespace(t, "helm-apps", nil)
	ensureNamespace(t, "helm-protected", map[string]string{"writ.dev/protected": "true"})
	if err := env.Client.Create(ctx, &gp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), &gp) })
	tracked := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "helm-apps", Name: "argo-tracked",
		Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "shop:/ConfigMap:helm-apps/argo-tracked"}}}
	waitForDenial(t, func() error { return as(t, "alice").Create(ctx, tracked) })

	if err := helmInstall(t, "helm-apps", "hello"); err != nil {
		t.Fatalf("helm install into an unprotected namespace: %v", err)
	}
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "helm-apps", Name: "hello-hello"}, &cm); err != nil || cm.Labels["app.kubernetes.io/instance"] != "hello" {
		t.Fatalf("the release's ConfigMap: %v %v", cm.Labels, err)
	}
	if err := as(t, "alice").Patch(ctx, &cm, mergePatch(`{"data":{"greeting":"hi"}}`)); err != nil {
		t.Errorf("editing a Helm release's object outside protected namespaces: %v", err)
	}
	guardDenied(t, "helm install into a protected namespace", helmInstall(t, "helm-protected", "hello"), `GuardPolicy "argocd"`)
}
