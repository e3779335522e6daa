package feed

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

// running is a feed on its own manager, as the webhook component runs it.
type running struct {
	feed  *Feed
	reg   *prometheus.Registry
	holds sync.Map // GitSource key -> chan struct{}: the loop's reconciliations of it wait until it closes
}

// hold keeps the feed's loop from reconciling the GitSource key (a catch-up still may) until the
// test ends.
func (r *running) hold(t *testing.T, key types.NamespacedName) {
	ch := make(chan struct{})
	r.holds.Store(key, ch)
	t.Cleanup(func() { r.holds.Delete(key); close(ch) })
}

// gate is the loop's gate: it waits while the GitSource is held.
func (r *running) gate(ctx context.Context, key types.NamespacedName) {
	if ch, ok := r.holds.Load(key); ok {
		select {
		case <-ch.(chan struct{}):
		case <-ctx.Done():
		}
	}
}

func start(t *testing.T) *running {
	t.Helper()
	cache := cacheDir(t) // made first, so that it is removed after the manager stopped
	skip := true         // each test runs its own manager with the same controllers
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Namespace: "writ-system", CacheDir: filepath.Join(cache, "witness"), Index: &witness.Index{}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{feed: f, reg: reg}
	f.loop.gate = r.gate
	if err := f.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	harness.Eventually(t, "the feed's readiness check", 30*time.Second, func() (bool, string) {
		err := f.ReadyCheck(nil)
		return err == nil, errString(err)
	})
	return r
}

// cacheDir is a temporary directory removed once the test and its cleanups are done. A catch-up
// the feed began for a write the test's last Check judged runs on its own deadline and may still
// be checking a repository out when the manager stops (the cache is disposable, so the feed does
// not wait for it), so the removal is retried for a while instead of failing on a file written
// meanwhile, as t.TempDir's would.
func cacheDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "feed-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.RemoveAll(dir)
			if err == nil || time.Now().After(deadline) {
				if err != nil {
					t.Errorf("removing the feed's cache: %v", err)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gauge reads a writ_witness_* gauge of a Sync.
func (r *running) gauge(name string, sync types.NamespacedName) float64 {
	v, _ := harness.Metric(r.reg, name, map[string]string{"namespace": sync.Namespace, "name": sync.Name})
	return v
}

// waitReady waits until the site's Sync has an index.
func (r *running) waitReady(t *testing.T, s *site, what string) {
	t.Helper()
	harness.Eventually(t, what, 60*time.Second, func() (bool, string) { return r.feed.Ready(s.key), r.feed.notes.why(s.key) })
}

// publishes is how many publishes writ_witness_publish_duration_seconds observed.
func (r *running) publishes() uint64 {
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "writ_witness_publish_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// observed is the resourceVersion of the GitSource the feed's last reconciliation of it read.
func (r *running) observed(key types.NamespacedName) string {
	l := r.feed.loop
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.sources[key]; a != nil {
		return a.observed
	}
	return ""
}

// site is one test's repository, TrustPolicy, GitSource and Sync, all named after its namespace.
type site struct {
	ns    string
	repo  *fixtures.Repo
	alice fixtures.Signer
	gs    *reconcilev1.GitSource
	sync  *reconcilev1.Sync
	key   types.NamespacedName // the Sync's
}

func cmYAML(ns, name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  k: \"" + value + "\"\n"
}

// newSite makes the namespace and a repository whose first commit alice signs, declaring the
// ConfigMap "settings" with value first in apps/.
func newSite(t *testing.T, ns, first string) *site {
	t.Helper()
	if err := env.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	s := &site{ns: ns, repo: fixtures.NewRepo(t), alice: fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")}
	s.repo.Commit(s.alice, "first", map[string]string{"apps/settings.yaml": cmYAML(ns, "settings", first), "README.md": "not a manifest\n"})
	s.key = types.NamespacedName{Namespace: ns, Name: "app"}
	return s
}

// policy creates the site's TrustPolicy (Range mode, alice's SSH key).
func (s *site) policy(t *testing.T) *provenancev1.TrustPolicy {
	t.Helper()
	tp := &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: s.ns},
		Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: s.alice.AllowedSigner("")}}}
	create(t, tp)
	return tp
}

// apply creates the site's GitSource (url, fetched every second) and Sync (path apps).
func (s *site) apply(t *testing.T, url string, secret string) {
	t.Helper()
	s.applyEvery(t, url, secret, time.Second)
}

// applyEvery is apply with the GitSource and Sync fetched every interval.
func (s *site) applyEvery(t *testing.T, url string, secret string, interval time.Duration) {
	t.Helper()
	fast := &metav1.Duration{Duration: interval}
	s.gs = &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "repo"}, Spec: reconcilev1.GitSourceSpec{
		URL: url, Ref: &reconcilev1.GitRef{Branch: "main"}, TrustPolicy: s.ns, Interval: fast}}
	if secret != "" {
		s.gs.Spec.SecretRef = &reconcilev1.LocalObjectReference{Name: secret}
	}
	s.sync = &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.key.Name}, Spec: reconcilev1.SyncSpec{
		SourceRef: reconcilev1.LocalObjectReference{Name: "repo"}, Path: "apps", Interval: fast}}
	create(t, s.gs)
	create(t, s.sync)
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
}

// stamped is the ConfigMap "settings" with value as the reconciler writes it: the tracking label,
// the source annotation and the commit annotation of some commit.
func (s *site) stamped(value, commit string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "settings",
			Labels:      map[string]string{wellknown.ManagedLabel: s.ns + "." + s.key.Name},
			Annotations: map[string]string{wellknown.SourceAnnotation: apply.SourceOf(s.gs.Spec.URL, "apps"), wellknown.CommitAnnotation: commit}},
		Data: map[string]string{"k": value}}
}

// storedSettings creates the ConfigMap "settings" as the reconciler writes it from commit (value
// 1) and returns what the apiserver stores (uid, resourceVersion, managedFields, ...) around what
// Git declares, with its kind as an admission review carries it (the typed client drops it).
func (s *site) storedSettings(t *testing.T, commit string) *corev1.ConfigMap {
	t.Helper()
	ctx := context.Background()
	cm := s.stamped("1", commit)
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	var stored corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &stored); err != nil {
		t.Fatal(err)
	}
	stored.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	return &stored
}

// update is the agent's UPDATE of the ConfigMap to cm, by the reconciler's server-side apply
// (its managedFields entry owns the fields the reconciler applies).
func (s *site) update(t *testing.T, cm *corev1.ConfigMap) witness.Write {
	t.Helper()
	owned := map[string]any{"f:metadata": map[string]any{
		"f:labels":      map[string]any{"f:" + wellknown.ManagedLabel: map[string]any{}},
		"f:annotations": map[string]any{"f:" + wellknown.SourceAnnotation: map[string]any{}, "f:" + wellknown.CommitAnnotation: map[string]any{}}},
		"f:data": map[string]any{"f:k": map[string]any{}}}
	fieldsV1, err := json.Marshal(owned)
	if err != nil {
		t.Fatal(err)
	}
	cm = cm.DeepCopy()
	cm.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: wellknown.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fieldsV1}}}
	raw, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	return witness.Write{Operation: witness.Update, Object: witness.Key{Kind: "ConfigMap", Namespace: s.ns, Name: "settings"}, Sync: s.key, Raw: raw}
}

// TestFeedIndexesASignedCommit: the feed fetches, verifies and renders a signed commit on its
// own, and the ConfigMap as the apiserver stores it after the reconciler's apply is Declared.
func TestFeedIndexesASignedCommit(t *testing.T) {
	harness.Require(t, env)
	r := start(t)
	s := newSite(t, "feed-signed", "1")
	c1 := s.repo.Git("rev-parse", "HEAD")
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	r.waitReady(t, s, "the Sync's index")

	stored := s.storedSettings(t, c1)
	if res := r.feed.Check(s.update(t, stored)); !res.Allowed || res.Reason != witness.Declared || res.Commit != c1 || res.Sync != s.key {
		t.Fatalf("the stored object as Git declares it: %+v %s", res, res.Message())
	}
	stored.Data["k"] = "2"
	if res := r.feed.Check(s.update(t, stored)); res.Allowed || res.Reason != witness.Mismatch || res.Path != ".data.k" {
		t.Fatalf("a value Git does not declare: %+v", res)
	}
	stored.Data["k"] = "1"
	stored.Labels["extra"] = "x"
	if res := r.feed.Check(s.update(t, stored)); !res.Allowed {
		t.Fatalf("a label Git does not set is not compared (the index holds the declared fields only): %+v", res)
	}
	// Without the tracking label the object is not what the reconciler writes.
	delete(stored.Labels, wellknown.ManagedLabel)
	if res := r.feed.Check(s.update(t, stored)); res.Allowed || res.Path != ".metadata.labels."+wellknown.ManagedLabel {
		t.Fatalf("the tracking label is declared: %+v", res)
	}
	if g := r.gauge("writ_witness_ready", s.key); g != 1 {
		t.Errorf("writ_witness_ready = %v, want 1", g)
	}
	if g := r.gauge("writ_witness_indexed_objects", s.key); g != 1 {
		t.Errorf("writ_witness_indexed_objects = %v, want 1 (README.md is no manifest)", g)
	}
	if n := r.publishes(); n < 1 {
		t.Errorf("writ_witness_publish_duration_seconds observed %d publishes", n)
	}
}

// TestFeedShiftsToANewCommitAndRefusesAnUnsignedOne: a new signed commit becomes the newest and
// the one before stays admissible (a rollout in stages); an unsigned head, which git's own
// verify-commit rejects too, is refused and the index kept; and a GitSource status an admin forged
// to name the unsigned commit changes nothing.
func TestFeedShiftsToANewCommitAndRefusesAnUnsignedOne(t *testing.T) {
	harness.Require(t, env)
	r := start(t)
	s := newSite(t, "feed-shift", "1")
	c1 := s.repo.Git("rev-parse", "HEAD")
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	declared := func(value, commit string) (bool, string) {
		res := r.feed.Check(s.update(t, s.stamped(value, commit)))
		return res.Allowed && res.Commit == commit, res.Message()
	}
	harness.Eventually(t, "commit 1 indexed", 60*time.Second, func() (bool, string) { return declared("1", c1) })

	c2 := s.repo.Commit(s.alice, "second", map[string]string{"apps/settings.yaml": cmYAML(s.ns, "settings", "2")})
	harness.Eventually(t, "commit 2 indexed", 60*time.Second, func() (bool, string) { return declared("2", c2) })
	if ok, msg := declared("1", c1); !ok {
		t.Fatalf("the previous commit's object during a rollout: %s", msg)
	}

	c3 := s.repo.Commit(fixtures.Signer{}, "unsigned", map[string]string{"apps/settings.yaml": cmYAML(s.ns, "settings", "3")})
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, []byte(s.alice.AllowedSigner("")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gitEnv := []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=gpg.ssh.allowedSignersFile", "GIT_CONFIG_VALUE_0=" + allowed}
	if gv := fixtures.GitVerify(t, s.repo.Dir, "commit", c2, gitEnv...); !gv.OK {
		t.Fatalf("git verify-commit rejects the signed commit: %s", gv.Status)
	}
	if gv := fixtures.GitVerify(t, s.repo.Dir, "commit", c3, gitEnv...); gv.OK {
		t.Fatalf("git verify-commit accepts the unsigned commit: %s", gv.Status)
	}
	harness.Eventually(t, "the unsigned head refused", 60*time.Second, func() (bool, string) {
		v, _ := harness.Metric(r.reg, "writ_witness_verify_failures_total", map[string]string{"reason": "Unsigned"})
		return v >= 1, "no refusal counted"
	})
	if ok, msg := declared("3", c3); ok {
		t.Fatalf("the unsigned commit's object is admitted: %s", msg)
	}
	if ok, msg := declared("2", c2); !ok {
		t.Fatalf("the last verified commit after a refused head: %s", msg)
	}

	// An admin forges the GitSource's status, as the reconciler would write it for c3.
	gs := claimVerified(t, client.ObjectKeyFromObject(s.gs), c3)
	harness.Eventually(t, "the feed to read the forged status", 60*time.Second, func() (bool, string) {
		got := r.observed(client.ObjectKeyFromObject(s.gs))
		return got == gs.ResourceVersion, "observed resourceVersion " + got + ", forged " + gs.ResourceVersion
	})
	if ok, msg := declared("3", c3); ok {
		t.Fatalf("a forged status.lastVerifiedCommit made the unsigned commit declared: %s", msg)
	}
	if ok, msg := declared("2", c2); !ok {
		t.Fatalf("after a forged status: %s", msg)
	}
}

// claimVerified writes a GitSource's status as the reconciler does when it has verified commit
// (or as an admin forging it would) and returns the GitSource as written.
func claimVerified(t *testing.T, key types.NamespacedName, commit string) reconcilev1.GitSource {
	t.Helper()
	ctx := context.Background()
	var gs reconcilev1.GitSource
	if err := env.Client.Get(ctx, key, &gs); err != nil {
		t.Fatal(err)
	}
	base := gs.DeepCopy()
	gs.Status.LastVerifiedCommit, gs.Status.LastFetchedCommit, gs.Status.Verdict = commit, commit, "Verified"
	if err := env.Client.Status().Patch(ctx, &gs, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	return gs
}
