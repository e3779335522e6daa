package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// BenchmarkGuardThroughAPIServer measures what the guard adds to a write through the real
// apiserver: the agent patches a ConfigMap in namespace bench, which the guard intercepts (and a
// GuardPolicy protects), and one in kube-public, which the webhook's namespaceSelector excludes,
// alternately, with the guard serving from the manager's informer cache.
func BenchmarkGuardThroughAPIServer(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane, which TestMain does not start under -short")
	}
	benchQuiet()
	const samples, warm = 600, 50
	ctx := context.Background()
	timed := benchServeGuard(b)
	agent := benchMust(kubernetes.NewForConfig(benchMust(env.ServiceAccount(ctx, "writ-system", "writ-reconciler"))(b)))(b)
	benchCheck(b, env.Grant(ctx, harness.ServiceAccountSubject("writ-system", "writ-reconciler"), "cluster-admin"))
	benchCheck(b, env.EnsureNamespace(ctx, "bench")) // before the policy protects it
	policy := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"bench"}}},
		Agents:  []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
	}}
	if err := env.Client.Create(ctx, policy); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
	guarded, unguarded := "bench", "kube-public"
	for _, ns := range []string{guarded, unguarded} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-config"}, Data: map[string]string{"n": "0"}}
		if _, err := agent.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	patch := func(ns string, i int) time.Duration {
		start := time.Now()
		_, err := agent.CoreV1().ConfigMaps(ns).Patch(ctx, "bench-config", types.MergePatchType, fmt.Appendf(nil, `{"data":{"n":"%d"}}`, i), metav1.PatchOptions{})
		if err != nil {
			b.Fatalf("agent patch in %s: %v", ns, err)
		}
		return time.Since(start)
	}
	// Wait until the guard has the policy: an admin's edit in bench is then denied.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := env.Client.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: guarded, Name: "bench-config"}},
			client.RawPatch(types.MergePatchType, []byte(`{"data":{"admin":"x"}}`)))
		if apierrors.IsForbidden(err) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the guard never protected namespace bench: %v", err)
		}
	}
	for i := range warm {
		patch(guarded, i)
		patch(unguarded, i)
	}
	timed.reset()
	b.ResetTimer()
	lat := map[string][]time.Duration{}
	for i := range samples {
		for _, ns := range [][]string{{guarded, unguarded}, {unguarded, guarded}}[i%2] {
			lat[ns] = append(lat[ns], patch(ns, i))
		}
	}
	with, without := lat[guarded], lat[unguarded]
	b.StopTimer()
	b.Logf("load average: %s", benchLoadAvg())
	decisions, calls := timed.reset()
	if calls[guarded] < samples || calls[unguarded] != 0 {
		b.Fatalf("the guard saw %d requests in %s and %d in %s, want %d and 0", calls[guarded], guarded, calls[unguarded], unguarded, samples)
	}
	b.ReportMetric(float64(benchPct(with, 0.5).Nanoseconds()), "ns/op") // a guarded write's median
	b.ReportMetric(benchMS(benchPct(with, 0.5)), "guarded-p50-ms")
	b.ReportMetric(benchMS(benchPct(with, 0.99)), "guarded-p99-ms")
	b.ReportMetric(benchMS(benchPct(without, 0.5)), "unguarded-p50-ms")
	b.ReportMetric(benchMS(benchPct(without, 0.99)), "unguarded-p99-ms")
	b.ReportMetric(benchMS(benchPct(with, 0.5)-benchPct(without, 0.5)), "added-p50-ms")
	b.ReportMetric(benchMS(benchPct(with, 0.99)-benchPct(without, 0.99)), "added-p99-ms")
	b.ReportMetric(benchMS(benchPct(decisions, 0.99)), "decision-p99-ms")
}

// benchServeGuard serves the guard to the test control plane from a manager's informer cache,
// as writ-controller does, timing each decision.
func benchServeGuard(b *testing.B) *benchTimed {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	mgr := benchMust(ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}}))(b)
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}
	for _, l := range []client.ObjectList{&guardv1.GuardPolicyList{}, &guardv1.BreakGlassRequestList{}, &corev1.NamespaceList{}} {
		benchCheck(b, mgr.GetCache().List(ctx, l)) // start the informers the guard reads
	}
	timed := &benchTimed{h: benchGuard(b, mgr.GetCache())}
	b.Cleanup(benchMust(env.ServeWebhooks(func(s crwebhook.Server) { s.Register("/guard", &crwebhook.Admission{Handler: timed}) }))(b))
	return timed
}
