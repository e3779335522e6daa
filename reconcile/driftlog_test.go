package reconcile

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/reconcile/apply"
)

// A standing drift is recorded once; an edit anew, a drift that returns, or another sync's
// drift is new.
func TestDriftLog(t *testing.T) {
	a := apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a"}
	b := apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "b"}
	drift := func(e apply.Entry, rv string, fields ...string) apply.Drift {
		return apply.Drift{Entry: e, ResourceVersion: rv, Fields: fields}
	}
	shop := types.NamespacedName{Namespace: "gitops", Name: "shop"}
	other := types.NamespacedName{Namespace: "gitops", Name: "other"}
	var log driftLog
	for _, tc := range []struct {
		name  string
		key   types.NamespacedName
		check []apply.Drift
		want  []string // names of the fresh drifts
	}{
		{"first check", shop, []apply.Drift{drift(a, "1", ".data.k")}, []string{"a"}},
		{"the same drift again", shop, []apply.Drift{drift(a, "1", ".data.k")}, nil},
		{"another sync, the same object", other, []apply.Drift{drift(a, "1", ".data.k")}, []string{"a"}},
		{"a second object drifts", shop, []apply.Drift{drift(a, "1", ".data.k"), drift(b, "7", ".data.j")}, []string{"b"}},
		{"the first edited anew", shop, []apply.Drift{drift(a, "2", ".data.k"), drift(b, "7", ".data.j")}, []string{"a"}},
		{"other fields at the same version", shop, []apply.Drift{drift(a, "2", ".data.k", ".data.x"), drift(b, "7", ".data.j")}, []string{"a"}},
		{"healed", shop, nil, nil},
		{"the same drift comes back", shop, []apply.Drift{drift(b, "7", ".data.j")}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range log.fresh(tc.key, tc.check) {
				got = append(got, d.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("fresh = %v, want %v", got, tc.want)
			}
		})
	}
	log.forget(shop)
	if got := log.fresh(shop, []apply.Drift{drift(b, "7", ".data.j")}); len(got) != 1 {
		t.Fatalf("after forget, a standing drift is not recorded again: %v", got)
	}
	if _, ok := log.reported[other]; !ok {
		t.Fatal("forgetting one sync forgot another")
	}
}
