package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/audit"
)

// FromEvent returns the spec carrying e (its chain fields are the store's business and dropped).
func FromEvent(e audit.Event) AuditEventSpec {
	return AuditEventSpec{
		Type: string(e.Kind), Time: metav1.NewMicroTime(e.Time),
		Actor:     Actor{User: e.Actor.User, Groups: e.Actor.Groups, ServiceAccount: e.Actor.ServiceAccount},
		Object:    ObjectRef(e.Object),
		Operation: e.Operation, Commit: e.Commit, Repository: e.Repository, Signers: e.Signers, Approvers: e.Approvers,
		Policy: e.Policy, Reason: e.Reason, BreakGlass: e.BreakGlass, Fields: e.Fields, Digests: e.Digests,
		Objects: e.Objects, Count: e.Count,
	}
}

// Event returns the record the spec carries.
func (s AuditEventSpec) Event() audit.Event {
	return audit.Event{
		Kind: audit.Kind(s.Type), Time: s.Time.UTC(),
		Actor:     audit.Actor{User: s.Actor.User, Groups: s.Actor.Groups, ServiceAccount: s.Actor.ServiceAccount},
		Object:    audit.ObjectRef(s.Object),
		Operation: s.Operation, Commit: s.Commit, Repository: s.Repository, Signers: s.Signers, Approvers: s.Approvers,
		Policy: s.Policy, Reason: s.Reason, BreakGlass: s.BreakGlass, Fields: s.Fields, Digests: s.Digests,
		Objects: s.Objects, Count: s.Count,
	}
}
