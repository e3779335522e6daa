package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// TestSyncActsAsItsServiceAccount: a sync with serviceAccountName applies with that account's
// rights only (least privilege): refused until RBAC allows it, applied once it does.
func TestSyncActsAsItsServiceAccount(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	start(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "cm", map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limited, namespace: team-x}\ndata: {k: v}\n"})
	for _, ns := range []string{"gitops-sa", "team-x"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	fast := &metav1.Duration{Duration: time.Second}
	no := false
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-sa", Name: "deployer"}},
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sa"}, Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-sa", Name: "app"}, Spec: reconcilev1.GitSourceSpec{URL: "file://" + repo.Dir, TrustPolicy: "sa", Interval: fast}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-sa", Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "app"}, Path: "app", Interval: fast, Wait: &no, ServiceAccountName: "deployer"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (string, string) {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-sa", Name: "app"}, &s)
		return s.Status.LastAppliedCommit, conditions(s.Status.Conditions)
	}
	eventually(t, "refused without RBAC", func() (bool, string) {
		_, c := state()
		return strings.Contains(c, "ApplyFailed") && strings.Contains(c, `"system:serviceaccount:gitops-sa:deployer"`), c
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "team-x", Name: "limited"}, &corev1.ConfigMap{}); err == nil {
		t.Fatal("applied with the reconciler's own rights instead of the service account's")
	}
	// Grant the account what the sync needs in team-x only, and make it an agent of the guard,
	// as a Sync's service account must be to change what the guard protects.
	agentOf(t, "gitops-sa", "deployer")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-x", Name: "deployer"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-x", Name: "deployer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "gitops-sa", Name: "deployer"}}}
	for _, o := range []client.Object{role, rb} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "applied with RBAC", func() (bool, string) {
		applied, c := state()
		return applied == commit, c
	})
}
