package webhook

import (
	"writ.dev/writ/witness"
)

// Witness judges the writes of Writ's own agent against what verified commits declare (package
// witness; the feed, witness/feed, implements it over the index it keeps). The guard owns the
// interface; a nil Witness on the Guard means no witness: the agent's writes are decided by the
// policy chain alone, as before issue #14.
type Witness interface {
	// Check judges a write by an identity Witnessed returned true for.
	Check(w witness.Write) witness.Result
	// Witnessed reports whether user is an identity of Writ's own agent whose writes the witness
	// judges: the reconciler's service account (system:serviceaccount:<Writ's
	// namespace>:writ-reconciler, wellknown) and every service account a Sync names in
	// spec.serviceAccountName (system:serviceaccount:<the Sync's namespace>:<name>). Lock-free,
	// allocation-free.
	Witnessed(user string) bool
}
