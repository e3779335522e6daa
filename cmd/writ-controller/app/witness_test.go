package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/cmd/writ-controller/app"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

// TestWebhookComponentRunsTheWitness runs writ-controller --enable-webhook as its own process (the
// chart's writ-webhook Deployment): the witness's feed runs inside it, is part of its readiness,
// and indexes a Sync of a signed commit on its own, without any reconciler; then the reconciler's
// real token writes: what the commit declares passes, an object no commit declares and a changed
// field are denied.
func TestWebhookComponentRunsTheWitness(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	bin := t.TempDir()
	harness.BuildCommands(t, bin, "writ-controller")
	for _, ns := range []string{"writ-system", "app-witness"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	repo.Commit(alice, "app", map[string]string{"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: app-witness\ndata:\n  k: v\n"})
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "app-witness"}, Spec: provenancev1.TrustPolicySpec{
			Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "app-witness", Name: "repo"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, Ref: &reconcilev1.GitRef{Branch: "main"}, TrustPolicy: "app-witness"}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "app-witness", Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "repo"}, Path: "deploy"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}

	kc, err := env.KubeConfig("system:serviceaccount:writ-system:writ-webhook", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	hook := env.WebhookServing()
	metrics, probes := freeAddr(t), freeAddr(t)
	pctx, cancel := context.WithCancel(ctx)
	var logs harness.SyncBuffer
	cmd := exec.CommandContext(pctx, filepath.Join(bin, "writ-controller"), "--kubeconfig", kcPath, "--enable-webhook",
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probes, "--webhook-port", fmt.Sprint(hook.Port),
		"--webhook-cert-dir", hook.CertDir, "--witness-cache-dir", filepath.Join(dir, "witness"), "--witness-mode", "Enforce")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	waitReady(t, probes, &logs)
	if _, body, err := get("http://" + probes + "/readyz?verbose"); err != nil || !strings.Contains(body, "[+]witness ok") {
		t.Fatalf("the witness is not among the readiness checks: %v\n%s", err, body)
	}
	harness.Eventually(t, "the witness in writ-webhook to index the Sync", 60*time.Second, func() (bool, string) {
		_, body, err := get("http://" + metrics + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(body, `writ_witness_ready{name="app",namespace="app-witness"} 1`) &&
			strings.Contains(body, `writ_witness_indexed_objects{name="app",namespace="app-witness"} 1`), logs.String()
	})

	// The apiserver sends the reconciler's writes in app-witness to that process, as the chart's
	// witness.writ.dev entry does, and the reconciler's real token writes.
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	url := hook.URL(app.GuardPath)
	agentUser := "system:serviceaccount:writ-system:" + wellknown.ReconcilerServiceAccount
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "witness-app-test"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "witness.writ.dev", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none, FailurePolicy: &fail,
			ClientConfig:      admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: hook.CABundle},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "app-witness"}},
			MatchConditions:   []admissionregistrationv1.MatchCondition{{Name: "the-reconciler", Expression: `request.userInfo.username == "` + agentUser + `"`}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}}}
	if err := env.Client.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), vwc) })
	if err := env.Grant(ctx, harness.ServiceAccountSubject("writ-system", wellknown.ReconcilerServiceAccount), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccount(ctx, "writ-system", wellknown.ReconcilerServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	declared := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app-witness", Name: "settings",
			Labels:      map[string]string{wellknown.ManagedLabel: "app-witness.app"},
			Annotations: map[string]string{wellknown.SourceAnnotation: "file://" + repo.Dir + " (path deploy)", wellknown.CommitAnnotation: "any"}},
			Data: map[string]string{"k": "v"}}
	}
	// What the commit declares passes (once the apiserver calls the webhook: the configuration
	// takes a moment to reach its admission chain).
	harness.Eventually(t, "the reconciler's write of what Git declares to pass the witness", 30*time.Second, func() (bool, string) {
		err := agent.Create(ctx, declared(), client.DryRunAll)
		return err == nil, errString(err)
	})
	intruder := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app-witness", Name: "intruder"}, Data: map[string]string{"k": "v"}}
	harness.Eventually(t, "the reconciler's write no commit declares to be denied", 30*time.Second, func() (bool, string) {
		err := agent.Create(ctx, intruder, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "no verified commit declares it"), errString(err)
	})
	changed := declared()
	changed.Data["k"] = "evil"
	if err := agent.Create(ctx, changed, client.DryRunAll); err == nil || !strings.Contains(err.Error(), `Git declares .data.k = "v"`) ||
		!strings.Contains(err.Error(), "the agent's identity was used for a change no verified commit declares") {
		t.Fatalf("the reconciler's change of a field Git declares: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "allowed"
	}
	return err.Error()
}
