// Package witness owns the witness's index of what verified commits declare, and the pure check
// of an agent's write against it (issue #14: even the agent's identity cannot change what no
// signed commit declares).
//
// The design it serves: the witness runs in the guard webhook's process, as the writ-webhook
// service account, not as the agent (the reconciler), so that compromising the reconciler, or
// acting as it, does not let anyone change what the witness believes Git declares. Package
// witness/feed fetches each GitSource itself with read-only credentials, verifies it with the same
// TrustPolicy, renders each Sync's path with the same renderer, and publishes the result into an
// Index; the guard (webhook.Guard.Witness) asks the feed, which asks the Index, for every write by
// the agent. This package is the index and the decision only: it has no Kubernetes client.
//
// Index keeps, for each Sync (namespace/name), the desired objects of its newest verified commit
// and of the one before, so a rollout from commit N to N+1 that the reconciler applies in stages
// is not denied. Each object is compiled once with reconcile/declared when it is published; the
// index holds the compiled declared.Fields and nothing else of the manifest but its SHA-256, so
// that a manifest a new commit leaves unchanged is shared, not compiled and held twice (a Secret's
// declared data is in its Fields, because that is what a write is compared with; no method
// returns a sum, and DeclaredValue never a Secret's value). Objects are looked up by group, kind, namespace and name (Key), which is what an
// admission request carries; the version is not part of the key, so a request in another version
// than the manifest's is compared field by field as it arrives (the caller should send the
// version the manifests use).
//
// Reads never wait: the index is an immutable snapshot behind an atomic pointer, Publish and
// Forget build the next snapshot and swap it in, serialised among themselves, and Check's lookup
// (one map access by Key) allocates nothing.
//
// Check's rule, for a write by the agent:
//
//   - CREATE and UPDATE (PATCH and server-side apply arrive as one of them, with the whole object
//     about to be stored): allowed if some declaration of the object, in the newest or the previous
//     commit of any Sync, has no field the stored object differs in (declared.FirstDiffJSON, or
//     declared.FirstDiffValidJSON when the caller vouches the JSON is valid, Write.RawValidated),
//     and that declaration also declares every field the write sets: every path a managedFields
//     entry of the object gains over the stored object's (Write.Old) entry of the same manager,
//     operation, apiVersion and subresource, all of them on a CREATE (declared.GainsOf,
//     FirstUndeclaredGain; status and the commit annotation aside). A field a mutating admission
//     policy adds is owned by no entry (the apiserver computes managedFields before mutating
//     admission) and so stays allowed; a label the agent's own request adds is UndeclaredField,
//     and an object with no managedFields is NoManagedFields. The same object declared by two
//     Syncs is admitted by either, and the Result names the Sync and commit that admitted it. An
//     object no indexed commit declares is denied; JSON that does not parse is denied (fail
//     closed).
//   - DELETE: allowed only as a prune, for an object no Sync's newest commit declares and some
//     Sync's previous commit did. Deleting an object a newest commit still declares is denied, and
//     so is deleting one no indexed commit declares: an object dropped two commits ago whose prune
//     did not happen is no longer a prune, and goes under break-glass. Deleting a Sync with prune
//     is out of scope: Writ orphans what a deleted Sync applied (README, "Deleting a Sync").
//   - When no declaration admits a write and the Sync the object names (its writ.dev/managed
//     label, Write.Sync) has no index yet, the Result is NotReady, so the guard can say the witness
//     is not ready rather than that Git declares something else. NotReady is a denial.
//
// CheckUnsealed is the rule for the Secrets writ-controller unseals (sealed.go, unsealedindex.go):
// when a commit declares a SealedSecret (bitnami.com/v1alpha1), Publish also keeps what the Secret
// unsealed from it must be, as sealing's controller writes it: the SealedSecret's namespace and
// name, the template's labels and annotations and no others (but sealing.AnnotationUnsealedWith),
// its type, immutable only if the template says so, exactly the data keys of encryptedData and of
// the template's data, and one controller owner reference to that SealedSecret (not its uid, which
// Git does not know), or the template's own when it skips that one. Values are not compared: the
// witness has no sealing key. A DELETE is denied: the unsealer never deletes (the garbage
// collector deletes an unsealed Secret with its SealedSecret). The newest and previous commits
// count, as for Check.
//
// A Result carries a reason code, the first differing field path, and the Sync and commit the
// write was judged against, never a value; Message renders the denial text, which names only field
// paths, so it is safe for a Secret. DeclaredValue returns, for a Result, the value its commit
// declares at its path (for the guard's denial message); it refuses for a core Secret, always.
package witness
