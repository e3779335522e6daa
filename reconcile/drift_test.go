package reconcile_test

import (
	"context"
	"fmt"
	"slices"
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
)

const deployYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`

// TestDriftIsHealedOrReported: an out-of-band edit is healed within seconds (Heal) or only
// reported (Warn), and a field Git does not declare (replicas set by an HPA) is not drift.
func TestDriftIsHealedOrReported(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	rec := start(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	files := map[string]string{}
	for _, ns := range []string{"heal", "warn"} {
		files[ns+"/ns.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n"
		files[ns+"/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: " + ns + "}\ndata: {mode: safe}\n"
		files[ns+"/deploy.yaml"] = strings.Replace(deployYAML, "%s", ns, 1)
	}
	commit := repo.Commit(alice, "apps", files)
	if err := env.EnsureNamespace(ctx, "gitops-drift"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "drift"},
		Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeHead, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}}); err != nil {
		t.Fatal(err)
	}
	slow := &metav1.Duration{Duration: time.Hour} // healing must come from the watch, not the interval
	no := false
	objs := []client.Object{&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-drift", Name: "apps"}, Spec: reconcilev1.GitSourceSpec{
		URL: "file://" + repo.Dir, TrustPolicy: "drift", Interval: slow}}}
	for _, mode := range []reconcilev1.DriftMode{reconcilev1.DriftHeal, reconcilev1.DriftWarn} {
		ns := strings.ToLower(string(mode))
		objs = append(objs, &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-drift", Name: ns}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "apps"}, Path: ns, Drift: mode, Interval: slow, Wait: &no}})
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"heal", "warn"} {
		eventually(t, name+" applied", func() (bool, string) {
			var s reconcilev1.Sync
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-drift", Name: name}, &s)
			return s.Status.LastAppliedCommit == commit, s.Status.LastAppliedCommit
		})
	}
	// The edits below are a person's, through break-glass: the guard denies any other. In Heal
	// the grant ends right after the edit, which is healed then (breakglass_test.go: held while
	// the grant is in force).
	human := emergency(t, "warn")
	// edit returns the object's uid and its resourceVersions before and after the edit.
	edit := func(ns string) (uid, before, after string) {
		patch := []byte(`{"data":{"mode":"unsafe"}}`)
		h := human
		if ns == "heal" {
			h = emergency(t, ns)
			defer h.End(t)
		}
		var cur corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cfg"}, &cur); err != nil {
			t.Fatal(err)
		}
		edited := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cfg"}}
		if err := h.Patch(ctx, edited, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
		return string(cur.UID), cur.ResourceVersion, edited.ResourceVersion
	}
	mode := func(ns string) string {
		var c corev1.ConfigMap
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cfg"}, &c)
		return c.Data["mode"]
	}

	// Heal: the edit is reverted within seconds and both records name the field and the editor.
	uid, before, after := edit("heal")
	start := time.Now()
	eventually(t, "drift healed", func() (bool, string) { return mode("heal") == "safe", mode("heal") })
	t.Logf("out-of-band edit healed in %s", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > 30*time.Second {
		t.Errorf("healing took %s: it must come from the watch", time.Since(start))
	}
	eventually(t, "drift recorded", func() (bool, string) {
		return hasDrift(rec, audit.DriftDetected, "heal") && hasDrift(rec, audit.DriftHealed, "heal"), fmt.Sprintf("records: %+v", driftRecords(rec))
	})
	// The record names the version the edit was made on, so the guard's record of that write
	// (same uid and resourceVersion) names who made it; and the version the drift was seen in.
	for _, e := range driftRecords(rec) {
		if e.Kind == audit.DriftDetected && e.Object.Namespace == "heal" && e.Object.Name == "cfg" &&
			(e.Object.UID != uid || e.SinceResourceVersion != before || e.ResourceVersion != after) {
			t.Errorf("the drift record names uid %q, since %q, at %q; the edit was of uid %q, made on %q, giving %q",
				e.Object.UID, e.SinceResourceVersion, e.ResourceVersion, uid, before, after)
		}
	}

	// The guard's record of the edit made on that version names the person, apart from the
	// manager: the join the evidence report makes.
	eventually(t, "the guard's record of the edit", func() (bool, string) {
		w, ok := guardWriteOf(t, uid, before)
		return ok && w.Actor.User == onCall.user && slices.Contains(w.Actor.Groups, "oncall") && w.Manager == "kubectl-edit", fmt.Sprintf("%+v", w)
	})

	// A server-side apply under a made-up field manager: the drift names that manager, and the
	// guard's record of the write names the person, not the manager.
	ssa := emergency(t, "heal")
	var cur corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "heal", Name: "cfg"}, &cur); err != nil {
		t.Fatal(err)
	}
	applied := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "heal", Name: "cfg"}, Data: map[string]string{"mode": "applied-by-hand"}}
	if err := ssa.Patch(ctx, applied, client.Apply, client.FieldOwner("made-up-manager"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	ssa.End(t)
	eventually(t, "the applied drift healed and joined with its writer", func() (bool, string) {
		for _, e := range driftRecords(rec) {
			if e.Kind == audit.DriftDetected && e.Object.Namespace == "heal" && e.Manager == "made-up-manager" {
				if e.Object.UID != string(cur.UID) || e.SinceResourceVersion != cur.ResourceVersion || e.Actor.User != "" {
					return false, fmt.Sprintf("drift record %+v; the apply was of uid %s made on %s", e, cur.UID, cur.ResourceVersion)
				}
				w, ok := guardWriteOf(t, e.Object.UID, e.SinceResourceVersion)
				return ok && w.Actor.User == onCall.user && w.Manager == "made-up-manager" && mode("heal") == "safe", fmt.Sprintf("guard record %+v", w)
			}
		}
		return false, fmt.Sprintf("records: %+v", driftRecords(rec))
	})

	// A deleted object is drift too: recreated, and recorded as deleted.
	deleter := emergency(t, "heal")
	if err := deleter.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "heal", Name: "cfg"}}); err != nil {
		t.Fatal(err)
	}
	deleter.End(t)
	eventually(t, "deleted object recreated", func() (bool, string) { return mode("heal") == "safe", mode("heal") })
	eventually(t, "deletion recorded", func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, e := range rec.all {
			if e.Kind == audit.DriftHealed && e.Object.Namespace == "heal" && e.Object.Name == "cfg" && strings.HasSuffix(e.Reason, "the object was deleted") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("records: %+v", driftRecords(rec))
	})

	// The HPA's write to replicas (its own service account, which guard-writ.yaml exempts for
	// deployments/scale), a field Git does not declare, is not drift.
	hpa, err := env.ServiceAccount(ctx, "kube-system", "horizontal-pod-autoscaler")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(hpa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments("heal").UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "heal"},
		Spec: autoscalingv1.ScaleSpec{Replicas: 5}}, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "heal", Name: "web"}, &d); err != nil || *d.Spec.Replicas != 5 {
		t.Fatalf("replicas set by the HPA were reverted: %v %v", d.Spec.Replicas, err)
	}
	rec.mu.Lock()
	for _, e := range rec.all {
		if e.Kind == audit.DriftDetected && e.Object.Kind == "Deployment" {
			t.Errorf("HPA replicas reported as drift: %+v", e)
		}
	}
	rec.mu.Unlock()

	// Warn: the edit stays, the sync says so.
	edit("warn")
	eventually(t, "drift reported", func() (bool, string) {
		var s reconcilev1.Sync
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "gitops-drift", Name: "warn"}, &s)
		c := apimeta.FindStatusCondition(s.Status.Conditions, reconcile.Drifted)
		if c == nil {
			return false, "no Drifted condition"
		}
		return c.Status == metav1.ConditionTrue && strings.Contains(c.Message, ".data.mode") && strings.Contains(c.Message, "kubectl-edit"), c.Message
	})
	if mode("warn") != "unsafe" {
		t.Fatal("Warn mode healed the drift")
	}

	// A drift left in place is recorded once, however often the sync checks, and again when the
	// object is edited anew.
	eventually(t, "warn drift recorded", func() (bool, string) { return countDrift(rec, "warn") >= 1, "" })
	for i := range 3 {
		poke := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":"%d"}}}`, i))
		if err := env.Client.Patch(ctx, &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops-drift", Name: "warn"}},
			client.RawPatch("application/merge-patch+json", poke)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	if n := countDrift(rec, "warn"); n != 1 {
		t.Errorf("a standing drift was recorded %d times over four checks, want once: %+v", n, driftRecords(rec))
	}
	if err := human.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "warn", Name: "cfg"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"data":{"mode":"worse"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new edit recorded", func() (bool, string) { n := countDrift(rec, "warn"); return n == 2, fmt.Sprint(n, " records") })
}

// countDrift counts the DriftDetected records of the ConfigMap cfg in ns.
func countDrift(rec *recorded, ns string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, e := range rec.all {
		if e.Kind == audit.DriftDetected && e.Object.Namespace == ns && e.Object.Name == "cfg" {
			n++
		}
	}
	return n
}

func hasDrift(rec *recorded, kind audit.Kind, ns string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.all {
		if e.Kind == kind && e.Object.Namespace == ns && e.Object.Name == "cfg" && e.Manager == "kubectl-edit" && e.Actor.User == "" && len(e.Fields) > 0 && e.Fields[0] == ".data.mode" {
			return true
		}
	}
	return false
}

func driftRecords(rec *recorded) []audit.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []audit.Event
	for _, e := range rec.all {
		if e.Kind == audit.DriftDetected || e.Kind == audit.DriftHealed {
			out = append(out, e)
		}
	}
	return out
}
