package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// TestBreakGlassEditHoldsForTheGrant: a person's edit under a short break-glass grant is left in
// place while the grant is in force (DriftDetected with the grant's id, Drifted True BreakGlass),
// an edit outside the grant's scope made meanwhile (the HPA's write to the replicas Git declares)
// is healed at once, and when the grant expires the edit is healed (BreakGlassExpired, then
// DriftHealed with the grant's id).
func TestBreakGlassEditHoldsForTheGrant(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	rec := start(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	commit := repo.Commit(alice, "bg app", map[string]string{
		"app/ns.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata: {name: bg}\n",
		"app/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: bg}\ndata: {mode: safe}\n",
		"app/deploy.yaml": strings.Replace(strings.Replace(deployYAML, "%s", "bg", 1), "spec:\n  selector", "spec:\n  replicas: 1\n  selector", 1),
	})
	if err := env.EnsureNamespace(ctx, "gitops-bg"); err != nil {
		t.Fatal(err)
	}
	slow := &metav1.Duration{Duration: time.Hour} // what happens comes from the watch and the grant's end
	no := false
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bg"},
			Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeHead, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-bg", Name: "app"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, TrustPolicy: "bg", Interval: slow}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// The source verified before the Sync exists, so the witness's feed has it when the Sync's
	// first apply comes.
	eventually(t, "the source verified", func() (bool, string) {
		var gs reconcilev1.GitSource
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-bg", Name: "app"}, &gs)
		return gs.Status.LastVerifiedCommit == commit, conditions(gs.Status.Conditions)
	})
	time.Sleep(time.Second)
	for _, o := range []client.Object{
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-bg", Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "app"}, Path: "app", Interval: slow, Wait: &no}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	sync := func() reconcilev1.Sync {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-bg", Name: "app"}, &s)
		return s
	}
	mode := func() string {
		var c corev1.ConfigMap
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "bg", Name: "cfg"}, &c)
		return c.Data["mode"]
	}
	replicas := func() int32 {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bg", Name: "web"}, &d); err != nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
	eventually(t, "applied", func() (bool, string) {
		return sync().Status.LastAppliedCommit == commit, conditions(sync().Status.Conditions)
	})

	// A grant of 12 s for the ConfigMap cfg alone.
	grant := emergencyFor(t, 12*time.Second, guardv1.BreakGlassScope{Namespaces: []string{"bg"}, Names: []string{"cfg"}})
	var bgr guardv1.BreakGlassRequest
	if err := env.Client.Get(ctx, client.ObjectKey{Name: grant.Request}, &bgr); err != nil || bgr.Spec.ApprovedAt == nil {
		t.Fatalf("the approved request: %v %+v", err, bgr.Spec)
	}
	until := bgr.Spec.ApprovedAt.Add(bgr.Spec.Duration.Duration)
	if err := grant.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bg", Name: "cfg"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"emergency"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edit held under the grant", func() (bool, string) {
		c := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Drifted)
		ok := c != nil && c.Status == metav1.ConditionTrue && c.Reason == "BreakGlass" && strings.Contains(c.Message, grant.Request) &&
			strings.Contains(c.Message, ".data.mode")
		return ok, conditions(sync().Status.Conditions)
	})
	eventually(t, "DriftDetected with the grant's id", func() (bool, string) {
		return len(bgRecords(rec, audit.DriftDetected, grant.Request, "cfg")) == 1, fmt.Sprintf("%+v", driftRecords(rec))
	})

	// Meanwhile the HPA scales the Deployment, whose replicas Git declares: outside the grant's
	// scope, so healed at once.
	hpa, err := env.ServiceAccount(ctx, "kube-system", "horizontal-pod-autoscaler")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(hpa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments("bg").UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "bg"},
		Spec: autoscalingv1.ScaleSpec{Replicas: 4}}, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the out-of-scope edit healed during the grant", func() (bool, string) {
		return replicas() == 1, fmt.Sprint(replicas(), " replicas")
	})
	if time.Now().After(until) {
		t.Fatalf("the grant ended before the out-of-scope edit was healed: the test proves nothing; the machine is too slow for a 12 s grant")
	}
	if m := mode(); m != "emergency" {
		t.Fatalf("mode %q while the grant is in force, want the break-glass edit's", m)
	}
	if n := len(bgRecords(rec, audit.DriftHealed, "", "cfg")); n != 0 {
		t.Fatalf("%d DriftHealed records of cfg while the grant is in force", n)
	}

	// The grant expires: the edit is healed, and the records say why.
	eventually(t, "healed after the grant", func() (bool, string) { return mode() == "safe", mode() })
	if healed := time.Now(); healed.Before(until) {
		t.Fatalf("healed at %s, before the grant ended at %s", healed, until)
	}
	eventually(t, "BreakGlassExpired and DriftHealed", func() (bool, string) {
		return len(bgRecords(rec, audit.BreakGlassExpired, grant.Request, "cfg")) == 1 && len(bgRecords(rec, audit.DriftHealed, grant.Request, "cfg")) == 1,
			fmt.Sprintf("%+v", driftRecords(rec))
	})
	eventually(t, "no longer held", func() (bool, string) {
		c := apimeta.FindStatusCondition(sync().Status.Conditions, reconcile.Drifted)
		return c != nil && c.Status == metav1.ConditionFalse, conditions(sync().Status.Conditions)
	})
}

// bgRecords are the records of kind about the object named name carrying break-glass id grant
// (any id, or none, for "").
func bgRecords(rec *recorded, kind audit.Kind, grant, name string) []audit.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []audit.Event
	for _, e := range rec.all {
		if e.Kind == kind && e.Object.Name == name && (grant == "" || e.BreakGlass == grant) {
			out = append(out, e)
		}
	}
	return out
}
