package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/provenance"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/reconcile/render"
	"writ.dev/writ/reconcile/source"
	"writ.dev/writ/witness"
)

// sourceLoop is the feed's GitSource controller: per GitSource, fetch -> verify the new head ->
// judge the anchor again under a changed TrustPolicy -> render and publish each Sync.
type sourceLoop struct {
	client    client.Client // the manager's: cached reads, the RESTMapper
	secrets   client.Reader // uncached: the credential Secrets, get only
	cache     *source.Cache
	index     *witness.Index
	notes     *notes
	metrics   *Metrics
	workers   int
	verifiers verifiers
	locks     sourceLocks // one reconciliation of a GitSource at a time: the loop's or a catch-up's
	// gate, when set (tests only), runs before each of the controller's reconciliations, not a
	// catch-up's: a test holds the loop back with it.
	gate func(ctx context.Context, key types.NamespacedName)

	mu      sync.Mutex
	sources map[types.NamespacedName]*anchor
	syncs   map[types.NamespacedName]*indexed
}

// anchor is what the feed itself verified of one GitSource (one uid), in memory only.
type anchor struct {
	uid types.UID
	// commit is the last commit the feed verified: the one it indexes, and LastVerified of the next
	// verification. base and tag are how it was admitted (Report.Base; the tag object in Tag mode),
	// so that a changed policy judges it again the same way.
	commit, base, tag string
	// policy is the TrustPolicy's uid and generation the commit was last judged under.
	policyUID        types.UID
	policyGeneration int64
	// revoked says why commit no longer verifies under the current policy; "" while it does.
	revoked string
	// refused is the last head refused and its reason code, so a refusal is counted once.
	refused, refusedCode string
	// observed is the GitSource's resourceVersion the last reconciliation read.
	observed string
}

// indexed is what the index holds for one Sync, and the inputs it was rendered from.
type indexed struct {
	source                             types.NamespacedName
	commit, path, targetNamespace, url string
	ready                              bool // published; false: only a note says why not
}

// setup registers the controller. GitSource events of every kind wake it (a status change is a
// hint that the reconciler fetched: the feed fetches too, reading nothing of that status); a
// Sync's creation, deletion or change of spec (its generation: not the status the reconciler
// writes after every apply) wakes its GitSource (the old one's too, when it names another); a TrustPolicy's
// creation, deletion or new generation wakes the GitSources naming it.
func (l *sourceLoop) setup(mgr ctrl.Manager) error {
	l.sources, l.syncs = map[types.NamespacedName]*anchor{}, map[types.NamespacedName]*indexed{}
	no := false
	return ctrl.NewControllerManagedBy(mgr).Named("witness-gitsource").
		For(&reconcilev1.GitSource{}).
		Watches(&reconcilev1.Sync{}, handler.EnqueueRequestsFromMapFunc(sourceOf), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&provenancev1.TrustPolicy{}, handler.EnqueueRequestsFromMapFunc(l.sourcesNaming),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: l.workers, NeedLeaderElection: &no}).
		Complete(l)
}

// sourceOf maps a Sync to the GitSource it names.
func sourceOf(_ context.Context, o client.Object) []ctrlreconcile.Request {
	s, ok := o.(*reconcilev1.Sync)
	if !ok || s.Spec.SourceRef.Name == "" {
		return nil
	}
	return []ctrlreconcile.Request{{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.SourceRef.Name}}}
}

// sourcesNaming maps a TrustPolicy to the GitSources naming it.
func (l *sourceLoop) sourcesNaming(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	var list reconcilev1.GitSourceList
	if err := l.client.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing GitSources for a TrustPolicy change: the witness judges it on their interval instead; check writ-webhook's RBAC (list gitsources.writ.dev)",
			"trustPolicy", o.GetName())
		return nil
	}
	var out []ctrlreconcile.Request
	for _, gs := range list.Items {
		if gs.Spec.TrustPolicy == o.GetName() {
			out = append(out, ctrlreconcile.Request{NamespacedName: objectKey(&gs)})
		}
	}
	return out
}

// Reconcile is the controller's reconciliation of one GitSource (reconcile), never at the same
// time as a catch-up's of it.
func (l *sourceLoop) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if l.gate != nil {
		l.gate(ctx, req.NamespacedName)
	}
	unlock, err := l.locks.lock(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer unlock()
	return l.reconcile(ctx, req.NamespacedName)
}

// reconcile judges one GitSource and publishes its Syncs; the caller holds its lock. Transient
// failures (the remote, the apiserver, the disk) are returned, so the workqueue backs off; the
// others wait for an event or the interval. Whatever fails, a Sync keeps the index it has, unless
// its commit is revoked.
func (l *sourceLoop) reconcile(ctx context.Context, key types.NamespacedName) (ctrl.Result, error) {
	var gs reconcilev1.GitSource
	if err := l.client.Get(ctx, key, &gs); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, l.gone(ctx, key)
	}
	syncs, err := l.syncsOf(ctx, key)
	if err != nil {
		return ctrl.Result{}, err
	}
	a, err := l.anchorOf(ctx, &gs)
	if err != nil {
		return ctrl.Result{}, err
	}
	l.track(key, syncs)
	failure, judgeErr := l.judge(ctx, &gs, a)
	publishErr := l.publish(ctx, &gs, a, syncs, failure)
	l.mu.Lock()
	a.observed = gs.ResourceVersion
	l.mu.Unlock()
	if err := errors.Join(judgeErr, publishErr); err != nil {
		return ctrl.Result{}, err
	}
	interval := time.Minute
	if gs.Spec.Interval != nil && gs.Spec.Interval.Duration > 0 {
		interval = gs.Spec.Interval.Duration
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// syncsOf lists the Syncs naming the GitSource key.
func (l *sourceLoop) syncsOf(ctx context.Context, key types.NamespacedName) ([]reconcilev1.Sync, error) {
	var list reconcilev1.SyncList
	if err := l.client.List(ctx, &list, client.InNamespace(key.Namespace)); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, s := range list.Items {
		if s.Spec.SourceRef.Name == key.Name {
			out = append(out, s)
		}
	}
	return out, nil
}

// anchorOf returns the feed's anchor of gs; a GitSource of the same name with another uid (deleted
// and created again) starts afresh, from an empty cache and with its Syncs forgotten.
func (l *sourceLoop) anchorOf(ctx context.Context, gs *reconcilev1.GitSource) (*anchor, error) {
	key := objectKey(gs)
	l.mu.Lock()
	a := l.sources[key]
	l.mu.Unlock()
	if a != nil && a.uid == gs.UID {
		return a, nil
	}
	if a != nil {
		// Deleted and created again between two reconciliations: what the old one's commits
		// declared is forgotten (fail closed) until the new one's verifies.
		l.track(key, nil)
		if err := l.cache.Remove(ctx, cacheKey(key)); err != nil {
			return nil, err
		}
	}
	a = &anchor{uid: gs.UID}
	l.mu.Lock()
	l.sources[key] = a
	l.mu.Unlock()
	return a, nil
}

// judge runs policy -> fetch -> verify the new head -> judge the anchor again when the policy
// changed, updating a. It returns why the source has nothing (new) to index when something failed,
// for the notes of Syncs without an index, and the transient error, if any.
func (l *sourceLoop) judge(ctx context.Context, gs *reconcilev1.GitSource, a *anchor) (failure string, _ error) {
	var tp provenancev1.TrustPolicy
	if err := l.client.Get(ctx, client.ObjectKey{Name: gs.Spec.TrustPolicy}, &tp); err != nil {
		// The anchor keeps its last verdict, as the reconciler's served commit does: deleting the
		// policy must not stop the reconciler from healing what it verified.
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("its GitSource's TrustPolicy %q does not exist", gs.Spec.TrustPolicy), nil
		}
		return fmt.Sprintf("TrustPolicy %q could not be read: %v", gs.Spec.TrustPolicy, err), err
	}
	v, err := l.verifiers.of(&tp)
	if err != nil {
		l.metrics.verifyFailed("TrustPolicyInvalid")
		return fmt.Sprintf("TrustPolicy %q is invalid: %v", tp.Name, err), nil
	}
	var art *source.Artifact
	if !gs.Spec.Suspend {
		var transient error
		if art, failure, transient = l.fetch(ctx, gs); art == nil {
			if err := l.judgeAnchor(ctx, gs, a, &tp, v, nil); err != nil {
				return failure, err
			}
			return failure, transient
		}
	}
	if art != nil && art.Commit != a.commit {
		if failure, err = l.verifyHead(ctx, a, &tp, v, art); err != nil {
			return failure, err
		}
	}
	var repo *git.Repository
	if art != nil {
		repo = art.Repo
	}
	return failure, l.judgeAnchor(ctx, gs, a, &tp, v, repo)
}

// fetch brings the feed's cache of gs up to date. On failure it returns why, and the error when
// it is worth a retry with backoff (not for options that cannot work or a missing Secret, which
// wait for the interval).
func (l *sourceLoop) fetch(ctx context.Context, gs *reconcilev1.GitSource) (*source.Artifact, string, error) {
	opts, err := source.OptionsOf(ctx, l.secrets, gs)
	if err != nil {
		l.metrics.fetchFailed("SecretUnavailable")
		why := "fetch failed: reading the credentials: " + err.Error()
		if apierrors.IsNotFound(err) {
			return nil, why, nil
		}
		return nil, why, err
	}
	art, err := l.cache.Fetch(ctx, cacheKey(objectKey(gs)), opts)
	if err != nil {
		reason := fetchReason(err)
		l.metrics.fetchFailed(reason)
		why := "fetch failed: " + err.Error()
		if reason == "FetchFailed" {
			return nil, why, err
		}
		return nil, why, nil
	}
	return art, "", nil
}

// verifyHead verifies a newly fetched head from the anchor; one that verifies becomes the anchor.
func (l *sourceLoop) verifyHead(ctx context.Context, a *anchor, tp *provenancev1.TrustPolicy, v *provenance.Verifier, art *source.Artifact) (string, error) {
	rep, err := v.Verify(ctx, provenance.NewRepository(art.Repo), provenance.Request{Target: art.Ref, LastVerified: a.commit})
	if err != nil && !errors.Is(err, provenance.ErrRevision) {
		return "", fmt.Errorf("verifying %s: %w", art.Commit, err) // the repository could not be read
	}
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		code := provenance.ReasonCode(err)
		if a.refused != art.Commit || a.refusedCode != code {
			l.metrics.verifyFailed(code)
		}
		a.refused, a.refusedCode = art.Commit, code
		return fmt.Sprintf("commit %s was refused by TrustPolicy %s: %v", art.Commit, tp.Name, err), nil
	}
	a.commit, a.base, a.tag = art.Commit, rep.Base, ""
	if rep.Tag != nil {
		a.tag = rep.Tag.Commit
	}
	a.policyUID, a.policyGeneration, a.revoked = tp.UID, tp.Generation, ""
	a.refused, a.refusedCode = "", ""
	return "", nil
}

// judgeAnchor verifies the anchor again, exactly as it was admitted, when the policy's uid or
// generation changed since it was judged: one that no longer verifies is revoked, one that
// verifies again is not. repo is the fetched repository, or nil to open the cache's.
func (l *sourceLoop) judgeAnchor(ctx context.Context, gs *reconcilev1.GitSource, a *anchor, tp *provenancev1.TrustPolicy, v *provenance.Verifier, repo *git.Repository) error {
	if a.commit == "" || (a.policyUID == tp.UID && a.policyGeneration == tp.Generation) {
		return nil
	}
	req := provenance.Request{Target: a.commit}
	switch v.Mode() {
	case provenancev1.ModeRange:
		req.Base = a.base
	case provenancev1.ModeTag:
		req.Target = a.tag
	}
	if req.Target == "" {
		a.revoked = fmt.Sprintf("commit %s cannot be judged again under TrustPolicy %s: the tag that admitted it is not known", a.commit, tp.Name)
		a.policyUID, a.policyGeneration = tp.UID, tp.Generation
		return nil
	}
	if repo == nil {
		var err error
		if repo, err = l.cache.Repository(ctx, cacheKey(objectKey(gs))); err != nil {
			return fmt.Errorf("verifying %s again: opening the witness's cache: %w", a.commit, err)
		}
	}
	rep, err := v.Verify(ctx, provenance.NewRepository(repo), req)
	if err == nil {
		err = rep.Err()
	} else if !errors.Is(err, provenance.ErrRevision) {
		return fmt.Errorf("verifying %s again: %w", a.commit, err)
	}
	a.policyUID, a.policyGeneration = tp.UID, tp.Generation
	if err == nil {
		a.revoked = ""
		return nil
	}
	if a.revoked == "" {
		l.metrics.verifyFailed(provenance.ReasonCode(err))
	}
	a.revoked = fmt.Sprintf("commit %s no longer verifies under TrustPolicy %s (generation %d): %v", a.commit, tp.Name, tp.Generation, err)
	return nil
}

// publish brings each Sync's index to the anchor: rendered and published when the anchor or the
// Sync's path, target namespace or the source's URL changed, forgotten when the anchor is
// revoked, noted with why when there is nothing to index.
func (l *sourceLoop) publish(ctx context.Context, gs *reconcilev1.GitSource, a *anchor, syncs []reconcilev1.Sync, failure string) error {
	key := objectKey(gs)
	var errs []error
	for i := range syncs {
		s := &syncs[i]
		sk := objectKey(s)
		switch {
		case a.revoked != "":
			l.forget(sk)
			l.note(sk, "its commit was revoked: "+a.revoked)
		case a.commit == "":
			if failure != "" {
				l.note(sk, failure)
			}
		default:
			want := indexed{source: key, commit: a.commit, path: s.Spec.Path, targetNamespace: s.Spec.TargetNamespace, url: gs.Spec.URL, ready: true}
			l.mu.Lock()
			have := l.syncs[sk]
			l.mu.Unlock()
			if have != nil && *have == want {
				continue
			}
			if err := l.render(ctx, gs, s, a.commit, want); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if a.commit != "" {
		if err := l.cache.Clean(ctx, cacheKey(key), a.commit); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "removing the witness's checkouts of commits it no longer indexes (retried on the next reconcile)")
		}
	}
	return errors.Join(errs...)
}

// render checks commit out, renders s's path as the SyncReconciler does, stamps each object as its
// apply engine does (without the commit annotation) and publishes them. A commit that does not
// render is noted (the Sync keeps the index it had); a checkout that may pass on a retry is
// returned.
func (l *sourceLoop) render(ctx context.Context, gs *reconcilev1.GitSource, s *reconcilev1.Sync, commit string, want indexed) error {
	started := time.Now()
	sk := objectKey(s)
	tree, err := l.cache.Checkout(ctx, cacheKey(want.source), commit)
	if err != nil {
		l.note(sk, fmt.Sprintf("commit %s could not be checked out: %v", commit, err))
		if errors.Is(err, source.ErrUnsafeTree) {
			return nil
		}
		return err
	}
	defer tree.Close()
	objs, err := render.Render(ctx, render.Options{Root: tree.Dir, Path: s.Spec.Path, TargetNamespace: s.Spec.TargetNamespace, Scope: render.RESTMapperScope(l.client.RESTMapper())})
	if err != nil {
		l.note(sk, fmt.Sprintf("commit %s does not render: %v", commit, err))
		if ctx.Err() != nil {
			return err
		}
		return nil
	}
	stamp := apply.Stamp{SyncNamespace: s.Namespace, SyncName: s.Name, Source: apply.SourceOf(gs.Spec.URL, s.Spec.Path)}
	for _, o := range objs {
		stamp.Declare(o)
	}
	if err := l.index.Publish(sk, commit, objs); err != nil {
		l.note(sk, fmt.Sprintf("commit %s could not be indexed: %v", commit, err))
		return nil
	}
	l.mu.Lock()
	l.syncs[sk] = &want
	l.mu.Unlock()
	l.notes.clear(sk)
	l.metrics.published(time.Since(started))
	l.metrics.syncState(sk, true, len(objs))
	return nil
}

// track makes the feed's records of the GitSource key's Syncs match syncs: a Sync last seen with
// key that no longer names it (deleted, or naming another GitSource, whose reconciliation publishes
// it) is forgotten; a Sync seen for the first time, or coming from another GitSource, starts with
// no index here (what another GitSource's commit declared is forgotten: fail closed).
func (l *sourceLoop) track(key types.NamespacedName, syncs []reconcilev1.Sync) {
	current := make(map[types.NamespacedName]bool, len(syncs))
	var fresh, moved []types.NamespacedName
	l.mu.Lock()
	for i := range syncs {
		sk := objectKey(&syncs[i])
		current[sk] = true
		if rec := l.syncs[sk]; rec == nil || rec.source != key {
			if rec != nil {
				moved = append(moved, sk)
			}
			fresh = append(fresh, sk)
			l.syncs[sk] = &indexed{source: key}
		}
	}
	var stale []types.NamespacedName
	for sk, rec := range l.syncs {
		if rec.source == key && !current[sk] {
			stale = append(stale, sk)
			delete(l.syncs, sk)
		}
	}
	l.mu.Unlock()
	for _, sk := range moved {
		l.index.Forget(sk)
	}
	for _, sk := range fresh {
		l.notes.set(sk, "the witness has not yet fetched, verified and rendered a commit of its GitSource "+key.String())
		l.metrics.syncState(sk, false, 0)
	}
	for _, sk := range stale {
		l.index.Forget(sk)
		l.notes.clear(sk)
		l.metrics.forgetSync(sk)
	}
}

// note records why sync has no index, unless it has one (an older commit's, which it keeps).
func (l *sourceLoop) note(sync types.NamespacedName, why string) {
	l.mu.Lock()
	ready := l.syncs[sync] != nil && l.syncs[sync].ready
	l.mu.Unlock()
	if !ready {
		l.notes.set(sync, why)
		l.metrics.syncState(sync, false, 0)
	}
}

// forget drops sync's index: Check denies its objects from now on.
func (l *sourceLoop) forget(sync types.NamespacedName) {
	l.index.Forget(sync)
	l.mu.Lock()
	if rec := l.syncs[sync]; rec != nil {
		rec.ready, rec.commit = false, ""
	}
	l.mu.Unlock()
}

// gone handles a deleted GitSource: its Syncs are forgotten (the reconciler applies nothing
// without it), those that still name it are noted, and its cache is removed.
func (l *sourceLoop) gone(ctx context.Context, key types.NamespacedName) error {
	l.mu.Lock()
	delete(l.sources, key)
	l.mu.Unlock()
	l.track(key, nil)
	syncs, err := l.syncsOf(ctx, key)
	if err != nil {
		return err
	}
	l.track(key, syncs)
	for i := range syncs {
		l.note(objectKey(&syncs[i]), "its GitSource "+key.String()+" does not exist")
	}
	return l.cache.Remove(ctx, cacheKey(key))
}

// cacheKey names a GitSource's cache.
func cacheKey(k types.NamespacedName) source.Key {
	return source.Key{Namespace: k.Namespace, Name: k.Name}
}
