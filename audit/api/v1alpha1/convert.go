package v1alpha1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/audit"
)

// FromEvent returns the spec carrying e. Its chain fields are the store's business and its
// submitter the apiserver's (see Submitter): both are dropped.
func FromEvent(e audit.Event) AuditEventSpec {
	return AuditEventSpec{
		Type: string(e.Kind), Time: metav1.NewMicroTime(e.Time),
		Actor:     Actor{User: e.Actor.User, Groups: e.Actor.Groups, ServiceAccount: e.Actor.ServiceAccount},
		Object:    ObjectRef(e.Object),
		Operation: e.Operation, Commit: e.Commit, Repository: e.Repository, Signers: e.Signers, Approvers: e.Approvers,
		Policy: e.Policy, Reason: e.Reason, BreakGlass: e.BreakGlass, Fields: e.Fields, Digests: e.Digests,
		Objects: e.Objects, Count: e.Count,
		Manager: e.Manager, ResourceVersion: e.ResourceVersion, SinceResourceVersion: e.SinceResourceVersion,
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
		Objects: s.Objects, Count: s.Count, Submitter: s.Submitter.actor(),
		Manager: s.Manager, ResourceVersion: s.ResourceVersion, SinceResourceVersion: s.SinceResourceVersion,
	}
}

// actor is the submitter as an audit actor (a service account also by namespace/name); the zero
// Actor when there is none.
func (s *Submitter) actor() audit.Actor {
	if s == nil {
		return audit.Actor{}
	}
	a := audit.Actor{User: s.Username, Groups: s.Groups}
	if rest, ok := strings.CutPrefix(s.Username, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok && ns != "" && name != "" && !strings.Contains(name, ":") {
			a.ServiceAccount = ns + "/" + name
		}
	}
	return a
}
