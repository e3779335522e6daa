package reconcile

import (
	"context"
	"errors"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/reconcile/render"
	"writ.dev/writ/reconcile/source"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// SyncReconciler applies the last verified commit of a Sync's source. A reconciliation runs the
// phases resolve -> render -> plan -> apply (which prunes) -> wait, each documented with the
// conditions it sets, and patches status once, at the end.
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

	watch  *driftWatcher
	memo   *apply.Memo // what each sync last applied, so a no-op resync skips per-object dry runs
	drifts driftLog    // drifts already recorded, per sync
	holds  holdLog     // drifts left in place under break-glass, per sync
}

// Checkouts gives a sync the files of a commit its GitSource verified; *source.Cache is one.
type Checkouts interface {
	Checkout(ctx context.Context, k source.Key, commit string) (*source.Tree, error)
}

// syncRun is one reconciliation's state, filled in by its phases in turn.
type syncRun struct {
	s        *reconcilev1.Sync
	gs       *reconcilev1.GitSource
	commit   string                       // resolve: the verified commit to apply
	applying bool                         // resolve: Reconciling was set True
	objs     []*unstructured.Unstructured // render: what Git declares, sorted
	engine   *apply.Engine                // plan: acting as the sync's service account
	step     step                         // plan
	drifts   []apply.Drift                // plan: what a drift check found, to heal
	held     []hold                       // plan: drifts left in place under break-glass
	ended    []hold                       // plan: holds that ended since the last check
	result   *apply.Result                // apply
}

// SetupWithManager registers the reconciler; a source's new verified commit wakes its syncs, and
// a change of a BreakGlassRequest (its deletion: a revocation) the syncs holding a drift under it.
// A Sync wakes on a change of its spec (its generation), not of its status: the status a failed
// reconciliation writes (a history entry) must not requeue it past the workqueue's backoff.
func (r *SyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c, err := ctrl.NewControllerManagedBy(mgr).Named("sync").
		For(&reconcilev1.Sync{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&reconcilev1.GitSource{}, handler.EnqueueRequestsFromMapFunc(r.syncsOf)).
		Watches(&guardv1.BreakGlassRequest{}, handler.EnqueueRequestsFromMapFunc(r.syncsUnderRequest)).
		Build(r)
	if err != nil {
		return err
	}
	r.watch = &driftWatcher{ctrl: c, cache: mgr.GetCache()}
	r.memo = apply.NewMemo()
	return nil
}

// syncsOf maps a GitSource to the Syncs that use it.
func (r *SyncReconciler) syncsOf(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	var list reconcilev1.SyncList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the Syncs of a GitSource: they pick up its new commit on their interval instead; check the controller's RBAC (list syncs.writ.dev) and the apiserver",
			"gitSource", client.ObjectKeyFromObject(o))
		return nil
	}
	var out []ctrlreconcile.Request
	for _, s := range list.Items {
		if s.Spec.SourceRef.Name == o.GetName() {
			out = append(out, ctrlreconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return out
}

// Reconcile runs a sync's phases and patches its status once, at the end. A phase that fails
// returns its error: transient ones are retried with the workqueue's backoff, terminal ones
// (TerminalError) wait for a change; see the package documentation.
func (r *SyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	var s reconcilev1.Sync
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted: what it applied stays in place (see the README); forget its state.
			r.memo.Forget(req.Namespace, req.Name)
			r.drifts.forget(req.NamespacedName)
			r.holds.set(req.NamespacedName, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if s.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	base := s.DeepCopy()
	started := time.Now()
	run := &syncRun{s: &s}
	defer func() {
		if run.applying {
			setCondition(&s.Status.Conditions, s.Generation, Reconciling, false, "Done", "")
		}
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
	for _, phase := range []func(context.Context, *syncRun) (bool, error){r.resolve, r.render, r.plan, r.apply, r.wait} {
		next, err := phase(ctx, run)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !next {
			break
		}
	}
	after := syncInterval(&s)
	if end := holdsEnd(run.held); !end.IsZero() {
		// Look again when the first grant a held drift waits for ends.
		if d := end.Sub(r.now()) + 100*time.Millisecond; d < after {
			after = max(d, 100*time.Millisecond)
		}
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// resolve finds the commit to apply: the GitSource's last verified commit. Without one it sets
// SourceVerified and Ready False (NoVerifiedCommit) and stops; with the GitSource missing, Ready
// False (SourceNotFound); with the served commit revoked it freezes the sync (Stalled and Ready
// False, SourceRevoked; SourceVerified False, Revoked), checks for drift without healing
// (Drifted) and stops. Otherwise it sets SourceVerified True and Reconciling True.
func (r *SyncReconciler) resolve(ctx context.Context, run *syncRun) (bool, error) {
	s := run.s
	var gs reconcilev1.GitSource
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.SourceRef.Name}, &gs); err != nil {
		setCondition(&s.Status.Conditions, s.Generation, Ready, false, "SourceNotFound", err.Error())
		return false, client.IgnoreNotFound(err) // a GitSource created later wakes the sync
	}
	run.gs = &gs
	state, commit := sourceStateOf(&gs)
	switch state {
	case sourceFrozen:
		markFrozen(s, &gs, r.now())
		r.detectFrozen(ctx, run)
		return false, nil
	case sourceWaiting:
		markWaiting(s, &gs)
		return false, nil
	}
	run.commit, run.applying = commit, true
	markServing(s, commit)
	return true, nil
}

// render checks the commit out of the source's cache and renders the sync's path. A tree Writ
// refuses to write or manifests that do not render set Ready False and Stalled True
// (RenderFailed), with a Failed history entry, and are terminal for the commit; a checkout that
// may pass on a retry sets Ready False (CheckoutFailed) and is returned.
func (r *SyncReconciler) render(ctx context.Context, run *syncRun) (bool, error) {
	objs, f, err := r.renderCommit(ctx, run.s, run.gs, run.commit)
	if err != nil {
		markFailed(run.s, run.commit, f.reason, err, r.now())
		if f.stalled {
			setCondition(&run.s.Status.Conditions, run.s.Generation, Stalled, true, f.reason, err.Error())
		}
		return false, f.result(err)
	}
	run.objs = objs
	return true, nil
}

// renderCommit checks commit out and renders the sync's path of it; on failure it says how the
// failure is reported.
func (r *SyncReconciler) renderCommit(ctx context.Context, s *reconcilev1.Sync, gs *reconcilev1.GitSource, commit string) ([]*unstructured.Unstructured, failure, error) {
	tree, err := r.Sources.Checkout(ctx, cacheKey(gs), commit)
	if err != nil {
		return nil, checkoutFailure(err), err
	}
	defer tree.Close()
	objs, err := render.Render(ctx, render.Options{Root: tree.Dir, Path: s.Spec.Path, TargetNamespace: s.Spec.TargetNamespace, Scope: render.RESTMapperScope(r.Client.RESTMapper())})
	if err != nil {
		return nil, renderFailure(ctx, err), err
	}
	render.Sort(objs)
	return objs, failure{}, nil
}

// plan decides what this reconciliation writes: a new commit or generation is applied whole; the
// same commit again is a drift check, which stops here with drift Off, and in Warn mode after
// setting Drifted (DriftDetected, or False InSync). Drifts found are recorded (DriftDetected,
// once per edit). In Heal mode, drifts of objects a break-glass grant in force covers are left
// in place (see breakglass.go). Healing re-applies only the objects the check found drifted, so
// every heal follows a recorded detection: a change made after the check is left to the check its own
// watch event starts. A service account that cannot be impersonated, or a drift check that
// fails, sets Ready False (ImpersonationFailed, DriftCheckFailed) and is returned.
func (r *SyncReconciler) plan(ctx context.Context, run *syncRun) (bool, error) {
	s := run.s
	engine, err := r.engineFor(s)
	if err != nil {
		markFailed(s, run.commit, "ImpersonationFailed", err, r.now())
		return false, err
	}
	run.engine, run.step = engine, stepOf(s, run.commit)
	switch run.step {
	case stepNothing:
		return false, nil
	case stepApply:
		return true, nil
	}
	mode := driftMode(s)
	if run.drifts, err = engine.Drift(ctx, run.objs, stampOf(s, run.gs, run.commit)); err != nil {
		markFailed(s, run.commit, "DriftCheckFailed", err, r.now())
		return false, err
	}
	r.Metrics.drifted(string(mode), len(run.drifts))
	if mode == reconcilev1.DriftWarn {
		r.recordDetected(ctx, s, run.commit, run.drifts, nil)
		markDrift(s, "", run.drifts)
		return false, nil
	}
	grants := r.holdUnderGrants(ctx, run)
	under := map[string]string{}
	all := slices.Clone(run.drifts)
	for _, h := range run.held {
		under[h.drift.ID()] = h.grant
		all = append(all, h.drift)
	}
	r.recordDetected(ctx, s, run.commit, all, under)
	r.recordEnded(ctx, run, grants)
	return true, nil
}

// apply applies what plan decided with server-side apply (staged, forced only for declared
// fields) and prunes what Git no longer declares, by inventory. It sets Stalled False (Applied)
// and Drifted False (DriftHealed, or InSync), or True (BreakGlass) while drifts are left in place
// under break-glass, records DriftHealed for each heal and SyncApplied
// when the cluster or the commit changed, and watches the applied kinds for drift. A failed
// apply sets Ready False (ApplyFailed), with Drifted True (MutatedOnApply) when an admission
// mutation changed what Writ wrote, and is returned.
func (r *SyncReconciler) apply(ctx context.Context, run *syncRun) (bool, error) {
	s, commit := run.s, run.commit
	stamp := stampOf(s, run.gs, commit)
	prev := fromInventory(s.Status.Inventory)
	res, err := &apply.Result{Inventory: prev}, error(nil)
	switch {
	case run.step == stepApply:
		res, err = run.engine.Apply(ctx, run.objs, stamp, prev, s.Spec.Prune == nil || *s.Spec.Prune)
	case len(run.drifts) > 0:
		if res, err = run.engine.Apply(ctx, driftedObjects(run.objs, run.drifts), stamp, nil, false); err == nil {
			res.Inventory = prev // the same commit: the inventory does not change
		}
	}
	if err != nil {
		// An admission mutation changed what Writ applied: the cluster does not match Git.
		if mutated := (*apply.MutatedError)(nil); errors.As(err, &mutated) {
			r.recordDetected(ctx, s, commit, mutated.Drifts, nil)
			setCondition(&s.Status.Conditions, s.Generation, Drifted, true, "MutatedOnApply", describe(mutated.Drifts))
		}
		markFailed(s, commit, "ApplyFailed", err, r.now())
		return false, err
	}
	for _, d := range run.drifts {
		e := driftEvent(audit.DriftHealed, s, commit, d)
		e.BreakGlass = endedGrant(run, d)
		r.record(ctx, e)
	}
	if driftMode(s) != reconcilev1.DriftOff && r.watch != nil {
		if err := r.watch.ensure(res.Inventory); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "watching applied kinds for drift: drift is then found on the interval only")
		}
	}
	r.Metrics.applied(res.Counts())
	if markApplied(s, run.gs, commit, res, run.drifts, run.step != stepApply, r.now()) {
		r.record(ctx, appliedEvent(s, run.gs, commit, res))
	}
	markHeld(s, run.held)
	run.result = res
	return true, nil
}

// wait waits, unless the sync says not to, until what was applied is healthy (Deployments rolled
// out, Jobs complete, CRDs established, resources Ready) and sets Ready True (Applied). Objects
// that are not healthy within the timeout set Ready False (HealthCheckFailed), which is
// returned.
func (r *SyncReconciler) wait(ctx context.Context, run *syncRun) (bool, error) {
	if wait, timeout := healthWait(run.s); wait {
		if err := run.engine.Wait(ctx, run.result.Inventory, timeout); err != nil {
			setCondition(&run.s.Status.Conditions, run.s.Generation, Ready, false, "HealthCheckFailed", err.Error())
			return false, err
		}
	}
	markReady(run.s, run.commit, len(run.result.Inventory))
	return true, nil
}

// detectFrozen still watches a frozen sync for drift, healing nothing: what differs from the
// commit last applied is recorded (DriftDetected, once per edit) and reported (Drifted, "not
// healed while frozen"), so a change made while Writ may not heal is not also a change nobody
// saw. It only reads and dry-runs; failures are logged, the freeze holds either way.
func (r *SyncReconciler) detectFrozen(ctx context.Context, run *syncRun) {
	s := run.s
	commit := s.Status.LastAppliedCommit
	if commit == "" || s.Spec.Drift == reconcilev1.DriftOff {
		return
	}
	log := ctrl.LoggerFrom(ctx)
	objs, _, err := r.renderCommit(ctx, s, run.gs, commit)
	if err != nil {
		log.Error(err, "rendering the last applied commit of a frozen sync for drift detection")
		return
	}
	engine, err := r.engineFor(s)
	if err != nil {
		log.Error(err, "impersonating for drift detection")
		return
	}
	drifts, err := engine.Drift(ctx, objs, stampOf(s, run.gs, commit))
	if err != nil {
		log.Error(err, "checking a frozen sync for drift")
		return
	}
	r.recordDetected(ctx, s, commit, drifts, nil)
	markDrift(s, "not healed while frozen: ", drifts)
}

// engineFor returns an apply engine acting as the sync's service account, or as the
// reconciler itself.
func (r *SyncReconciler) engineFor(s *reconcilev1.Sync) (*apply.Engine, error) {
	c := r.Client
	if s.Spec.ServiceAccountName != "" {
		cfg := rest.CopyConfig(r.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + s.Namespace + ":" + s.Spec.ServiceAccountName}
		var err error
		if c, err = client.New(cfg, client.Options{Scheme: r.Client.Scheme(), Mapper: r.Client.RESTMapper()}); err != nil {
			return nil, err
		}
	}
	engine := apply.New(c)
	engine.Memo = r.memo
	return engine, nil
}

// recordDetected records DriftDetected for each drift not recorded yet, with the id of the
// break-glass grant it is left in place under (under, by entry ID), if any.
func (r *SyncReconciler) recordDetected(ctx context.Context, s *reconcilev1.Sync, commit string, drifts []apply.Drift, under map[string]string) {
	for _, d := range r.drifts.fresh(client.ObjectKeyFromObject(s), drifts) {
		e := driftEvent(audit.DriftDetected, s, commit, d)
		if g := under[d.ID()]; g != "" {
			e.BreakGlass = g
			e.Reason += ": left in place under break-glass request " + g
		}
		r.record(ctx, e)
	}
}

func (r *SyncReconciler) record(ctx context.Context, e audit.Event) {
	if r.Recorder != nil {
		r.Recorder.Record(ctx, e)
	}
}

func (r *SyncReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
