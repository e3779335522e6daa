package witness

// Reason is the short code of a Check's outcome, for metrics and audit records.
type Reason string

// The outcomes of Check and CheckUnsealed. Declared, Prune and Unsealed allow; every other
// reason denies.
const (
	// Declared: a declaration of the object in an indexed commit has no field the write differs in.
	Declared Reason = "Declared"
	// Prune: a DELETE of an object no Sync's newest commit declares and a previous one did.
	Prune Reason = "Prune"
	// Undeclared: no indexed commit declares the object.
	Undeclared Reason = "Undeclared"
	// Mismatch: every declaration of the object differs from the write; Result.Path is the first
	// differing field of the first declaration (a newest commit's before a previous one's).
	Mismatch Reason = "Mismatch"
	// UndeclaredField: a declaration matches every field it declares, but the write sets a field
	// it does not declare (a label, an annotation, a container, a field another manager owned):
	// one of the object's managedFields entries gains a path no declaration of the object
	// declares. Result.Path is that path for the first declaration (a newest commit's before a
	// previous one's), Result.Manager the field manager the apiserver attributed it to.
	UndeclaredField Reason = "UndeclaredField"
	// NoManagedFields: the object about to be stored has no managedFields (a request reset
	// them), so nothing tells which fields the write sets.
	NoManagedFields Reason = "NoManagedFields"
	// DeleteDeclared: a DELETE of an object a Sync's newest commit still declares.
	DeleteDeclared Reason = "DeleteDeclared"
	// NotReady: nothing admits the write and the Sync the object names has no index yet.
	NotReady Reason = "NotReady"
	// Unsealed (CheckUnsealed): the Secret is what a SealedSecret of the same name in an indexed
	// commit unseals into (template metadata and type, data keys, owner reference; not values).
	Unsealed Reason = "Unsealed"
	// UnsealedMismatch (CheckUnsealed): every SealedSecret of the Secret's name unseals into
	// something else; Result.Path is the first differing field of the first (".data.extra",
	// ".type", ".metadata.labels.team", ".metadata.ownerReferences"), a key name, never a value.
	UnsealedMismatch Reason = "UnsealedMismatch"
	// NoSealedSecret (CheckUnsealed): no indexed commit declares a SealedSecret of the Secret's
	// namespace and name.
	NoSealedSecret Reason = "NoSealedSecret"
	// UnsealerDelete (CheckUnsealed): a DELETE, which the unsealer never makes (the garbage
	// collector deletes an unsealed Secret with its SealedSecret, through the owner reference).
	UnsealerDelete Reason = "UnsealerDelete"
	// Malformed: the object's JSON does not parse, or the operation is not one Check judges.
	Malformed Reason = "Malformed"
	// UnaccountedMutator: the write is what a commit declares, but a mutating admission object
	// (a MutatingWebhookConfiguration, a MutatingAdmissionPolicy or its binding) exists that no
	// verified commit declares and no one trusts by name: it may add to the write what no commit
	// declares, and the apiserver never lets a webhook judge it, so no write of the agent's is
	// admitted while it exists (witness/feed). Result.Why names it.
	UnaccountedMutator Reason = "UnaccountedMutator"
)
