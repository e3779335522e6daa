package reconcile_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

type recorded struct {
	mu    sync.Mutex
	all   []audit.Event
	reg   *prometheus.Registry
	cache string // the root of the reconcilers' source.Cache
	// expected accepts the witness's refusals the test means to cause (expectWitnessDenials).
	expected func(auditv1.AuditEventSpec) bool
}

// counter returns the value of a counter with the given label value, from the test's registry.
func (r *recorded) counter(name, label, value string) float64 {
	v, _ := harness.Metric(r.reg, name, map[string]string{label: value})
	return v
}

func (r *recorded) has(kind audit.Kind, commit string) bool { return r.count(kind, commit) > 0 }

func (r *recorded) count(kind audit.Kind, commit string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.all {
		if e.Kind == kind && (commit == "" || e.Commit == commit) {
			n++
		}
	}
	return n
}

// start runs the GitSource and Sync reconcilers in a manager of their own, as writ-reconciler
// (agentConfig), until t ends; then t fails for every write of theirs the witness refused that
// the test did not expect (checkWitnessDenials).
func start(t testing.TB) *recorded {
	t.Helper()
	began := time.Now()
	// The cache directory is made first so that its removal (a cleanup registered by
	// TempDir) runs after the manager below has stopped writing into it, and the check of the
	// witness's refusals after the manager has stopped making writes.
	cache := t.TempDir()
	rec := &recorded{reg: prometheus.NewRegistry(), cache: cache}
	t.Cleanup(func() { rec.checkWitnessDenials(t, began) })
	ctx, cancel := context.WithCancel(context.Background())
	skip := true // each test runs its own manager with the same controllers
	mgr, err := ctrl.NewManager(agentConfig(t), ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	metrics := reconcile.NewMetrics(rec.reg)
	buf := audit.NewBuffered(func(_ context.Context, e audit.Event) error {
		rec.mu.Lock()
		rec.all = append(rec.all, e)
		rec.mu.Unlock()
		return nil
	}, audit.BufferedOptions{})
	sources := source.NewCache(cache)
	if err := (&reconcile.GitSourceReconciler{Client: mgr.GetClient(), Recorder: buf, Metrics: metrics, Cache: sources}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&reconcile.SyncReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Config: mgr.GetConfig(), Recorder: buf, Sources: sources, Metrics: metrics}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	return rec
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened; last state: %s", what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func cmYAML(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: shop\ndata:\n  k: \"" + value + "\"\n"
}

// TestSignedCommitsAreAppliedAndEverythingElseIsRefused walks a repository's history through
// the reconciler on the real apiserver.
func TestSignedCommitsAreAppliedAndEverythingElseIsRefused(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	mallory := fixtures.SSHKey(t, "Mallory", "mallory@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	first := repo.Commit(alice, "shop", map[string]string{
		"apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
		"apps/a.yaml":  cmYAML("a", "1"),
		"apps/b.yaml":  cmYAML("b", "1"),
		"README.md":    "not a manifest\n",
	})
	rec := start(t)
	if err := env.EnsureNamespace(ctx, "gitops"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}}); err != nil {
		t.Fatal(err)
	}
	fast := &metav1.Duration{Duration: time.Second}
	gs := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}, Spec: reconcilev1.GitSourceSpec{
		URL: "file://" + repo.Dir, Ref: &reconcilev1.GitRef{Branch: "main"}, TrustPolicy: "shop", Interval: fast}}
	sy := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}, Spec: reconcilev1.SyncSpec{
		SourceRef: reconcilev1.LocalObjectReference{Name: "shop"}, Path: "apps", Interval: fast}}
	for _, o := range []client.Object{gs, sy} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	syncState := func() (*reconcilev1.Sync, string) {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(sy), &s)
		c := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Ready)
		if c == nil {
			return &s, "no Ready condition"
		}
		return &s, string(c.Status) + " " + c.Reason + ": " + c.Message
	}
	cm := func(name string) (*corev1.ConfigMap, error) {
		var c corev1.ConfigMap
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &c)
		return &c, err
	}

	// 1. A signed commit is verified and applied.
	eventually(t, "first commit applied", func() (bool, string) {
		s, state := syncState()
		return s.Status.LastAppliedCommit == first && strings.HasPrefix(state, "True"), state
	})
	if c, err := cm("a"); err != nil || c.Data["k"] != "1" || c.Annotations["writ.dev/commit"] != first {
		t.Fatalf("a not applied: %v %v", c, err)
	}
	s, _ := syncState()
	if len(s.Status.LastAppliedSigners) == 0 || s.Status.LastAppliedSigners[0].Fingerprint != alice.Fingerprint || len(s.Status.Inventory) != 3 {
		t.Fatalf("status: signers %v inventory %v", s.Status.LastAppliedSigners, s.Status.Inventory)
	}
	if want := "ssh:" + alice.Fingerprint + " (alice@example.com)"; s.Status.LastAppliedSigners[0].ID != want {
		t.Errorf("status names the signer %q, want %q", s.Status.LastAppliedSigners[0].ID, want)
	}

	// 2. An unsigned commit, then one signed by an untrusted key: refused, the old state stays.
	unsigned := repo.Commit(fixtures.Signer{}, "sneak", map[string]string{"apps/a.yaml": cmYAML("a", "unsigned")})
	eventually(t, "unsigned commit rejected", func() (bool, string) {
		var g reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(gs), &g)
		c := apimeta.FindStatusCondition(g.Status.Conditions, reconcile.SourceVerified)
		return g.Status.LastFetchedCommit == unsigned && c != nil && c.Status == metav1.ConditionFalse && c.Reason == "Unsigned", g.Status.Verdict
	})
	repo.Git("reset", "-q", "--hard", first)
	untrusted := repo.Commit(mallory, "mallory", map[string]string{"apps/a.yaml": cmYAML("a", "mallory")})
	eventually(t, "untrusted commit rejected", func() (bool, string) {
		var g reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(gs), &g)
		c := apimeta.FindStatusCondition(g.Status.Conditions, reconcile.SourceVerified)
		return g.Status.LastFetchedCommit == untrusted && c != nil && c.Reason == "UnknownKey" && g.Status.LastVerifiedCommit == first, g.Status.Verdict
	})
	if c, _ := cm("a"); c.Data["k"] != "1" {
		t.Fatalf("a refused commit changed the cluster: %v", c.Data)
	}
	// Fetched again every second, the refused head is recorded once.
	time.Sleep(3 * time.Second)
	if n := rec.count(audit.CommitRejected, untrusted); n != 1 {
		t.Errorf("%d CommitRejected records for one refused commit fetched for 3 s, want 1", n)
	}

	// Back on the verified commit, the source says so again.
	repo.Git("reset", "-q", "--hard", first)
	eventually(t, "verified again", func() (bool, string) {
		var g reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(gs), &g)
		c := apimeta.FindStatusCondition(g.Status.Conditions, reconcile.SourceVerified)
		return g.Status.LastFetchedCommit == first && c != nil && c.Status == metav1.ConditionTrue && g.Status.Verdict == "Verified", g.Status.Verdict
	})

	// 3. A signed commit that deletes a manifest prunes exactly that object.
	third := repo.Commit(alice, "drop b, change a", map[string]string{"apps/b.yaml": "", "apps/a.yaml": cmYAML("a", "2")})
	eventually(t, "third commit applied", func() (bool, string) {
		s, state := syncState()
		return s.Status.LastAppliedCommit == third, state
	})
	if _, err := cm("b"); !apierrors.IsNotFound(err) {
		t.Fatalf("b not pruned: %v", err)
	}
	if c, _ := cm("a"); c.Data["k"] != "2" {
		t.Fatalf("a not updated: %v", c.Data)
	}
	if !rec.has(audit.SyncApplied, third) || !rec.has(audit.CommitVerified, third) {
		t.Error("no SyncApplied/CommitVerified record for the third commit")
	}
	if rec.counter("writ_sync_objects_total", "action", "pruned") < 1 || rec.counter("writ_verify_failures_total", "reason", "Unsigned") < 1 ||
		rec.counter("writ_verify_failures_total", "reason", "UnknownKey") < 1 {
		t.Error("metrics do not count the prune and the refused commits")
	}

	// 4. A force-push back to an older signed commit is refused as a rollback.
	repo.Git("reset", "-q", "--hard", first)
	eventually(t, "rollback refused", func() (bool, string) {
		var g reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(gs), &g)
		c := apimeta.FindStatusCondition(g.Status.Conditions, reconcile.SourceVerified)
		return g.Status.LastFetchedCommit == first && c != nil && c.Reason == "Rollback" && g.Status.LastVerifiedCommit == third, g.Status.Verdict
	})
	if _, err := cm("b"); !apierrors.IsNotFound(err) {
		t.Fatal("the rollback brought b back")
	}

	// 5. A broken manifest fails the sync with the file's name; the last good state stays.
	repo.Git("reset", "-q", "--hard", third)
	repo.Commit(alice, "typo", map[string]string{"apps/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
	eventually(t, "broken manifest reported", func() (bool, string) {
		_, state := syncState()
		return strings.Contains(state, "RenderFailed") && strings.Contains(state, "a.yaml"), state
	})
	if c, _ := cm("a"); c.Data["k"] != "2" {
		t.Fatalf("a broken commit changed the cluster: %v", c.Data)
	}
}
