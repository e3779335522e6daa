package reconcile_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

// TestDeletingASyncLeavesWhatItApplied pins what the README says: deleting a Sync (by accident,
// or by someone who may delete Syncs but not workloads) orphans what it applied. The objects stay,
// with the writ.dev/managed label the guard protects them by and their commit and source
// annotations, and nothing prunes them later; a Sync created again adopts them.
func TestDeletingASyncLeavesWhatItApplied(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "app", map[string]string{
		"apps/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: orphans\ndata:\n  k: \"1\"\n",
	})
	start(t)
	const ns = "sync-delete"
	for _, n := range []string{ns, "orphans"} {
		if err := env.EnsureNamespace(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	fast := &metav1.Duration{Duration: time.Second}
	sync := func() *reconcilev1.Sync {
		return &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "app"}, Path: "apps", Interval: fast}}
	}
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: fast}},
		sync(),
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	applied := func() (bool, string) {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &s)
		return s.Status.LastAppliedCommit == commit, s.Status.LastAppliedCommit
	}
	eventually(t, "applied", applied)

	if err := env.Client.Delete(ctx, sync()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Sync is gone at once (no finalizer)", func() (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &reconcilev1.Sync{})
		return apierrors.IsNotFound(err), "still there"
	})
	time.Sleep(3 * time.Second) // several intervals and source fetches: nothing prunes the orphan

	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "orphans", Name: "kept"}, &cm); err != nil {
		t.Fatalf("deleting the Sync removed what it applied: %v", err)
	}
	if got := cm.Labels[wellknown.ManagedLabel]; got != ns+".app" {
		t.Errorf("%s = %q after the Sync's deletion, want %q: the guard would no longer protect the object", wellknown.ManagedLabel, got, ns+".app")
	}
	if cm.Annotations[wellknown.CommitAnnotation] != commit || cm.Annotations[wellknown.SourceAnnotation] == "" || cm.Data["k"] != "1" {
		t.Errorf("the orphan changed: annotations %v data %v", cm.Annotations, cm.Data)
	}

	// Created again, the Sync takes the objects back: applied, not duplicated or refused.
	if err := env.Client.Create(ctx, sync()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the re-created Sync applies again", applied)
	var s reconcilev1.Sync
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &s); err != nil || len(s.Status.Inventory) != 1 || s.Status.Inventory[0].Name != "kept" {
		t.Fatalf("inventory after re-creating the Sync: %+v %v", s.Status.Inventory, err)
	}
}
