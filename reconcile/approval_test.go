package reconcile_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// A commit under a two-person rule is applied only once a second person approves it with a
// signed tag, and the audit record names the signer and the approver apart.
func TestApprovedCommitRecordsSignerAndApprover(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	bob := fixtures.SSHKey(t, "Bob", "bob@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "payments config", map[string]string{
		"prod/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: approvals}\n",
		"prod/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: approvals}\ndata: {max: '10'}\n",
	})
	rec := start(t)
	if err := env.EnsureNamespace(ctx, "gitops-approvals"); err != nil {
		t.Fatal(err)
	}
	fast := &metav1.Duration{Duration: time.Second}
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "approvals"}, Spec: provenancev1.TrustPolicySpec{
			SSH:       &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("") + "\n" + bob.AllowedSigner("")},
			Approvals: []provenancev1.ApprovalRule{{Name: "prod", Paths: []string{"prod/**"}, MinSigners: 2, TagPattern: "approve/*"}}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-approvals", Name: "prod"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, TrustPolicy: "approvals", Interval: fast}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-approvals", Name: "prod"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "prod"}, Path: "prod", Interval: fast}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	source := func() reconcilev1.GitSource {
		var gs reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-approvals", Name: "prod"}, &gs)
		return gs
	}
	eventually(t, "refused without an approval", func() (bool, string) {
		gs := source()
		return strings.Contains(conditions(gs.Status.Conditions), "NotEnoughApprovals"), conditions(gs.Status.Conditions)
	})
	if gs := source(); gs.Status.LastVerifiedCommit != "" {
		t.Fatalf("a commit without its approval was verified: %s", gs.Status.LastVerifiedCommit)
	}

	repo.Tag(bob, "approve/payments-limits", commit, "LGTM: reviewed the new limits")
	eventually(t, "applied once approved", func() (bool, string) {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-approvals", Name: "prod"}, &s)
		return s.Status.LastAppliedCommit == commit, conditions(s.Status.Conditions)
	})
	var approval bool
	for _, sg := range source().Status.Signers {
		if sg.Approval && strings.Contains(sg.Identity+sg.Fingerprint, bob.Fingerprint) {
			approval = true
			if want := "ssh:" + bob.Fingerprint + " (bob@example.com)"; sg.ID != want {
				t.Errorf("status names the approver %q, want %q", sg.ID, want)
			}
		}
		if sg.Approval && strings.Contains(sg.Identity+sg.Fingerprint, alice.Fingerprint) {
			t.Errorf("alice, the commit's signer, listed as an approver: %+v", sg)
		}
	}
	if !approval {
		t.Errorf("bob is not listed as an approver: %+v", source().Status.Signers)
	}
	eventually(t, "the SyncApplied record", func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, e := range rec.all {
			if e.Kind == audit.SyncApplied && e.Commit == commit {
				// The one signer form: key, then the principal in parentheses.
				ok := slices.Equal(e.Signers, []string{"ssh:" + alice.Fingerprint + " (alice@example.com)"}) &&
					slices.Contains(e.Approvers, "ssh:"+bob.Fingerprint+" (bob@example.com)")
				return ok, strings.Join(e.Signers, ",") + " / " + strings.Join(e.Approvers, ",")
			}
		}
		return false, "no SyncApplied record"
	})
}
