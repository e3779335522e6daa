package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
)

// witnessDenials are the writes by Writ's agent the witness refused (in Enforce) or warned of (in
// Warn) since since: the guard's UnverifiedAgentWrite records, as its audit recorder stored them
// (AuditEvents in Writ's namespace).
func witnessDenials(t testing.TB, since time.Time) []auditv1.AuditEventSpec {
	t.Helper()
	var l auditv1.AuditEventList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(writNS)); err != nil {
		t.Fatal(err)
	}
	var out []auditv1.AuditEventSpec
	for _, e := range l.Items {
		if e.Spec.Type == string(audit.UnverifiedAgentWrite) && !e.Spec.Time.Time.Before(since) {
			out = append(out, e.Spec)
		}
	}
	return out
}

// guardWriteOf is the guard's record of the write made on version rv of the object with uid
// (BreakGlassUsed, MutationAllowed or MutationWarned), as a drift record's
// sinceResourceVersion is joined with it; false while there is none.
func guardWriteOf(t testing.TB, uid, rv string) (auditv1.AuditEventSpec, bool) {
	t.Helper()
	var l auditv1.AuditEventList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(writNS)); err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Items {
		switch audit.Kind(e.Spec.Type) {
		case audit.BreakGlassUsed, audit.MutationAllowed, audit.MutationWarned:
			if uid != "" && e.Spec.Object.UID == uid && e.Spec.ResourceVersion == rv {
				return e.Spec, true
			}
		}
	}
	return auditv1.AuditEventSpec{}, false
}

// describe names a witness record as a report of a false denial must: the object, the
// operation, the field, the commit and the witness's reason.
func describe(e auditv1.AuditEventSpec) string {
	o := e.Object
	gk := o.Kind
	if o.Group != "" {
		gk += "." + o.Group
	}
	return fmt.Sprintf("%s of %s %s/%s by %s: %s, field %s, commit %s", e.Operation, gk, o.Namespace, o.Name, e.Actor.User,
		e.Reason, strings.Join(e.Fields, ","), e.Commit)
}

// expectWitnessDenials makes the writes the witness refuses while the test runs acceptable where
// ok says so: a test whose point is that the agent writes what Git does not declare says so.
func (r *recorded) expectWitnessDenials(ok func(auditv1.AuditEventSpec) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expected = ok
}

// checkWitnessDenials fails t for every write of the agent the witness refused since began that
// the test did not expect: every reconciler a test starts applies only what verified commits
// declare, so any other refusal is a false denial (or the witness not ready for a write the
// reconciler made, which the test's timing must not cause either).
func (r *recorded) checkWitnessDenials(t testing.TB, began time.Time) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // the guard hands its records to the apiserver asynchronously
	r.mu.Lock()
	expected := r.expected
	r.mu.Unlock()
	for _, e := range witnessDenials(t, began) {
		if expected == nil || !expected(e) {
			t.Errorf("the witness refused a write of the reconciler's: %s", describe(e))
		}
	}
}
