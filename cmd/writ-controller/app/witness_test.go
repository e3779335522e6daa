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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// TestWebhookComponentRunsTheWitness runs writ-controller --enable-webhook as its own process (the
// chart's writ-webhook Deployment): the witness's feed runs inside it, is part of its readiness,
// and indexes a Sync of a signed commit on its own, without any reconciler.
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
}
