package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// TestHealRewrittenByAnAdmissionPolicyIsDrift: a cluster-admin's MutatingAdmissionPolicy rewrites
// the agent's (writ-reconciler's) heal of an edited ConfigMap. The point of the test is that the
// agent then writes what Git does not declare, so the witness refuses it: in Enforce (the
// suite's default) the rewritten heal is denied and recorded as UnverifiedAgentWrite with the
// field, the object keeps the person's edit, and the Sync fails its apply naming the witness. With
// the Sync's witness in Warn the rewritten heal is stored, and the reconciler's own check must not
// report "the cluster matches Git": it records the drift (DriftDetected, naming the field and the
// admission mutation), says Drifted, and fails the apply with a message that names the cause.
// Meanwhile any other write of the agent's there (the namespace, when the Sync re-applies it),
// which the index admits, is denied as UnaccountedMutator naming the policy (in Warn, allowed
// with the warning): TestFeedAccountsForMutatingAdmissionPolicies shows that part.
func TestHealRewrittenByAnAdmissionPolicyIsDrift(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	rec := start(t)
	// While the attacker's policy exists, the witness cannot account for it, so it admits no write
	// of the agent's at all (UnaccountedMutator: the namespace, the ConfigMap), besides denying the
	// rewritten heal for its value.
	rec.expectWitnessDenials(func(e auditv1.AuditEventSpec) bool {
		return e.Object.Namespace == "mut" && e.Object.Name == "cfg" && strings.Join(e.Fields, ",") == ".data.mode" ||
			e.Reason == string(witness.UnaccountedMutator) && (e.Object.Namespace == "mut" || e.Object.Name == "mut")
	})
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "app", map[string]string{
		"app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: mut}\n",
		"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: mut}\ndata: {mode: safe}\n",
	})
	const syncNS = "gitops-mut"
	agentUser := "system:serviceaccount:" + writNS + ":" + wellknown.ReconcilerServiceAccount
	if err := env.EnsureNamespace(ctx, syncNS); err != nil {
		t.Fatal(err)
	}
	slow := &metav1.Duration{Duration: time.Hour} // healing comes from the drift watch
	no := false
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mut"}, Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeHead, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "app"}, Spec: reconcilev1.GitSourceSpec{URL: "file://" + repo.Dir, TrustPolicy: "mut", Interval: slow}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "app"}, Path: "app", Drift: reconcilev1.DriftHeal, Interval: slow, Wait: &no}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	sync := func() reconcilev1.Sync {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: syncNS, Name: "app"}, &s)
		return s
	}
	mode := func() string {
		var cm corev1.ConfigMap
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "mut", Name: "cfg"}, &cm)
		return cm.Data["mode"]
	}
	eventually(t, "applied", func() (bool, string) {
		s := sync()
		return s.Status.LastAppliedCommit == commit, conditions(s.Status.Conditions)
	})

	// The attacker's policy: the agent's writes of ConfigMaps in mut get mode=attacker (and the
	// prober's, whose dry run shows it in force without a write of the agent's).
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "rewrite-heal"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				}}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "agent",
				Expression: `request.userInfo.username in ["` + agentUser + `", "` + prober.user + `"]`}},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "replace", path: "/data/mode", value: "attacker"}]`}}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		}}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "rewrite-heal"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "rewrite-heal", MatchResources: &admissionregistrationv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "mut"}}}}}
	for _, o := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	probeAs := prober.client(t)
	eventually(t, "the attacker's policy in force", func() (bool, string) {
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "mut", Name: "probe"}, Data: map[string]string{"mode": "safe"}}
		err := probeAs.Create(ctx, probe, client.DryRunAll)
		return err == nil && probe.Data["mode"] == "attacker", fmt.Sprint(err, probe.Data)
	})

	// Enforce: a person's edit (break-glass); the agent heals it, the policy rewrites the heal,
	// and the witness denies what Git does not declare. The person's value stays.
	since := time.Now()
	human := emergency(t, "mut")
	if err := human.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "mut", Name: "cfg"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"by-hand"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	human.End(t) // the grant ends: the agent heals
	eventually(t, "the rewritten heal denied by the witness", func() (bool, string) {
		for _, e := range witnessDenials(t, since) {
			if e.Object.Name == "cfg" && e.Actor.User == agentUser && strings.Join(e.Fields, ",") == ".data.mode" && e.Commit == commit {
				return true, ""
			}
		}
		return false, fmt.Sprintf("records %+v", witnessDenials(t, since))
	})
	eventually(t, "the sync says the witness refused its apply", func() (bool, string) {
		r := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Ready)
		ok := r != nil && r.Status == metav1.ConditionFalse && r.Reason == "ApplyFailed" && strings.Contains(r.Message, "witness.writ.dev") &&
			strings.Contains(r.Message, "no verified commit declares")
		return ok, conditions(sync().Status.Conditions)
	})
	if m := mode(); m != "by-hand" {
		t.Fatalf("mode %q after the witness denied the rewritten heal, want the person's by-hand", m)
	}

	// Warn: the Sync's witness allows the rewritten heal with a warning; the reconciler's own
	// check after the apply finds what the apiserver stored differs from Git.
	if err := env.Client.Patch(ctx, &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "app"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"witness":"Warn"}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rewritten heal recorded as drift", func() (bool, string) {
		records := driftRecords(rec)
		for _, e := range records {
			if e.Kind == audit.DriftDetected && e.Object.Name == "cfg" && strings.Contains(e.Reason, "admission mutation") &&
				strings.Join(e.Fields, ",") == ".data.mode" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("records %+v", records)
	})
	eventually(t, "the sync says it does not match Git", func() (bool, string) {
		s := sync()
		d := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Drifted)
		r := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Ready)
		ok := d != nil && d.Status == metav1.ConditionTrue && strings.Contains(d.Message, ".data.mode") &&
			r != nil && r.Status == metav1.ConditionFalse && r.Reason == "ApplyFailed" && strings.Contains(r.Message, "admission mutation")
		return ok, conditions(s.Status.Conditions)
	})
	if m := mode(); m != "attacker" {
		t.Fatalf("the policy did not rewrite the heal in Warn (mode %q): the test proves nothing", m)
	}
}
