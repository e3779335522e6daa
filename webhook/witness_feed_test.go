package webhook_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
	"writ.dev/writ/witness/feed"
)

// TestWitnessFeedJudgesTheAgent: the guard with the real feed as its Witness (witness/feed, on a
// manager of its own, as the webhook component runs it): before the feed has verified a commit of
// the Sync, the agent's write is denied as not ready; once it has fetched and verified a commit
// signed with a key the TrustPolicy trusts (and git verify-commit accepts), the agent's apply of
// what that commit declares is allowed and a change of it is denied naming the field and commit.
func TestWitnessFeedJudgesTheAgent(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	const ns = "witness-feed"
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: " + ns + "}\ndata: {mode: safe}\n"
	commit := repo.Commit(alice, "settings", map[string]string{"apps/settings.yaml": manifest})
	// git's own verdict on the commit, with the TrustPolicy's allowed signers (Git fails the test
	// if git refuses it).
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, []byte(alice.AllowedSigner("")), 0o600); err != nil {
		t.Fatal(err)
	}
	repo.Git("-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", commit)

	cache := t.TempDir()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.New(feed.Options{Namespace: "writ-system", CacheDir: filepath.Join(cache, "witness"), Index: &witness.Index{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ev := guardedWith(t, func(g *webhook.Guard) { g.Witness = f })
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	harness.Eventually(t, "the feed's readiness check", 30*time.Second, func() (bool, string) {
		err := f.ReadyCheck(nil)
		return err == nil, errString(err)
	})

	if err := env.Grant(ctx, harness.ServiceAccountSubject("writ-system", "writ-reconciler"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	agent := mustClient(t, benchMust(env.ServiceAccount(ctx, "writ-system", "writ-reconciler"))(t))
	url := "file://" + repo.Dir
	stamped := func(mode string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings",
			Labels:      map[string]string{wellknown.ManagedLabel: ns + ".app"},
			Annotations: map[string]string{wellknown.SourceAnnotation: apply.SourceOf(url, "apps"), wellknown.CommitAnnotation: commit}},
			Data: map[string]string{"mode": mode}}
	}
	// No Sync yet: its objects are the agent's to write only once the feed has verified a commit.
	witnessDenied(t, "before the feed has a commit", agent.Create(ctx, stamped("safe")), "the witness is not ready", ns+"/app")

	fast := &metav1.Duration{Duration: time.Second}
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeRange,
			SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: reconcilev1.GitSourceSpec{
			URL: url, Ref: &reconcilev1.GitRef{Branch: "main"}, TrustPolicy: ns, Interval: fast}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "repo"}, Path: "apps", Interval: fast, ServiceAccountName: "deployer"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	harness.Eventually(t, "the agent's apply of what the signed commit declares", 60*time.Second, func() (bool, string) {
		err := agent.Create(ctx, stamped("safe"))
		return err == nil, errString(err)
	})
	before := len(ev.unverified(agentUser, "settings"))
	err = agent.Patch(ctx, stamped("evil"), mergePatch(`{"data":{"mode":"evil"}}`))
	witnessDenied(t, "a change the commit does not declare", err, "ConfigMap "+ns+"/settings", ".data.mode", commit, "Sync "+ns+"/app",
		`(Git declares .data.mode = "safe")`)
	recordedOnce(t, ev, agentUser, "settings", before, ".data.mode", commit)
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil || cm.Data["mode"] != "safe" {
		t.Errorf("settings: %v %v", cm.Data, err)
	}

	// The service account the Sync applies with is the agent too: its token cannot plant what no
	// commit declares.
	if err := env.Grant(ctx, harness.ServiceAccountSubject(ns, "deployer"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	deployer := mustClient(t, benchMust(env.ServiceAccount(ctx, ns, "deployer"))(t))
	harness.Eventually(t, "the Sync's service account judged by the witness", 30*time.Second, func() (bool, string) {
		err := deployer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "planted"}}, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), unverifiedText), errString(err)
	})

	// A cluster-admin impersonating the agent creates a mutating webhook no commit declares (the
	// apiserver never sends it to the guard): from then on not even what Git declares is
	// admitted, until it is gone. (It never fires: its objectSelector matches nothing.)
	none, ignore := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Ignore
	hook := "https://mallory.example.com/mutate"
	mallory := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "witness-feed-mallory"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mallory.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &hook},
			SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"witness-test": "never"}}}}}
	if err := mustClient(t, env.As(agentUser)).Create(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mallory) })
	reapply := func() error {
		return agent.Patch(ctx, stamped("safe"), mergePatch(`{"metadata":{"annotations":{"`+wellknown.CommitAnnotation+`":"`+commit+`"}},"data":{"mode":"safe"}}`))
	}
	harness.Eventually(t, "the agent's write while an unaccounted mutating webhook exists", 30*time.Second, func() (bool, string) {
		err := reapply()
		return err != nil && strings.Contains(err.Error(), "MutatingWebhookConfiguration.admissionregistration.k8s.io witness-feed-mallory: no verified commit declares it"), errString(err)
	})
	witnessDenied(t, "the agent's write while witness-feed-mallory exists", reapply(), "witness-feed-mallory", "--witness-trusted-mutators")
	if err := env.Client.Delete(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the agent's write once the mutating webhook is gone", 30*time.Second, func() (bool, string) {
		err := reapply()
		return err == nil, errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
