// Package feed keeps a witness.Index fed: the witness's own fetch -> verify -> render loop, which
// runs in the admission webhook's process (writ-controller --enable-webhook, service account
// writ-webhook), never in the reconciler's (issue #14).
//
// A Feed is registered with a controller-runtime manager and only reads: GitSources, Syncs and
// TrustPolicies through the manager's cache, and a GitSource's credential Secret (spec.secretRef)
// with a single uncached GET each fetch, so the webhook holds no Secret in memory between fetches
// and needs only get on Secrets, not list or watch. It writes no object: no status, no event, no
// audit record (the guard records what it denies).
//
// For each GitSource it:
//
//  1. fetches the repository into its own source.Cache (its own directory, never the
//     reconciler's), with the Options the reconciler builds (source.OptionsOf);
//  2. verifies a fetched head that is new to it with provenance, under the GitSource's TrustPolicy,
//     from its own last verified commit, the anchor it keeps in memory per GitSource uid: a refused
//     head leaves the anchor (and so the index) where it was;
//  3. when the TrustPolicy's uid or generation changed since the anchor was judged, verifies the
//     anchor again exactly as it was admitted (the same range in Range mode, the same tag in Tag
//     mode), as the reconciler does; an anchor that no longer verifies is revoked, and every Sync
//     of the source is forgotten (its writes denied) until a commit that verifies is served;
//  4. checks the anchor out (a verified commit only), renders each Sync's path with
//     reconcile/render exactly as the SyncReconciler does, stamps each object with
//     apply.Stamp.Declare (the tracking label and the source annotation the reconciler's apply
//     engine sets; not the commit annotation, which names whichever earlier commit last changed the
//     object), and publishes it for the Sync (witness.Index.Publish: the newest commit and the one
//     before).
//
// It never believes GitSource status: the reconciler writes that, and whoever can act as the
// reconciler could forge it. Status is only a hint of when to look. A status change wakes the
// feed, because it usually means the reconciler fetched a new commit and is about to apply it: the
// feed fetches at once. And when Check or CheckUnsealed would deny a write while the status of a
// GitSource concerned (the one of the Sync the write names, witness.Write.Sync; every GitSource
// when it names none) says a commit was verified that the feed has not indexed, the feed catches
// up synchronously, once: it runs its loop's own reconciliation of that GitSource (fetch, verify
// from its anchor, render, publish; the loop's code under the loop's per-GitSource lock, so
// nothing is published the loop would not), then judges the write again. A catch-up is bounded
// (Options.CatchUpTimeout, 4 s), one in flight per GitSource (the other Checks wait for it), and
// made at most once per GitSource per Options.CatchUpInterval (10 s) for the same hint, so a denied
// write repeated does not make the feed fetch in a loop. If it fails, times out or the commit is
// refused, the denial stands (fail closed). An allowed write never waits: the catch-up is only on
// a denial. A GitSource's spec,
// a Sync's creation, change of spec or deletion (not its status), a TrustPolicy's creation, deletion or change of
// generation, and the GitSource's interval wake it too.
//
// A deleted Sync, a Sync that names another GitSource, a deleted GitSource and a revoked anchor
// make the feed forget the Syncs concerned (fail closed). For every Sync without an index the feed
// keeps why (not fetched yet, fetch failed, commit refused, render failed, revoked, GitSource or
// TrustPolicy missing): Check fills witness.Result.Why with it for a NotReady result.
//
// Witnessed tells the guard whose writes the witness judges: Writ's reconciler's service account in
// Writ's namespace, and every service account a Sync names in spec.serviceAccountName, which the
// reconciler impersonates to apply. The set is rebuilt from the cache whenever a Sync is created,
// deleted or its spec changes, and read through an atomic pointer, so Witnessed neither locks nor
// allocates. Until the manager's cache
// has synced and the set is built the first time, the Feed's readiness check (ReadyCheck) fails,
// so a webhook pod does not serve reviews knowing only the reconciler's own account.
//
// The feed also watches the cluster's mutating admission objects (MutatingWebhookConfigurations,
// MutatingAdmissionPolicies and their bindings, mutators.go), which the apiserver never sends to a
// webhook and whose additions to a write no field manager owns: while one exists that is not what
// an indexed commit declares as stored (witness.Index.CheckStored), not trusted by name
// (Options.TrustedMutators) and not limited to Writ's own BreakGlassRequests and AuditEvents, Check
// and CheckUnsealed deny every CREATE and UPDATE they would admit (witness.UnaccountedMutator).
//
// The anchor lives in memory only: a restarted webhook verifies each GitSource's head afresh, as a
// new reconciler would (from the TrustPolicy's range base, or the whole history, in Range mode).
package feed
