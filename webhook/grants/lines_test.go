package grants_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/grants"
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

func TestGrants(t *testing.T) {
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	shop := guardv1.BreakGlassScope{Namespaces: []string{"shop", "", "*", "kube-system", "writ-system", "pay"},
		Resources: []guardv1.ResourceRule{{APIGroups: []string{"", "apps"}, Resources: []string{"configmaps", "deployments"}}}, Names: []string{"web"}}
	late := request("late", "bob", "lea", now.Add(100*time.Second), 4*time.Second, guardv1.BreakGlassScope{Namespaces: []string{"shop"}})
	// The apiserver recorded the approval 10 s ago: that, not approvedAt, starts the grant.
	recorded := request("recorded", "carol", "lea", now, time.Minute, guardv1.BreakGlassScope{Namespaces: []string{"shop"}})
	when := metav1.NewTime(now.Add(-10 * time.Second))
	recorded.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Time: &when, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:approvedAt":{},"f:approvedBy":{}}}`)}}}
	reqs := []guardv1.BreakGlassRequest{
		request("inc-1", "ann", "lea", now.Add(-time.Minute), 30*time.Minute, shop),
		request("pending", "ann", "", time.Time{}, time.Hour, shop),
		request("expired", "ann", "lea", now.Add(-time.Hour), 30*time.Minute, shop),
		request("self", "ann", "ann", now, time.Hour, shop),
		request("spaces", "Ann Smith", "lea", now, time.Hour, shop),
		late, recorded,
	}
	got, next := grants.Grants(reqs, now, "writ-system")
	want := []string{
		"ann pay resources=/configmaps,/deployments,apps/configmaps,apps/deployments names=web until=2026-12-02T01:29:00Z request=inc-1",
		"ann shop resources=/configmaps,/deployments,apps/configmaps,apps/deployments names=web until=2026-12-02T01:29:00Z request=inc-1",
		"bob shop until=2026-12-02T01:00:04Z request=late",
		"carol shop until=2026-12-02T01:00:50Z request=recorded",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d grants, want %d:\n%s", len(got), len(want), grants.Lines(got))
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("grant %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if !next.Equal(now.Add(4 * time.Second)) {
		t.Errorf("next expiry %s, want the future-dated approval's, counted from now", next)
	}
	if none, next := grants.Grants(nil, now, "writ-system"); len(none) != 0 || !next.IsZero() || grants.Lines(none) != "" {
		t.Errorf("no requests: %v %s", none, next)
	}
}
