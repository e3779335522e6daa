package breakglass

import (
	"slices"
	"strings"
	"time"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Grant is an approved BreakGlassRequest as something that is in force until a time.
type Grant struct {
	// ID is the request's name.
	ID         string
	Requester  string
	ApprovedBy string
	Scope      guardv1.BreakGlassScope
	// Until is when the grant ends: ApprovedAt plus the request's duration.
	Until time.Time
}

// Covers reports whether the grant's scope covers o.
func (g *Grant) Covers(o Object) bool { return Covers(g.Scope, o) }

// ApprovedAt is when r was approved: spec.approvedAt, unless the apiserver recorded the update
// that set spec.approvedBy earlier (its managedFields entry), and never after now, so an
// approver's clock cannot extend a grant. r must carry spec.approvedAt.
func ApprovedAt(r *guardv1.BreakGlassRequest, now time.Time) time.Time {
	at := r.Spec.ApprovedAt.Time
	for _, m := range r.ManagedFields {
		if m.Time != nil && m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.Raw), `"f:approvedBy"`) && m.Time.Time.Before(at) {
			at = m.Time.Time
		}
	}
	if at.After(now) {
		at = now
	}
	return at
}

// InForce returns the grants of the requests in force at now, sorted by ID, and the earliest
// time one of them ends (zero if none is in force). A request is in force when it is approved
// (approvedBy and approvedAt set) by someone other than its requester, its scope passes
// ValidateScope, and now is before ApprovedAt plus its duration. A request being deleted (a
// revocation) is not in force.
func InForce(reqs []guardv1.BreakGlassRequest, now time.Time) ([]Grant, time.Time) {
	var out []Grant
	var next time.Time
	for i := range reqs {
		r := &reqs[i]
		spec := r.Spec
		if spec.ApprovedBy == "" || spec.ApprovedAt == nil || spec.ApprovedBy == spec.Requester || spec.Duration.Duration <= 0 ||
			r.DeletionTimestamp != nil || ValidateScope(spec.Scope) != nil {
			continue
		}
		until := ApprovedAt(r, now).Add(spec.Duration.Duration)
		if !now.Before(until) {
			continue
		}
		out = append(out, Grant{ID: r.Name, Requester: spec.Requester, ApprovedBy: spec.ApprovedBy, Scope: spec.Scope, Until: until})
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, next
}
