package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/reconcile/render"
	"writ.dev/writ/reconcile/source"
)

// SyncReconciler applies the last verified commit of a Sync's source: checkout -> render ->
// apply (staged, forced only for declared fields) -> prune by inventory -> wait for health.
type SyncReconciler struct {
	Client client.Client
	// Reader reads the Sync uncached (the manager's API reader), so a drift check right after an
	// apply sees the status that apply wrote; nil falls back to Client.
	Reader   client.Reader
	Config   *rest.Config // to impersonate a sync's service account
	Recorder audit.Recorder
	// Sources checks out the verified commits of GitSources: the GitSourceReconciler's Cache.
	Sources Checkouts
	Now     func() time.Time
	Metrics *Metrics

	drift *driftWatcher
	memo  *apply.Memo // what each sync last applied, so a no-op resync skips per-object dry runs

	mu       sync.Mutex
	reported map[types.NamespacedName]map[string]bool // drifts already recorded, per sync
}

// newDrifts returns the drifts not yet recorded for the sync named key, and remembers drifts as its
// current set: a drift left in place (Warn) is recorded once, not on every check, and again only
// when the object is written anew. A drift that goes away and comes back is new. After a
// restart each standing drift is recorded once more.
func (r *SyncReconciler) newDrifts(key types.NamespacedName, drifts []apply.Drift) []apply.Drift {
	current := map[string]bool{}
	var fresh []apply.Drift
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName]map[string]bool{}
	}
	for _, d := range drifts {
		id := d.Entry.ID() + "@" + d.ResourceVersion + " " + strings.Join(d.Fields, ",")
		current[id] = true
		if !r.reported[key][id] {
			fresh = append(fresh, d)
		}
	}
	if len(current) == 0 {
		delete(r.reported, key)
	} else {
		r.reported[key] = current
	}
	return fresh
}

// SetupWithManager registers the reconciler; a source's new verified commit wakes its syncs.
func (r *SyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c, err := ctrl.NewControllerManagedBy(mgr).Named("sync").For(&reconcilev1.Sync{}).
		Watches(&reconcilev1.GitSource{}, handler.EnqueueRequestsFromMapFunc(r.syncsOf)).
		Build(r)
	if err != nil {
		return err
	}
	r.drift = &driftWatcher{ctrl: c, cache: mgr.GetCache()}
	r.memo = apply.NewMemo()
	return nil
}

func (r *SyncReconciler) syncsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list reconcilev1.SyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, s := range list.Items {
		if s.Spec.SourceRef.Name == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return out
}

// Reconcile applies one sync and patches its status once, at the end.
func (r *SyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	var s reconcilev1.Sync
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, req.NamespacedName, &s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.memo.Forget(req.Namespace, req.Name)
			r.newDrifts(req.NamespacedName, nil) // forget its drifts
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if s.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	base := s.DeepCopy()
	started := time.Now()
	defer func() {
		result := "success"
		if c := apimeta.FindStatusCondition(s.Status.Conditions, Ready); c == nil || c.Status != metav1.ConditionTrue {
			result = "failure"
		}
		r.Metrics.observeSync(s.Namespace, s.Name, result, time.Since(started))
		s.Status.ObservedGeneration = s.Generation
		if err := r.Client.Status().Patch(ctx, &s, client.MergeFrom(base)); err != nil && retErr == nil {
			retErr = err
		}
	}()
	interval := 10 * time.Minute
	if s.Spec.Interval != nil && s.Spec.Interval.Duration > 0 {
		interval = s.Spec.Interval.Duration
	}
	res = ctrl.Result{RequeueAfter: interval}

	var gs reconcilev1.GitSource
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.SourceRef.Name}, &gs); err != nil {
		set(&s.Status.Conditions, s.Generation, Ready, false, "SourceNotFound", err.Error())
		return res, nil
	}
	commit := gs.Status.LastVerifiedCommit
	if frozen(&gs) {
		r.freeze(&s, &gs)
		r.detectFrozen(ctx, &s, &gs)
		return res, nil
	}
	if commit == "" {
		set(&s.Status.Conditions, s.Generation, SourceVerified, false, "NoVerifiedCommit", "the source has no verified commit yet: "+conditionMessage(gs.Status.Conditions, SourceVerified))
		set(&s.Status.Conditions, s.Generation, Ready, false, "NoVerifiedCommit", "waiting for a verified commit")
		return res, nil
	}
	set(&s.Status.Conditions, s.Generation, SourceVerified, true, "Verified", "applying the last verified commit "+commit)
	set(&s.Status.Conditions, s.Generation, Reconciling, true, "Applying", "applying "+commit)
	defer set(&s.Status.Conditions, s.Generation, Reconciling, false, "Done", "")

	objs, err := r.render(ctx, &s, &gs, commit)
	if err != nil {
		r.fail(ctx, &s, commit, "RenderFailed", err)
		set(&s.Status.Conditions, s.Generation, Stalled, true, "RenderFailed", err.Error())
		return res, nil
	}
	c, err := r.clientFor(&s)
	if err != nil {
		r.fail(ctx, &s, commit, "ImpersonationFailed", err)
		return res, nil
	}
	engine := apply.New(c)
	engine.Memo = r.memo
	prev := fromInventory(s.Status.Inventory)
	prune := s.Spec.Prune == nil || *s.Spec.Prune
	stamp := apply.Stamp{SyncNamespace: s.Namespace, SyncName: s.Name, Commit: commit, Source: sourceOf(gs.Spec.URL, s.Spec.Path)}
	mode := s.Spec.Drift
	if mode == "" {
		mode = reconcilev1.DriftHeal
	}
	// The same commit again: this is a drift check (an object changed, or the interval passed).
	// Healing re-applies only the objects the check found drifted, so every heal follows a
	// recorded detection: a change made after the check is left to the check its own watch
	// event starts.
	var drifts []apply.Drift
	healOnly := false
	if commit == s.Status.LastAppliedCommit && s.Generation == s.Status.ObservedGeneration {
		if mode == reconcilev1.DriftOff {
			return res, nil
		}
		if drifts, err = engine.Drift(ctx, objs, stamp); err != nil {
			r.fail(ctx, &s, commit, "DriftCheckFailed", err)
			return res, nil
		}
		r.Metrics.drifted(string(mode), len(drifts))
		for _, d := range r.newDrifts(client.ObjectKeyFromObject(&s), drifts) {
			r.record(ctx, driftEvent(audit.DriftDetected, &s, commit, d))
		}
		if mode == reconcilev1.DriftWarn {
			if len(drifts) > 0 {
				set(&s.Status.Conditions, s.Generation, Drifted, true, "DriftDetected", describe(drifts))
			} else {
				set(&s.Status.Conditions, s.Generation, Drifted, false, "InSync", "the cluster matches Git")
			}
			return res, nil
		}
		healOnly = true
	}
	result := &apply.Result{Inventory: prev}
	if !healOnly {
		result, err = engine.Apply(ctx, objs, stamp, prev, prune)
	} else if len(drifts) > 0 {
		result, err = engine.Apply(ctx, driftedObjects(objs, drifts), stamp, nil, false)
		result.Inventory = prev // the same commit: the inventory does not change
	}
	if err != nil {
		// An admission mutation changed what Writ applied: the cluster does not match Git.
		if mutated := (*apply.MutatedError)(nil); errors.As(err, &mutated) {
			for _, d := range r.newDrifts(client.ObjectKeyFromObject(&s), mutated.Drifts) {
				r.record(ctx, driftEvent(audit.DriftDetected, &s, commit, d))
			}
			set(&s.Status.Conditions, s.Generation, Drifted, true, "MutatedOnApply", describe(mutated.Drifts))
		}
		r.fail(ctx, &s, commit, "ApplyFailed", err)
		return ctrl.Result{RequeueAfter: min(interval, 30*time.Second)}, nil
	}
	set(&s.Status.Conditions, s.Generation, Stalled, false, "Applied", "")
	for _, d := range drifts {
		r.record(ctx, driftEvent(audit.DriftHealed, &s, commit, d))
	}
	if len(drifts) > 0 {
		set(&s.Status.Conditions, s.Generation, Drifted, false, "DriftHealed", "healed: "+describe(drifts))
	} else {
		set(&s.Status.Conditions, s.Generation, Drifted, false, "InSync", "the cluster matches Git")
	}
	if mode != reconcilev1.DriftOff && r.drift != nil {
		if err := r.drift.ensure(result.Inventory); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "watching applied kinds for drift")
		}
	}
	r.Metrics.applied(result.Counts())
	s.Status.Inventory = toInventory(result.Inventory)
	changed := !healOnly && (commit != s.Status.LastAppliedCommit || len(result.Created)+len(result.Configured)+len(result.Pruned) > 0)
	s.Status.LastAppliedCommit = commit
	s.Status.LastAppliedSigners = gs.Status.Signers
	if changed {
		r.history(&s, commit, "Applied", fmt.Sprintf("created %d, configured %d, pruned %d", len(result.Created), len(result.Configured), len(result.Pruned)))
		var signers, approvers []string
		for _, sg := range gs.Status.Signers {
			if sg.Approval {
				approvers = append(approvers, sg.Method+":"+sg.Fingerprint+sg.Identity)
			} else {
				signers = append(signers, sg.Method+":"+sg.Fingerprint+sg.Identity)
			}
		}
		r.record(ctx, audit.Event{Kind: audit.SyncApplied, Commit: commit, Repository: gs.Spec.URL, Signers: signers, Approvers: approvers,
			Object: audit.ObjectRef{Group: reconcilev1.GroupVersion.Group, Kind: "Sync", Namespace: s.Namespace, Name: s.Name}, Objects: result.Counts()})
	}
	if s.Spec.Wait == nil || *s.Spec.Wait {
		timeout := 5 * time.Minute
		if s.Spec.Timeout != nil {
			timeout = s.Spec.Timeout.Duration
		}
		if err := engine.Wait(ctx, result.Inventory, timeout); err != nil {
			set(&s.Status.Conditions, s.Generation, Ready, false, "HealthCheckFailed", err.Error())
			return ctrl.Result{RequeueAfter: min(interval, 30*time.Second)}, nil
		}
	}
	set(&s.Status.Conditions, s.Generation, Ready, true, "Applied", fmt.Sprintf("applied %s: %d objects", commit, len(result.Inventory)))
	return res, nil
}

// freeze stops a sync whose source's served commit was revoked: nothing is applied, pruned or
// healed (a drift event lands here too) until the source serves a commit that verifies. It sets Stalled and Ready False with reason SourceRevoked, and SourceVerified False
// with reason Revoked; the freeze is written to the sync's history once.
func (r *SyncReconciler) freeze(s *reconcilev1.Sync, gs *reconcilev1.GitSource) {
	rv := gs.Status.Revoked
	msg := fmt.Sprintf("frozen: the source's commit %s was revoked (%s): %s; nothing is applied and drift is not healed until GitSource %s serves a commit that verifies",
		rv.Commit, rv.Reason, rv.Message, gs.Name)
	if c := apimeta.FindStatusCondition(s.Status.Conditions, Stalled); c == nil || c.Reason != "SourceRevoked" {
		r.history(s, rv.Commit, "Frozen", msg)
	}
	set(&s.Status.Conditions, s.Generation, Stalled, true, "SourceRevoked", msg)
	set(&s.Status.Conditions, s.Generation, Ready, false, "SourceRevoked", msg)
	set(&s.Status.Conditions, s.Generation, SourceVerified, false, "Revoked", rv.Message)
	set(&s.Status.Conditions, s.Generation, Reconciling, false, "Frozen", "")
}

// detectFrozen still watches a frozen sync for drift, healing nothing: what differs from the
// commit last applied is recorded (DriftDetected, once per edit) and reported (Drifted=True),
// so a change made while Writ may not heal is not also a change nobody saw. It only reads and
// dry-runs; failures are logged, the freeze holds either way.
func (r *SyncReconciler) detectFrozen(ctx context.Context, s *reconcilev1.Sync, gs *reconcilev1.GitSource) {
	commit := s.Status.LastAppliedCommit
	if commit == "" || s.Spec.Drift == reconcilev1.DriftOff {
		return
	}
	objs, err := r.render(ctx, s, gs, commit)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "rendering the last applied commit of a frozen sync for drift detection")
		return
	}
	c, err := r.clientFor(s)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "impersonating for drift detection")
		return
	}
	engine := apply.New(c)
	engine.Memo = r.memo
	drifts, err := engine.Drift(ctx, objs, apply.Stamp{SyncNamespace: s.Namespace, SyncName: s.Name, Commit: commit, Source: sourceOf(gs.Spec.URL, s.Spec.Path)})
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "checking a frozen sync for drift")
		return
	}
	for _, d := range r.newDrifts(client.ObjectKeyFromObject(s), drifts) {
		r.record(ctx, driftEvent(audit.DriftDetected, s, commit, d))
	}
	if len(drifts) > 0 {
		set(&s.Status.Conditions, s.Generation, Drifted, true, "DriftDetected", "not healed while frozen: "+describe(drifts))
	} else {
		set(&s.Status.Conditions, s.Generation, Drifted, false, "InSync", "the cluster matches Git")
	}
}

// Checkouts gives a sync the files of a commit its GitSource verified; *source.Cache is one.
type Checkouts interface {
	Checkout(ctx context.Context, k source.Key, commit string) (*source.Tree, error)
}

// render checks commit out of the source's cache and renders the sync's path.
func (r *SyncReconciler) render(ctx context.Context, s *reconcilev1.Sync, gs *reconcilev1.GitSource, commit string) ([]*unstructured.Unstructured, error) {
	tree, err := r.Sources.Checkout(ctx, cacheKey(gs), commit)
	if err != nil {
		return nil, err
	}
	defer tree.Close()
	objs, err := render.Render(ctx, render.Options{Root: tree.Dir, Path: s.Spec.Path, TargetNamespace: s.Spec.TargetNamespace, Scope: render.RESTMapperScope(r.Client.RESTMapper())})
	if err != nil {
		return nil, err
	}
	render.Sort(objs)
	return objs, nil
}

// clientFor returns a client acting as the sync's service account, or the reconciler's own.
func (r *SyncReconciler) clientFor(s *reconcilev1.Sync) (client.Client, error) {
	if s.Spec.ServiceAccountName == "" {
		return r.Client, nil
	}
	cfg := rest.CopyConfig(r.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + s.Namespace + ":" + s.Spec.ServiceAccountName}
	return client.New(cfg, client.Options{Scheme: r.Client.Scheme(), Mapper: r.Client.RESTMapper()})
}

func (r *SyncReconciler) fail(ctx context.Context, s *reconcilev1.Sync, commit, reason string, err error) {
	set(&s.Status.Conditions, s.Generation, Ready, false, reason, err.Error())
	r.history(s, commit, "Failed", err.Error())
}

func (r *SyncReconciler) history(s *reconcilev1.Sync, commit, result, msg string) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	h := append([]reconcilev1.HistoryEntry{{Commit: commit, Time: metav1.NewTime(now()), Result: result, Message: truncate(msg)}}, s.Status.History...)
	if len(h) > 10 {
		h = h[:10]
	}
	s.Status.History = h
}

func (r *SyncReconciler) record(ctx context.Context, e audit.Event) {
	if r.Recorder != nil {
		r.Recorder.Record(ctx, e)
	}
}

func driftEvent(kind audit.Kind, s *reconcilev1.Sync, commit string, d apply.Drift) audit.Event {
	e := audit.Event{Kind: kind, Commit: commit, Fields: d.Fields,
		Object: audit.ObjectRef{Group: d.Group, Version: d.Version, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name},
		Reason: "sync " + s.Namespace + "/" + s.Name}
	if d.Deleted {
		e.Reason += ": the object was deleted"
	}
	if d.Mutated {
		e.Reason += ": the apiserver stored other values than Writ applied (an admission mutation)"
	}
	if len(d.Managers) > 0 {
		e.Actor.User = d.Managers[0]
	}
	return e
}

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

func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return "not fetched yet"
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

// sourceOf is what the writ.dev/source annotation (and so the guard's denial) says: the
// repository and the path in it, e.g. "https://git.example.com/shop (path deploy)".
func sourceOf(url, path string) string {
	if path = strings.Trim(path, "/"); path == "" || path == "." {
		return url
	}
	return url + " (path " + path + ")"
}
