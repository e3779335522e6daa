package webhook

import (
	"strings"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// bookkeepingWrite is one kind of write Writ's agent makes for its own bookkeeping, which the
// witness does not compare with Git: a resource of a group (any resource: "*"), with one
// subresource ("" is the resource itself).
type bookkeepingWrite struct {
	group, resource, subresource string
}

// agentBookkeeping are the writes of Writ's agent the witness does not judge: they carry no
// configuration Git declares. The handler (Bookkeeping) and the witness webhook's matchCondition
// (BookkeepingExpression) both read this one list, and a test keeps them equal.
//
//   - the status subresource of Writ's own kinds (group writ.dev: a Sync's and a GitSource's
//     status); the objects themselves are judged;
//   - leases (coordination.k8s.io), the agent's leader election;
//   - events, core and events.k8s.io;
//   - Writ's AuditEvents, the records the agent hands to the audit trail (the trail stamps who
//     submitted each).
var agentBookkeeping = []bookkeepingWrite{
	{writGroup, "*", "status"},
	{"coordination.k8s.io", "leases", ""},
	{"", "events", ""},
	{"events.k8s.io", "events", ""},
	{writGroup, "auditevents", ""},
}

// writGroup is the API group of every one of Writ's kinds (GuardPolicy's, Sync's, AuditEvent's).
var writGroup = guardv1.GroupVersion.Group

// Bookkeeping reports whether r is one of the agent's bookkeeping writes (agentBookkeeping),
// which the witness does not judge.
func Bookkeeping(r *Request) bool {
	for _, b := range agentBookkeeping {
		if r.Group == b.group && (b.resource == "*" || r.Resource == b.resource) && r.Subresource == b.subresource {
			return true
		}
	}
	return false
}

// BookkeepingExpression is the CEL of Bookkeeping over an admission request, for the witness
// webhook's matchConditions. A field the request leaves empty (the core group, no subresource)
// is absent in CEL, not ”: each is read through has().
func BookkeepingExpression() string {
	terms := make([]string, len(agentBookkeeping))
	for i, b := range agentBookkeeping {
		t := "(" + celField("request.resource.group") + " == '" + b.group + "'"
		if b.resource != "*" {
			t += " && request.resource.resource == '" + b.resource + "'"
		}
		terms[i] = t + " && " + celField("request.subResource") + " == '" + b.subresource + "')"
	}
	return strings.Join(terms, " || ")
}

// celField reads a string field of the request that may be absent, as ” when it is.
func celField(path string) string {
	return "(has(" + path + ") ? " + path + " : '')"
}
