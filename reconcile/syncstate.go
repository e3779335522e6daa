package reconcile

import (
	"fmt"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
)

// The pure decisions of a Sync's state machine: what its source allows, which step a
// reconciliation takes, and what each outcome writes into status. The phases in sync.go call
// these and do the I/O.

// sourceState is what a sync may do with what its GitSource serves.
type sourceState int

const (
	sourceServes  sourceState = iota // a verified commit: apply it
	sourceWaiting                    // nothing verified yet: wait for the GitSource
	sourceFrozen                     // the served commit was revoked: apply, prune and heal nothing
)

// sourceStateOf says what gs allows, and the commit it serves.
func sourceStateOf(gs *reconcilev1.GitSource) (sourceState, string) {
	switch {
	case frozen(gs):
		return sourceFrozen, gs.Status.LastVerifiedCommit
	case gs.Status.LastVerifiedCommit == "":
		return sourceWaiting, ""
	}
	return sourceServes, gs.Status.LastVerifiedCommit
}

// step is what a reconciliation of a served commit does.
type step int

const (
	stepApply      step = iota // a new commit or a new generation: apply all, prune
	stepCheckDrift             // the same commit again: compare with the cluster, then heal or report
	stepNothing                // the same commit again with drift Off
)

// stepOf decides the step for commit: the commit last applied, at the generation last
// observed, is a drift check (an object changed, or the interval passed).
func stepOf(s *reconcilev1.Sync, commit string) step {
	if commit != s.Status.LastAppliedCommit || s.Generation != s.Status.ObservedGeneration {
		return stepApply
	}
	if driftMode(s) == reconcilev1.DriftOff {
		return stepNothing
	}
	return stepCheckDrift
}

// driftMode is the sync's drift mode, Heal by default.
func driftMode(s *reconcilev1.Sync) reconcilev1.DriftMode {
	if s.Spec.Drift == "" {
		return reconcilev1.DriftHeal
	}
	return s.Spec.Drift
}

// syncInterval is how often a sync is reconciled when nothing wakes it: spec.interval, 10m by
// default.
func syncInterval(s *reconcilev1.Sync) time.Duration {
	if s.Spec.Interval != nil && s.Spec.Interval.Duration > 0 {
		return s.Spec.Interval.Duration
	}
	return 10 * time.Minute
}

// healthWait says whether the wait phase waits for health (spec.wait, true by default) and for
// how long (spec.timeout, 5m by default).
func healthWait(s *reconcilev1.Sync) (bool, time.Duration) {
	if s.Spec.Wait != nil && !*s.Spec.Wait {
		return false, 0
	}
	if s.Spec.Timeout != nil {
		return true, s.Spec.Timeout.Duration
	}
	return true, 5 * time.Minute
}

// markWaiting: the source has no verified commit yet.
func markWaiting(s *reconcilev1.Sync, gs *reconcilev1.GitSource) {
	setCondition(&s.Status.Conditions, s.Generation, SourceVerified, false, "NoVerifiedCommit", "the source has no verified commit yet: "+conditionMessage(gs.Status.Conditions, SourceVerified))
	setCondition(&s.Status.Conditions, s.Generation, Ready, false, "NoVerifiedCommit", "waiting for a verified commit")
}

// markServing: commit verified and is being applied.
func markServing(s *reconcilev1.Sync, commit string) {
	setCondition(&s.Status.Conditions, s.Generation, SourceVerified, true, "Verified", "applying the last verified commit "+commit)
	setCondition(&s.Status.Conditions, s.Generation, Reconciling, true, "Applying", "applying "+commit)
}

// markFrozen stops a sync whose source's served commit was revoked: Stalled and Ready False with
// reason SourceRevoked, SourceVerified False with reason Revoked, Reconciling False; the freeze
// is written to the history once, when it begins.
func markFrozen(s *reconcilev1.Sync, gs *reconcilev1.GitSource, now time.Time) {
	rv := gs.Status.Revoked
	msg := fmt.Sprintf("frozen: the source's commit %s was revoked (%s): %s; nothing is applied and drift is not healed until GitSource %s serves a commit that verifies",
		rv.Commit, rv.Reason, rv.Message, gs.Name)
	if c := apimeta.FindStatusCondition(s.Status.Conditions, Stalled); c == nil || c.Reason != "SourceRevoked" {
		addHistory(s, rv.Commit, "Frozen", msg, now)
	}
	setCondition(&s.Status.Conditions, s.Generation, Stalled, true, "SourceRevoked", msg)
	setCondition(&s.Status.Conditions, s.Generation, Ready, false, "SourceRevoked", msg)
	setCondition(&s.Status.Conditions, s.Generation, SourceVerified, false, "Revoked", rv.Message)
	setCondition(&s.Status.Conditions, s.Generation, Reconciling, false, "Frozen", "")
}

// markFailed: Ready False with reason, and a Failed history entry.
func markFailed(s *reconcilev1.Sync, commit, reason string, err error, now time.Time) {
	setCondition(&s.Status.Conditions, s.Generation, Ready, false, reason, err.Error())
	addHistory(s, commit, "Failed", err.Error(), now)
}

// markDrift reports what a drift check found without healing it (Warn, or frozen: prefix says
// so).
func markDrift(s *reconcilev1.Sync, prefix string, drifts []apply.Drift) {
	if len(drifts) > 0 {
		setCondition(&s.Status.Conditions, s.Generation, Drifted, true, "DriftDetected", prefix+describe(drifts))
	} else {
		setCondition(&s.Status.Conditions, s.Generation, Drifted, false, "InSync", "the cluster matches Git")
	}
}

// markApplied records a successful apply of commit (healed: the drifts it re-applied) in
// status: Stalled False, Drifted False (DriftHealed or InSync), the inventory, the commit and
// its signers. It reports whether anything changed in the cluster or the commit is new, which is
// what the history and the SyncApplied record are for.
func markApplied(s *reconcilev1.Sync, gs *reconcilev1.GitSource, commit string, res *apply.Result, healed []apply.Drift, healOnly bool, now time.Time) bool {
	setCondition(&s.Status.Conditions, s.Generation, Stalled, false, "Applied", "")
	if len(healed) > 0 {
		setCondition(&s.Status.Conditions, s.Generation, Drifted, false, "DriftHealed", "healed: "+describe(healed))
	} else {
		setCondition(&s.Status.Conditions, s.Generation, Drifted, false, "InSync", "the cluster matches Git")
	}
	s.Status.Inventory = toInventory(res.Inventory)
	changed := !healOnly && (commit != s.Status.LastAppliedCommit || len(res.Created)+len(res.Configured)+len(res.Pruned) > 0)
	s.Status.LastAppliedCommit = commit
	s.Status.LastAppliedSigners = gs.Status.Signers
	if changed {
		addHistory(s, commit, "Applied", fmt.Sprintf("created %d, configured %d, pruned %d", len(res.Created), len(res.Configured), len(res.Pruned)), now)
	}
	return changed
}

// markReady: what was applied is in place (and healthy, with wait).
func markReady(s *reconcilev1.Sync, commit string, objects int) {
	setCondition(&s.Status.Conditions, s.Generation, Ready, true, "Applied", fmt.Sprintf("applied %s: %d objects", commit, objects))
}

// maxHistory is how many entries status.history keeps, newest first.
const maxHistory = 10

// addHistory puts an entry at the head of the sync's history, keeping maxHistory.
func addHistory(s *reconcilev1.Sync, commit, result, msg string, now time.Time) {
	h := append([]reconcilev1.HistoryEntry{{Commit: commit, Time: metav1.NewTime(now), Result: result, Message: cutMessage(msg)}}, s.Status.History...)
	if len(h) > maxHistory {
		h = h[:maxHistory]
	}
	s.Status.History = h
}

// appliedEvent is the SyncApplied record of commit: who signed and approved it, and the counts.
func appliedEvent(s *reconcilev1.Sync, gs *reconcilev1.GitSource, commit string, res *apply.Result) audit.Event {
	return audit.Event{Kind: audit.SyncApplied, Commit: commit, Repository: gs.Spec.URL, Signers: signerIDs(gs.Status.Signers, false), Approvers: signerIDs(gs.Status.Signers, true),
		Object: audit.ObjectRef{Group: reconcilev1.GroupVersion.Group, Kind: "Sync", Namespace: s.Namespace, Name: s.Name}, Objects: res.Counts()}
}

// driftEvent is the record of one drift found (DriftDetected) or healed (DriftHealed).
func driftEvent(kind audit.Kind, s *reconcilev1.Sync, commit string, d apply.Drift) audit.Event {
	// Actor stays empty: the reconciler does not know who wrote the object. The guard's record
	// of the write made on SinceResourceVersion does (audit.Event), and the evidence joins them;
	// the field manager is any string the writer chose, so it is only Manager.
	e := audit.Event{Kind: kind, Commit: commit, Fields: d.Fields,
		Object:          audit.ObjectRef{Group: d.Group, Version: d.Version, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, UID: d.UID},
		ResourceVersion: d.ResourceVersion, SinceResourceVersion: d.Since,
		Reason: "sync " + s.Namespace + "/" + s.Name}
	if d.Deleted {
		e.Reason += ": the object was deleted"
	}
	if d.Mutated {
		e.Reason += ": the apiserver stored other values than Writ applied (an admission mutation)"
	}
	if len(d.Managers) > 0 {
		e.Manager = d.Managers[0]
	}
	return e
}

// describe says, for a condition, which objects drifted, in which fields and by whom.
func describe(drifts []apply.Drift) string {
	var parts []string
	for _, d := range drifts {
		if d.Deleted {
			parts = append(parts, d.Entry.String()+" (deleted)")
			continue
		}
		by := ""
		if len(d.Managers) > 0 {
			by = " by " + d.Managers[0]
		}
		parts = append(parts, fmt.Sprintf("%s%s (%s)", d.Entry, by, strings.Join(d.Fields, ", ")))
	}
	return strings.Join(parts, "; ")
}

// driftedObjects returns the objects of objs that drifts name.
func driftedObjects(objs []*unstructured.Unstructured, drifts []apply.Drift) []*unstructured.Unstructured {
	ids := map[string]bool{}
	for _, d := range drifts {
		ids[d.Entry.ID()] = true
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if ids[apply.EntryOf(o).ID()] {
			out = append(out, o)
		}
	}
	return out
}

func fromInventory(in []reconcilev1.InventoryEntry) []apply.Entry {
	out := make([]apply.Entry, len(in))
	for i, e := range in {
		out[i] = apply.Entry(e)
	}
	return out
}

func toInventory(in []apply.Entry) []reconcilev1.InventoryEntry {
	out := make([]reconcilev1.InventoryEntry, len(in))
	for i, e := range in {
		out[i] = reconcilev1.InventoryEntry(e)
	}
	return out
}

// stampOf is what an apply of commit writes on every object.
func stampOf(s *reconcilev1.Sync, gs *reconcilev1.GitSource, commit string) apply.Stamp {
	return apply.Stamp{SyncNamespace: s.Namespace, SyncName: s.Name, Commit: commit, Source: apply.SourceOf(gs.Spec.URL, s.Spec.Path)}
}
