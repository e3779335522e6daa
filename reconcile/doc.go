// Package reconcile is Writ's bundled GitOps agent: two controllers that fetch a Git
// repository, verify its commits with package provenance before anything renders them, render
// plain YAML or Kustomize, apply with server-side apply under the field manager "writ", prune
// what Git no longer declares, and watch what they applied so drift is found and healed in
// seconds.
//
// The package owns the two reconcilers and their state machines, their conditions (Ready,
// Reconciling, Stalled, SourceVerified, Drifted), the drift watch and the Prometheus metrics. It
// leaves the disk to package source (one source.Cache, shared by both reconcilers, holds each
// GitSource's repository and the checkouts of its verified commits), rendering to package
// render and server-side apply, prune, drift comparison and health to package apply.
//
// # GitSource: fetch, verify, serve
//
// GitSourceReconciler compiles the GitSource's TrustPolicy (once per uid and generation), fetches
// the ref into the Cache, verifies a new head against the last verified commit, and only then
// serves it: status.lastVerifiedCommit, with its signers. A refused head (unsigned, untrusted,
// a rollback, a tag replayed under another name) sets SourceVerified False with the verifier's
// reason and is recorded once as CommitRejected; the last good commit keeps being served. When
// the TrustPolicy's generation changes, the served commit is verified again from the cache, as it
// was admitted; one that no longer verifies is revoked (status.revoked, CommitRevoked). After each
// reconciliation the Cache drops the checkouts of commits no longer served; a deleted GitSource's
// cache (repository and checkouts) is removed.
//
// # Sync: resolve, render, plan, apply, wait
//
// SyncReconciler runs phases in order, each a method documented with the conditions it sets,
// and patches status once, in a defer:
//
//   - resolve reads the GitSource: no verified commit yet is NoVerifiedCommit; a revoked served
//     commit freezes the sync (below); otherwise the commit is SourceVerified and Reconciling.
//   - render checks the commit out of the Cache (verified commits only ever reach the disk) and
//     renders the sync's path.
//   - plan decides: a new commit or generation is applied whole; the same commit again is a drift
//     check, which records DriftDetected once per edit, and stops in Warn mode (Drifted) or with
//     drift Off. In Heal mode a drift of an object a break-glass grant in force covers is left in
//     place (Drifted, reason BreakGlass) until the grant ends, then healed (BreakGlassExpired,
//     DriftHealed); grants that cannot be read heal as before (breakglass.go).
//   - apply applies in stages, prunes by inventory, heals only what the check found drifted
//     (DriftHealed), records SyncApplied when something changed, and watches the applied kinds
//     (metadata only) so that a change by anyone else wakes the sync.
//   - wait waits for health and sets Ready.
//
// The pure decisions (which step, what each outcome writes into status) live in syncstate.go,
// and are table-tested without a control plane.
//
// # Errors: retried with backoff, or terminal
//
// A reconciler returns transient errors (the apiserver, a remote, a cache not fetched yet, an
// apply or a health check that failed) so that controller-runtime retries them with its
// rate-limited exponential backoff, and sets the conditions that say what failed either way.
// A Sync failure that retrying the same commit cannot fix (manifests that do not render, a tree
// with an escaping symlink) sets Stalled True and is returned as reconcile.TerminalError: it is
// retried only when something changes (the Sync, its GitSource serving a new commit, an object
// it applied), as Flux's stalling state. A Sync's own status writes do not wake it (the
// controller watches Syncs for generation changes), so a failure's history entry cannot undo
// the backoff. States that wait for something outside (no GitSource,
// no verified commit, a frozen source) return no error and are looked at again on the interval
// or when the GitSource changes. A GitSource polls its remote, so its own terminal states (an
// invalid or missing TrustPolicy, source options that cannot work, a refused commit) are marked
// in conditions (Stalled, SourceVerified) and retried on the interval rather than returned: the
// fix may come from a Secret or a push it does not watch.
//
// # Freeze on revocation
//
// While a GitSource's served commit is revoked, its syncs are frozen: Stalled and Ready False
// with reason SourceRevoked, one Frozen history entry, and nothing applied, pruned or healed.
// Drift is still detected against the commit last applied and reported (Drifted, "not healed
// while frozen"), never healed. The freeze lifts when the source serves a commit that verifies.
//
// # Deleting a Sync
//
// A Sync has no finalizer: deleting it leaves what it applied in place (orphaned), still
// labelled writ.dev/managed, so the guard keeps protecting it. Remove objects through Git (a
// commit that drops them is pruned) before deleting the Sync; a Sync created again adopts the
// objects Git still declares.
package reconcile
