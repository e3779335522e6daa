// Package apply puts rendered objects into the cluster with server-side apply under the field
// manager "writ", and prunes what Git no longer declares.
//
// It builds on fluxcd/pkg/ssa, Flux's apply engine, rather than writing another one: staged
// apply (CRDs, ClusterRoles and Namespaces first, waited for until established, then class
// definitions, then everything else), change sets (created / configured / unchanged / deleted)
// and deletion. Writ adds its own stamp — the tracking label the admission guard recognises, the
// commit and the source — and its pruning rule: an object is deleted only if it is in the
// previous inventory, absent from the new one, and still carries this sync's label on the live
// object; never an object Writ did not create.
//
// Conflicts with other field managers are forced, which under server-side apply takes ownership
// only of the fields Git declares: an HPA's replicas or a controller's status stay theirs.
//
// Drift, and the check after every apply, compare what the apiserver stores with what Git
// declares (the rule of package reconcile/declared), never a server-side dry-run: a mutating admission policy or webhook
// changes a dry-run exactly as it changes the write. An apply whose stored result differs from
// Git for a field Git sets fails with a *MutatedError naming the objects and fields.
package apply
