package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// gauge returns the value of a gauge with the given labels, and whether it exists.
func (r *recorded) gauge(name string, labels map[string]string) (float64, bool) {
	return harness.Metric(r.reg, name, labels)
}

func (r *recorded) events(kind audit.Kind) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.all {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestRevocationReachesTheServedCommit: a commit already applied whose key is then revoked or
// removed from the TrustPolicy is revoked at once (the policy is watched; the source's interval
// is an hour), and its sync freezes: a person's edit (break-glass) is not healed, nothing is applied. A new
// commit by a trusted key, or the policy put back, lifts the freeze.
func TestRevocationReachesTheServedCommit(t *testing.T) {
	harness.Require(t, env)
	cases := []struct {
		name   string
		change func(spec *provenancev1.TrustPolicySpec, alice, bob fixtures.Signer)
		reason string // the verifier's reason for the served commit
		thaw   string // "commit": bob commits on top; "restore": the policy is put back
	}{
		{"revoked", func(spec *provenancev1.TrustPolicySpec, alice, _ fixtures.Signer) {
			spec.Revocations = []provenancev1.Revocation{{Fingerprint: alice.Fingerprint, Reason: "laptop stolen",
				From: metav1.NewTime(time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))}}
		}, "Revoked", "commit"},
		{"removed", func(spec *provenancev1.TrustPolicySpec, _, bob fixtures.Signer) {
			spec.SSH.AllowedSigners = bob.AllowedSigner("")
		}, "UnknownKey", "commit"},
		{"removed-then-restored", func(spec *provenancev1.TrustPolicySpec, _, bob fixtures.Signer) {
			spec.SSH.AllowedSigners = bob.AllowedSigner("")
		}, "UnknownKey", "restore"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testRevocation(t, tc.name, tc.change, tc.reason, tc.thaw)
		})
	}
}

func testRevocation(t *testing.T, name string, change func(*provenancev1.TrustPolicySpec, fixtures.Signer, fixtures.Signer), reason, thaw string) {
	ctx := context.Background()
	rec := start(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	bob := fixtures.SSHKey(t, "Bob", "bob@example.com", "ed25519")
	carol := fixtures.SSHKey(t, "Carol", "carol@example.com", "ed25519")
	gitops, target := "gitops-rv-"+name, "rv-"+name
	cfg := func(mode string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: " + target + "}\ndata: {mode: " + mode + "}\n"
	}
	repo := fixtures.NewRepo(t)
	first := repo.Commit(alice, "apps", map[string]string{
		"apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + target + "}\n",
		"apps/cm.yaml": cfg("safe"),
	})
	if err := env.EnsureNamespace(ctx, gitops); err != nil {
		t.Fatal(err)
	}
	slow := &metav1.Duration{Duration: time.Hour} // everything below must come from watches
	no := false
	tp := &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "rv-" + name}, Spec: provenancev1.TrustPolicySpec{
		Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("") + "\n" + bob.AllowedSigner("")}}}
	gsKey := client.ObjectKey{Namespace: gitops, Name: "apps"}
	syKey := client.ObjectKey{Namespace: gitops, Name: "apps"}
	for _, o := range []client.Object{tp,
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: gitops, Name: "apps"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, TrustPolicy: tp.Name, Interval: slow}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: gitops, Name: "apps"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "apps"}, Path: "apps", Interval: slow, Wait: &no}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	source := func() reconcilev1.GitSource {
		var gs reconcilev1.GitSource
		_ = env.Client.Get(ctx, gsKey, &gs)
		return gs
	}
	sync := func() reconcilev1.Sync {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, syKey, &s)
		return s
	}
	mode := func() string {
		var c corev1.ConfigMap
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: target, Name: "cfg"}, &c)
		return c.Data["mode"]
	}
	edit := func(value string) {
		t.Helper()
		// A person's edit under a break-glass grant that ends right after it: healed then,
		// unless the sync is frozen.
		human := emergency(t, target)
		defer human.End(t)
		if err := human.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: target, Name: "cfg"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"`+value+`"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(mutate func(*provenancev1.TrustPolicySpec)) int64 {
		t.Helper()
		var cur provenancev1.TrustPolicy
		if err := env.Client.Get(ctx, client.ObjectKey{Name: tp.Name}, &cur); err != nil {
			t.Fatal(err)
		}
		mutate(&cur.Spec)
		if err := env.Client.Update(ctx, &cur); err != nil {
			t.Fatal(err)
		}
		return cur.Generation
	}
	cond := func(conds []metav1.Condition, typ string) string {
		c := apimeta.FindStatusCondition(conds, typ)
		if c == nil {
			return "none"
		}
		return string(c.Status) + " " + c.Reason
	}
	revokedGauge := func() float64 {
		v, _ := rec.gauge("writ_source_revoked", map[string]string{"namespace": gitops, "name": "apps"})
		return v
	}

	// The signed commit is applied, and a person's edit is healed: the baseline the freeze stops.
	eventually(t, "first commit applied", func() (bool, string) {
		s := sync()
		return s.Status.LastAppliedCommit == first && mode() == "safe", conditions(s.Status.Conditions)
	})
	edit("unsafe")
	eventually(t, "drift healed before the revocation", func() (bool, string) { return mode() == "safe", mode() })

	// A policy change that keeps the commit valid: verified again under the new generation.
	gen := policy(func(s *provenancev1.TrustPolicySpec) { s.SSH.AllowedSigners += "\n" + carol.AllowedSigner("") })
	eventually(t, "re-verified under the new generation", func() (bool, string) {
		gs := source()
		return gs.Status.TrustPolicyGeneration == gen && gs.Status.Revoked == nil && cond(gs.Status.Conditions, reconcile.SourceVerified) == "True Verified",
			fmt.Sprintf("generation %d, %s", gs.Status.TrustPolicyGeneration, conditions(gs.Status.Conditions))
	})
	if n := len(rec.events(audit.CommitRevoked)); n != 0 {
		t.Fatalf("%d CommitRevoked records for a policy change that keeps the commit valid", n)
	}
	if v, ok := rec.gauge("writ_source_revoked", map[string]string{"namespace": gitops, "name": "apps"}); !ok || v != 0 {
		t.Fatalf("writ_source_revoked = %v (present %v) for a verified source, want 0", v, ok)
	}

	// The key is revoked (or removed): the served commit, unchanged in Git, is revoked.
	gen = policy(func(s *provenancev1.TrustPolicySpec) { change(s, alice, bob) })
	eventually(t, "the served commit revoked", func() (bool, string) {
		gs := source()
		rv := gs.Status.Revoked
		return rv != nil && rv.Commit == first && rv.Reason == reason && rv.TrustPolicyGeneration == gen &&
				gs.Status.TrustPolicyGeneration == gen && cond(gs.Status.Conditions, reconcile.SourceVerified) == "False Revoked" &&
				cond(gs.Status.Conditions, reconcile.Ready) == "False Revoked",
			fmt.Sprintf("revoked %+v; %s", rv, conditions(gs.Status.Conditions))
	})
	if gs := source(); gs.Status.LastVerifiedCommit != first || gs.Status.LastFetchedCommit != first {
		t.Fatalf("the revocation moved the source: verified %s fetched %s", gs.Status.LastVerifiedCommit, gs.Status.LastFetchedCommit)
	}
	eventually(t, "the sync frozen", func() (bool, string) {
		s := sync()
		return cond(s.Status.Conditions, reconcile.Stalled) == "True SourceRevoked" && cond(s.Status.Conditions, reconcile.Ready) == "False SourceRevoked",
			conditions(s.Status.Conditions)
	})
	if c := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Stalled); !strings.Contains(c.Message, "revoked") || !strings.Contains(c.Message, first) {
		t.Errorf("the Stalled message does not say the source's commit was revoked: %s", c.Message)
	}
	eventually(t, "the CommitRevoked record", func() (bool, string) {
		evs := rec.events(audit.CommitRevoked)
		return len(evs) == 1 && evs[0].Commit == first && evs[0].Policy == tp.Name && evs[0].Object.Kind == "GitSource" &&
				evs[0].Object.Name == "apps" && slices.ContainsFunc(evs[0].Signers, func(s string) bool { return strings.Contains(s, alice.Fingerprint) }),
			fmt.Sprintf("%+v", evs)
	})
	eventually(t, "writ_source_revoked", func() (bool, string) { return revokedGauge() == 1, fmt.Sprint(revokedGauge()) })

	// Frozen: a person's edit stays, through the drift watch and a full reconciliation of the
	// sync (its generation changes; observedGeneration shows it ran after the edit).
	applied, healed, detected := len(rec.events(audit.SyncApplied)), len(rec.events(audit.DriftHealed)), len(rec.events(audit.DriftDetected))
	edit("admin-edit")
	// A merge patch of the spec alone: the reconciler writes the Sync's status meanwhile, and an
	// Update of a copy read before that fails with a conflict.
	if err := env.Client.Patch(ctx, &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: syKey.Namespace, Name: syKey.Name}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"interval":"2h0m0s"}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sync reconciled after the edit", func() (bool, string) {
		s := sync()
		return s.Status.ObservedGeneration == s.Generation, fmt.Sprintf("observed %d of %d", s.Status.ObservedGeneration, s.Generation)
	})
	time.Sleep(2 * time.Second) // and the drift watch's own event
	if m := mode(); m != "admin-edit" {
		t.Fatalf("a frozen sync healed the drift: mode is %q", m)
	}
	if a, h := len(rec.events(audit.SyncApplied)), len(rec.events(audit.DriftHealed)); a != applied || h != healed {
		t.Fatalf("a frozen sync applied (%d -> %d SyncApplied) or healed (%d -> %d DriftHealed)", applied, a, healed, h)
	}
	// ... but seen: recorded and reported.
	eventually(t, "the frozen drift recorded", func() (bool, string) {
		for _, e := range rec.events(audit.DriftDetected)[detected:] {
			if e.Object.Namespace == target && e.Object.Name == "cfg" && e.Manager == "kubectl-edit" && e.Commit == first &&
				len(e.Fields) > 0 && e.Fields[0] == ".data.mode" {
				c := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Drifted)
				return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "not healed while frozen"), conditions(sync().Status.Conditions)
			}
		}
		return false, fmt.Sprintf("%+v", rec.events(audit.DriftDetected))
	})
	if m := mode(); m != "admin-edit" {
		t.Fatalf("drift detection healed a frozen sync: mode is %q", m)
	}
	if st := sync().Status; st.LastAppliedCommit != first || len(st.History) == 0 || st.History[0].Result != "Frozen" {
		t.Fatalf("history %+v, applied %s", st.History, st.LastAppliedCommit)
	}

	// The freeze lifts: a new commit signed by a trusted key, or the policy put back.
	next := first
	switch thaw {
	case "commit":
		next = repo.Commit(bob, "bob takes over", map[string]string{"apps/other.yaml": strings.ReplaceAll(cfg("x"), "name: cfg", "name: other")})
		var gs reconcilev1.GitSource
		if err := env.Client.Get(ctx, gsKey, &gs); err != nil {
			t.Fatal(err)
		}
		gs.Annotations = map[string]string{"test.writ.dev/poke": next} // fetch now, not in an hour
		if err := env.Client.Update(ctx, &gs); err != nil {
			t.Fatal(err)
		}
	case "restore":
		policy(func(s *provenancev1.TrustPolicySpec) {
			s.SSH.AllowedSigners = alice.AllowedSigner("") + "\n" + bob.AllowedSigner("")
			s.Revocations = nil
		})
	}
	eventually(t, "the source serves a verified commit again", func() (bool, string) {
		gs := source()
		return gs.Status.LastVerifiedCommit == next && gs.Status.Revoked == nil && cond(gs.Status.Conditions, reconcile.SourceVerified) == "True Verified" &&
			cond(gs.Status.Conditions, reconcile.Ready) == "True Verified", conditions(gs.Status.Conditions)
	})
	eventually(t, "the sync applies and heals again", func() (bool, string) {
		s := sync()
		return s.Status.LastAppliedCommit == next && mode() == "safe" && cond(s.Status.Conditions, reconcile.Stalled) != "True SourceRevoked",
			fmt.Sprintf("applied %s, mode %q, %s", s.Status.LastAppliedCommit, mode(), conditions(s.Status.Conditions))
	})
	eventually(t, "writ_source_revoked back to 0", func() (bool, string) { return revokedGauge() == 0, fmt.Sprint(revokedGauge()) })
	if thaw == "restore" {
		eventually(t, "the served commit recorded as verified again", func() (bool, string) {
			for _, e := range rec.events(audit.CommitVerified) {
				if e.Commit == first && strings.Contains(e.Reason, "verifies again") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", rec.events(audit.CommitVerified))
		})
	}
	if n := len(rec.events(audit.CommitRevoked)); n != 1 {
		t.Errorf("%d CommitRevoked records for one revocation, want 1", n)
	}
}

// TestRevocationInTagModeReachesTheServedTagWhileTheRemoteIsDown: in Tag mode the served
// commit is judged again through the very tag object that admitted it, read from the cache, so a
// revocation of the tagger's key lands even when the remote cannot be fetched. A tag ref that
// reaches a tag object of another name (an old release replayed as v9.9.9) is refused.
func TestRevocationInTagModeReachesTheServedTagWhileTheRemoteIsDown(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	rec := start(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	bob := fixtures.SSHKey(t, "Bob", "bob@example.com", "ed25519")
	const gitops, target = "gitops-rv-tag", "rv-tag"
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "release", map[string]string{
		"apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + target + "}\n",
		"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: " + target + "}\ndata: {mode: safe}\n",
	})
	repo.Tag(bob, "v1.0.0", commit, "release 1.0.0")
	tagObject := repo.Git("rev-parse", "refs/tags/v1.0.0")
	repo.Git("update-ref", "refs/tags/v9.9.9", tagObject)
	if err := env.EnsureNamespace(ctx, gitops); err != nil {
		t.Fatal(err)
	}
	slow := &metav1.Duration{Duration: time.Hour}
	no := false
	tp := &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "rv-tag"}, Spec: provenancev1.TrustPolicySpec{
		Mode: provenancev1.ModeTag, Tag: &provenancev1.TagOptions{Pattern: "v*"},
		SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("") + "\n" + bob.AllowedSigner("")}}}
	for _, o := range []client.Object{tp,
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: gitops, Name: "release"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, Ref: &reconcilev1.GitRef{Tag: "v1.0.0"}, TrustPolicy: tp.Name, Interval: slow}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: gitops, Name: "replayed"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, Ref: &reconcilev1.GitRef{Tag: "v9.9.9"}, TrustPolicy: tp.Name, Interval: slow}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: gitops, Name: "release"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "release"}, Path: "apps", Interval: slow, Wait: &no}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	source := func(name string) reconcilev1.GitSource {
		var gs reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: gitops, Name: name}, &gs)
		return gs
	}
	sync := func() reconcilev1.Sync {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: gitops, Name: "release"}, &s)
		return s
	}

	// The replayed tag is refused; the real one is served, its tag object recorded.
	eventually(t, "the replayed tag refused", func() (bool, string) {
		gs := source("replayed")
		c := apimeta.FindStatusCondition(gs.Status.Conditions, reconcile.SourceVerified)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "TagNameMismatch" && strings.Contains(c.Message, `"v1.0.0"`),
			conditions(gs.Status.Conditions)
	})
	if gs := source("replayed"); gs.Status.LastVerifiedCommit != "" {
		t.Fatalf("the replayed tag was served: %s", gs.Status.LastVerifiedCommit)
	}
	eventually(t, "the replayed tag's CommitRejected record", func() (bool, string) {
		for _, e := range rec.events(audit.CommitRejected) {
			if strings.Contains(e.Reason, "v9.9.9") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", rec.events(audit.CommitRejected))
	})
	eventually(t, "the release applied", func() (bool, string) {
		s := sync()
		return s.Status.LastAppliedCommit == commit, conditions(s.Status.Conditions)
	})
	if gs := source("release"); gs.Status.LastVerifiedTag != tagObject {
		t.Fatalf("lastVerifiedTag %q, want the tag object %s", gs.Status.LastVerifiedTag, tagObject)
	}

	// The remote goes away, then the tagger's key is revoked.
	if err := os.Rename(repo.Dir, repo.Dir+".gone"); err != nil {
		t.Fatal(err)
	}
	var cur provenancev1.TrustPolicy
	if err := env.Client.Get(ctx, client.ObjectKey{Name: tp.Name}, &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Revocations = []provenancev1.Revocation{{Fingerprint: bob.Fingerprint, From: metav1.NewTime(time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))}}
	if err := env.Client.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the served tag revoked from the cache", func() (bool, string) {
		gs := source("release")
		rv := gs.Status.Revoked
		c := apimeta.FindStatusCondition(gs.Status.Conditions, reconcile.SourceVerified)
		return rv != nil && rv.Commit == commit && rv.Reason == "Revoked" && rv.TrustPolicyGeneration == cur.Generation &&
			c != nil && c.Reason == "Revoked", fmt.Sprintf("revoked %+v; %s", rv, conditions(gs.Status.Conditions))
	})
	eventually(t, "the sync frozen", func() (bool, string) {
		c := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Stalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "SourceRevoked", conditions(sync().Status.Conditions)
	})
	eventually(t, "the CommitRevoked record", func() (bool, string) {
		evs := rec.events(audit.CommitRevoked)
		return len(evs) == 1 && evs[0].Commit == commit, fmt.Sprintf("%+v", evs)
	})
}

// TestCommitRevokedEvidencesChangeManagementAndMonitoring: the new record kind maps to the SOC 2
// criteria of the other refusals.
func TestCommitRevokedEvidencesChangeManagementAndMonitoring(t *testing.T) {
	if got := audit.CommitRevoked.Criteria(); !audit.CommitRevoked.Known() || !slices.Equal(got, []audit.Criterion{audit.CC8_1, audit.CC7_2}) {
		t.Fatalf("CommitRevoked criteria %v (known %v), want CC8.1 and CC7.2", got, audit.CommitRevoked.Known())
	}
}

// TestGitSourceErrorsAreTransientOrMarked: as Flux's controllers do, a failure that may pass (the
// remote cannot be reached) is returned so the workqueue backs off; one that needs a change (the
// TrustPolicy does not exist) is marked Stalled and not returned.
func TestGitSourceErrorsAreTransientOrMarked(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	const ns = "gitops-rv-errors"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "rv-errors"},
		Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unreachable"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + t.TempDir() + "/no-such-repo", TrustPolicy: "rv-errors"}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-policy"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + t.TempDir(), TrustPolicy: "rv-errors-missing"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	agent, err := client.New(agentConfig(t), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := &reconcile.GitSourceReconciler{Client: agent, Cache: source.NewCache(t.TempDir())}
	req := func(name string) ctrl.Request {
		return ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}
	}
	if _, err := r.Reconcile(ctx, req("unreachable")); err == nil {
		t.Fatal("an unreachable remote was not returned as an error: the workqueue would not back off")
	}
	res, err := r.Reconcile(ctx, req("no-policy"))
	if err != nil {
		t.Fatalf("a missing TrustPolicy was returned as a transient error: %v", err)
	}
	var gs reconcilev1.GitSource
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "no-policy"}, &gs); err != nil {
		t.Fatal(err)
	}
	if c := apimeta.FindStatusCondition(gs.Status.Conditions, reconcile.Stalled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != "TrustPolicyNotFound" || res.RequeueAfter == 0 {
		t.Fatalf("Stalled %+v, requeue after %s", c, res.RequeueAfter)
	}
}
