package witness

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Result is Check's decision. It holds no value of the object or of Git's manifest: only the
// reason, a field path, and the Sync and commit the write was judged against.
type Result struct {
	Allowed   bool
	Reason    Reason
	Operation Operation
	Object    Key
	// Path is the first field at which the write differs from the declaration (Mismatch), as
	// reconcile/declared spells it: ".spec.template.spec.containers[name=web].image".
	Path string
	// Manager is, for UndeclaredField, the field manager (as the client named it) whose
	// managedFields entry gained Path.
	Manager string
	// Sync and Commit are the declaration the write was judged against: the one that admitted it
	// (Declared), the previous commit that declared a pruned object (Prune), the first that
	// differs (Mismatch), the newest commit that still declares it (DeleteDeclared). For NotReady,
	// Sync is the Sync that has no index and Commit is empty.
	Sync   types.NamespacedName
	Commit string
	// Why says, for NotReady only, why the Sync has no index: the witness's last failure for it
	// (not fetched yet, fetch failed, commit refused, render failed, revoked, its GitSource or
	// TrustPolicy missing). The Index never sets it (it is pure); whoever keeps the index fed
	// (witness/feed) fills it in. It names what failed, never a value of an object or a secret.
	// For UnaccountedMutator it names the mutator and why it is not accounted for.
	Why string
}

// denial ends every denial's message.
const denial = "the agent's identity was used for a change no verified commit declares"

// Message says what was decided and why, naming the object, the field path and the commit, never
// a value (for a Secret, the path names the field only).
func (r Result) Message() string {
	var b strings.Builder
	if r.Allowed {
		b.WriteString("witness: allowed ")
	} else {
		b.WriteString("witness: denied ")
	}
	b.WriteString(string(r.Operation))
	b.WriteString(" of ")
	b.WriteString(r.Object.String())
	b.WriteString(": ")
	switch r.Reason {
	case Declared:
		b.WriteString("it is what commit " + r.Commit + " of Sync " + r.Sync.String() + " declares")
		return b.String()
	case Prune:
		b.WriteString("a prune: commit " + r.Commit + " of Sync " + r.Sync.String() +
			" declared it and no Sync's newest verified commit does")
		return b.String()
	case Unsealed:
		b.WriteString("it is what SealedSecret " + r.sealedSecret() + " of commit " + r.Commit + " of Sync " + r.Sync.String() +
			" unseals into (its values are not compared: the witness has no sealing key)")
		return b.String()
	case UnsealedMismatch:
		b.WriteString("field " + r.Path + " is not what SealedSecret " + r.sealedSecret() + " of commit " + r.Commit + " of Sync " +
			r.Sync.String() + " unseals into (the template's metadata and type, its data keys, its owner reference)")
	case NoSealedSecret:
		b.WriteString("no verified commit declares a SealedSecret " + r.sealedSecret() + " to unseal it from")
	case UnsealerDelete:
		b.WriteString("the unsealer never deletes a Secret (the garbage collector deletes an unsealed Secret with its SealedSecret)")
	case Mismatch:
		b.WriteString("field " + r.Path + " differs from what commit " + r.Commit + " of Sync " +
			r.Sync.String() + " declares")
	case UndeclaredField:
		b.WriteString("the write sets field " + r.Path + " (field manager " + strconv.Quote(r.Manager) + "), which commit " + r.Commit +
			" of Sync " + r.Sync.String() + " does not declare (every field the agent's write sets must be one a verified commit declares)")
	case NoManagedFields:
		b.WriteString("the object has no managedFields (the request reset them), so the witness cannot tell which fields the write sets")
	case DeleteDeclared:
		b.WriteString("commit " + r.Commit + " of Sync " + r.Sync.String() +
			" still declares it (only an object the newest verified commit no longer declares may be deleted, as a prune)")
	case NotReady:
		why := r.Why
		if why == "" {
			why = "it has not yet fetched, verified and rendered a commit of it"
		}
		b.WriteString("the witness is not ready: it has no index yet for Sync " + r.Sync.String() +
			" (" + why + "), and until it has, the agent's writes to its objects are denied")
	case Undeclared:
		b.WriteString("no verified commit declares it")
	case UnaccountedMutator:
		b.WriteString("it is what commit " + r.Commit + " of Sync " + r.Sync.String() + " declares, but mutating admission object " + r.Why +
			"; while a mutator the witness cannot account for exists, it may add to the agent's writes what no commit declares, so none is admitted" +
			" (declare it in Git, delete it, or trust it by name with the webhook's --witness-trusted-mutators)")
	case Malformed:
		if r.Operation != Create && r.Operation != Update && r.Operation != Delete {
			b.WriteString("the operation is not CREATE, UPDATE or DELETE")
		} else {
			b.WriteString("the object's JSON is malformed, so it cannot be compared with what Git declares")
		}
	default:
		b.WriteString("no decision")
	}
	b.WriteString("; " + denial)
	return b.String()
}

// sealedSecret names the SealedSecret an unsealed Secret comes from: the same namespace and name.
func (r Result) sealedSecret() string { return r.Object.Namespace + "/" + r.Object.Name }
