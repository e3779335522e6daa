package breakglass_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/breakglass"
)

func request(name, requester, approver string, approvedAt time.Time, d time.Duration, scope guardv1.BreakGlassScope) guardv1.BreakGlassRequest {
	r := guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
		Requester: requester, ApprovedBy: approver, Scope: scope, Duration: metav1.Duration{Duration: d}}}
	if !approvedAt.IsZero() {
		at := metav1.NewTime(approvedAt)
		r.Spec.ApprovedAt = &at
	}
	return r
}

// TestInForce: only approved, unexpired requests with a valid scope, approved by someone else
// and not being deleted, are grants; the next end is the earliest; an approval dated ahead or
// after the apiserver recorded it does not extend a grant.
func TestInForce(t *testing.T) {
	now := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	shop := guardv1.BreakGlassScope{Namespaces: []string{"shop"}}
	gone := metav1.NewTime(now)
	deleting := request("deleting", "ann", "lea", now, time.Hour, shop)
	deleting.DeletionTimestamp = &gone
	recorded := request("recorded", "ann", "lea", now, time.Minute, shop)
	when := metav1.NewTime(now.Add(-50 * time.Second))
	recorded.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Time: &when, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:approvedBy":{}}}`)}}}
	reqs := []guardv1.BreakGlassRequest{
		request("inc-1", "ann", "lea", now.Add(-time.Minute), 30*time.Minute, shop),
		request("pending", "ann", "", time.Time{}, time.Hour, shop),
		request("expired", "ann", "lea", now.Add(-time.Hour), 30*time.Minute, shop),
		request("ended-now", "ann", "lea", now.Add(-time.Minute), time.Minute, shop),
		request("self", "ann", "ann", now, time.Hour, shop),
		request("wildcard", "ann", "lea", now, time.Hour, guardv1.BreakGlassScope{Namespaces: []string{"*"}}),
		request("ahead", "ann", "lea", now.Add(time.Hour), 5*time.Second, shop),
		deleting, recorded,
	}
	got, next := breakglass.InForce(reqs, now)
	var ids []string
	for _, g := range got {
		ids = append(ids, g.ID)
	}
	if want := "ahead inc-1 recorded"; joined(ids) != want {
		t.Fatalf("in force: %q, want %q", joined(ids), want)
	}
	if !got[0].Until.Equal(now.Add(5 * time.Second)) {
		t.Errorf("an approval dated ahead ends at %s, want its duration from now", got[0].Until)
	}
	if !got[2].Until.Equal(now.Add(10 * time.Second)) {
		t.Errorf("the recorded approval ends at %s, want its duration from the apiserver's time", got[2].Until)
	}
	if !next.Equal(now.Add(5 * time.Second)) {
		t.Errorf("next end %s, want the earliest", next)
	}
	if none, next := breakglass.InForce(nil, now); len(none) != 0 || !next.IsZero() {
		t.Errorf("no requests: %v %s", none, next)
	}
}

func TestCovers(t *testing.T) {
	sc := guardv1.BreakGlassScope{Namespaces: []string{"shop"}, Names: []string{"checkout"},
		ClusterResources: []guardv1.NamedResource{{APIGroup: "", Resource: "persistentvolumes", Names: []string{"pv-1"}}}}
	for _, c := range []struct {
		o  breakglass.Object
		in bool
	}{
		{breakglass.Object{Resource: "configmaps", Namespace: "shop", Name: "checkout"}, true},
		{breakglass.Object{Resource: "configmaps", Namespace: "shop", Name: "web"}, false},
		{breakglass.Object{Resource: "configmaps", Namespace: "pay", Name: "checkout"}, false},
		{breakglass.Object{Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "shop", Name: "checkout"}, false},
		{breakglass.Object{Group: "writ.dev", Resource: "syncs", Namespace: "shop", Name: "checkout"}, false},
		{breakglass.Object{Resource: "persistentvolumes", Name: "pv-1"}, true},
		{breakglass.Object{Resource: "persistentvolumes", Name: "pv-2"}, false},
	} {
		if got := breakglass.Covers(sc, c.o); got != c.in {
			t.Errorf("%+v: covered %v, want %v", c.o, got, c.in)
		}
	}
}

func joined(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
