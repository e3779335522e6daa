package apply_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/reconcile/apply"
)

// thousand returns 1,000 mixed objects (ConfigMaps, Services, Deployments) in namespace ns.
func thousand(ns string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("obj-%04d", i)
		var o map[string]any
		switch i % 3 {
		case 0:
			o = map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": ns},
				"data": map[string]any{"index": fmt.Sprint(i), "payload": "0123456789abcdef"}}
		case 1:
			o = map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{"clusterIP": "None", "selector": map[string]any{"app": name}, "ports": []any{map[string]any{"port": int64(80), "targetPort": int64(8080)}}}}
		default:
			o = map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
					"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}},
						"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "nginx:1.27"}}}}}}
		}
		out = append(out, &unstructured.Unstructured{Object: o})
	}
	return append(out, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}})
}

// BenchmarkApply1000 measures, on the real apiserver, the first apply of 1,000 mixed objects
// (headless Services: the test apiserver's service range is small)
// (goal ≤ 15 s), a no-op re-apply of the same commit (goal ≤ 2 s) and a drift check of all of
// them, which a sync runs when its objects change, with a Memo as the controller runs them; and
// the no-op re-apply without the memo, as after a restart, where every object is dry-run.
func BenchmarkApply1000(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane: run without -short")
	}
	ctx := context.Background()
	e := apply.New(env.Client)
	e.Memo = apply.NewMemo()
	cold := apply.New(env.Client)
	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%100000, i)
		stamp := apply.Stamp{SyncNamespace: "writ-system", SyncName: ns, Commit: "c1"}
		start := time.Now()
		res, err := e.Apply(ctx, thousand(ns), stamp, nil, true)
		if err != nil || len(res.Inventory) != 1001 {
			b.Fatalf("first apply: %v (%d)", err, len(res.Inventory))
		}
		first := time.Since(start)
		start = time.Now()
		res2, err := e.Apply(ctx, thousand(ns), stamp, res.Inventory, true)
		if err != nil || len(res2.Unchanged) != 1001 {
			b.Fatalf("no-op apply: %v (%d unchanged)", err, len(res2.Unchanged))
		}
		noop := time.Since(start)
		start = time.Now()
		drifts, err := e.Drift(ctx, thousand(ns), stamp)
		if err != nil || len(drifts) != 0 {
			b.Fatalf("drift check: %v (%d)", err, len(drifts))
		}
		driftCheck := time.Since(start)
		start = time.Now()
		if res3, err := cold.Apply(ctx, thousand(ns), stamp, res.Inventory, true); err != nil || len(res3.Unchanged) != 1001 {
			b.Fatalf("no-op apply without the memo: %v", err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/noop-apply-1000-after-restart")
		b.ReportMetric(first.Seconds(), "s/first-apply-1000")
		b.ReportMetric(noop.Seconds(), "s/noop-apply-1000")
		b.ReportMetric(driftCheck.Seconds(), "s/drift-check-1000")
	}
}
