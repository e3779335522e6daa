package reconcile_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// BenchmarkHealLatency makes 100 out-of-band edits to an object a Sync manages (the sync's
// interval is an hour, so healing comes from the drift watch) and reports the p50 and p99 time
// from each edit until the object is back to Git's value (goal: p99 ≤ 2 s).
func BenchmarkHealLatency(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane: run without -short")
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := fmt.Sprintf("heal-bench-%d", time.Now().UnixNano()%1_000_000)
		alice := fixtures.SSHKey(b, "Alice", "alice@example.com", "ed25519")
		repo := fixtures.NewRepo(b)
		repo.Commit(alice, "cfg", map[string]string{
			"app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n",
			"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: " + ns + "}\ndata: {mode: safe}\n",
		})
		start(b)
		slow := &metav1.Duration{Duration: time.Hour}
		no := false
		for _, o := range []client.Object{
			&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
			&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.GitSourceSpec{URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: &metav1.Duration{Duration: time.Second}}},
			&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.SyncSpec{
				SourceRef: reconcilev1.LocalObjectReference{Name: ns}, Path: "app", Interval: slow, Wait: &no}},
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		value := func() string {
			var c corev1.ConfigMap
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cfg"}, &c)
			return c.Data["mode"]
		}
		for deadline := time.Now().Add(time.Minute); value() != "safe"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the sync never applied")
			}
		}
		human := emergency(b, ns)
		time.Sleep(2 * time.Second) // let the drift watch start
		b.StartTimer()
		var took []time.Duration
		for e := 0; e < 100; e++ {
			patch := []byte(fmt.Sprintf(`{"data":{"mode":"edit-%d"}}`, e))
			start := time.Now()
			if err := human.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cfg"}},
				client.RawPatch("application/merge-patch+json", patch), client.FieldOwner("kubectl-edit")); err != nil {
				b.Fatal(err)
			}
			for value() != "safe" {
				if time.Since(start) > 30*time.Second {
					b.Fatalf("edit %d not healed after 30 s", e)
				}
				time.Sleep(10 * time.Millisecond)
			}
			took = append(took, time.Since(start))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(took[49].Seconds(), "p50-heal-s")
		b.ReportMetric(took[98].Seconds(), "p99-heal-s")
	}
}
