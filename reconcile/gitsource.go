package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/audit"
	"writ.dev/writ/provenance"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/provenance/signature"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
)

// GitSourceReconciler fetches each GitSource and verifies the new commits with its TrustPolicy
// before anything may render them. An unverified or rolled-back commit never becomes
// status.lastVerifiedCommit: syncs keep deploying the last good one. Whenever the TrustPolicy
// changes, the served commit is verified again; one that no longer verifies is revoked
// (status.revoked), and the syncs using the source freeze until a commit that verifies is served.
type GitSourceReconciler struct {
	Client   client.Client
	Recorder audit.Recorder
	// Cache holds each source's repository and the checkouts of its verified commits; the
	// SyncReconciler reads checkouts from the same Cache.
	Cache   *source.Cache
	Metrics *Metrics
	Now     func() time.Time

	mu        sync.Mutex
	verifiers map[string]cachedVerifier // TrustPolicy name -> compiled at a uid and generation
}

type cachedVerifier struct {
	uid        types.UID
	generation int64
	v          *provenance.Verifier
	err        error
}

// trustPolicyIndex indexes GitSources by the TrustPolicy they name.
const trustPolicyIndex = "spec.trustPolicy"

// SetupWithManager registers the reconciler. A TrustPolicy's creation, deletion or change of
// generation wakes every GitSource naming it, so the served commit is judged again at once.
func (r *GitSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &reconcilev1.GitSource{}, trustPolicyIndex,
		func(o client.Object) []string { return []string{o.(*reconcilev1.GitSource).Spec.TrustPolicy} }); err != nil {
		return fmt.Errorf("indexing GitSources by TrustPolicy: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).Named("gitsource").For(&reconcilev1.GitSource{}).
		Watches(&provenancev1.TrustPolicy{}, handler.EnqueueRequestsFromMapFunc(r.sourcesOf),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// sourcesOf maps a TrustPolicy to the GitSources that name it.
func (r *GitSourceReconciler) sourcesOf(ctx context.Context, o client.Object) []ctrlreconcile.Request {
	var list reconcilev1.GitSourceList
	if err := r.Client.List(ctx, &list, client.MatchingFields{trustPolicyIndex: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the GitSources of a TrustPolicy: they judge its change on their interval instead; check the controller's RBAC (list gitsources.writ.dev) and the apiserver",
			"trustPolicy", o.GetName())
		return nil
	}
	out := make([]ctrlreconcile.Request, 0, len(list.Items))
	for _, gs := range list.Items {
		out = append(out, ctrlreconcile.Request{NamespacedName: client.ObjectKeyFromObject(&gs)})
	}
	return out
}

// Reconcile runs the phases policy -> fetch -> verify the new head -> judge the served commit
// under the current policy -> summarize, removes the checkouts of commits no longer served, and
// patches status once, at the end; a GitSource that is gone has its cache removed. Every phase after the policy runs even when the fetch failed,
// so that a revocation reaches the served commit while the remote is down. Transient failures (the
// remote, the apiserver, a cache that cannot be read) are returned, so the workqueue backs off;
// terminal ones (an invalid or missing TrustPolicy, invalid source options, a refused commit)
// are marked in conditions and retried on the interval.
func (r *GitSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	var gs reconcilev1.GitSource
	if err := r.Client.Get(ctx, req.NamespacedName, &gs); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Deleted: forget its metrics and its cache on disk.
		r.Metrics.forgetSource(req.Namespace, req.Name)
		return ctrl.Result{}, r.Cache.Remove(ctx, source.Key{Namespace: req.Namespace, Name: req.Name})
	}
	if gs.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	base := gs.DeepCopy()
	defer func() {
		gs.Status.ObservedGeneration = gs.Generation
		r.Metrics.sourceRevoked(gs.Namespace, gs.Name, frozen(&gs))
		if err := r.Client.Status().Patch(ctx, &gs, client.MergeFrom(base)); err != nil && retErr == nil {
			retErr = err
		}
	}()
	interval := time.Minute
	if gs.Spec.Interval != nil && gs.Spec.Interval.Duration > 0 {
		interval = gs.Spec.Interval.Duration
	}
	res = ctrl.Result{RequeueAfter: interval}

	tp, v, err := r.verifier(ctx, gs.Spec.TrustPolicy)
	if err != nil {
		reason, transient := policyFailure(err)
		if transient {
			setCondition(&gs.Status.Conditions, gs.Generation, Ready, servable(&gs), reason, err.Error())
			return ctrl.Result{}, err
		}
		// The served commit keeps its last verdict: deleting or breaking the policy must not
		// become a way to stop healing.
		setCondition(&gs.Status.Conditions, gs.Generation, Stalled, true, reason, err.Error())
		setCondition(&gs.Status.Conditions, gs.Generation, Ready, servable(&gs), reason, err.Error())
		return res, nil
	}
	j := &judgement{gs: &gs, base: base, tp: tp, v: v}

	art, fetchErr := r.fetch(ctx, j)
	var repo *git.Repository
	if art != nil {
		repo = art.Repo
		gs.Status.LastFetchedCommit = art.Commit
	}
	var headErr error
	if art != nil && art.Commit != gs.Status.LastVerifiedCommit {
		headErr = r.verifyHead(ctx, j, art)
	}
	servedErr := r.verifyServed(ctx, j, repo, art)
	j.summarize(art)
	if served := gs.Status.LastVerifiedCommit; served != "" {
		if err := r.Cache.Clean(ctx, cacheKey(&gs), served); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "removing checkouts of commits no longer served (retried on the next reconcile)")
		}
	}
	for _, err := range []error{servedErr, headErr, fetchErr} {
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	return res, nil
}

// judgement is one reconciliation's state shared by its phases.
type judgement struct {
	gs, base *reconcilev1.GitSource
	tp       *provenancev1.TrustPolicy
	v        *provenance.Verifier
	// refused says why the newest fetched commit was refused, when it was; verified is set
	// when it verified in this reconciliation.
	refused  string
	verified bool
}

// fetch brings the cache up to date. It sets Stalled (False once fetched; True for options
// that cannot work), and SourceVerified=False with TagNameMismatch for a tag ref that reaches a
// tag of another name. It returns only transient errors; the artifact is nil on any failure.
func (r *GitSourceReconciler) fetch(ctx context.Context, j *judgement) (*source.Artifact, error) {
	gs := j.gs
	opts, err := source.OptionsOf(ctx, r.Client, gs)
	if err != nil {
		if apierrors.IsNotFound(err) {
			setCondition(&gs.Status.Conditions, gs.Generation, Stalled, true, "InvalidSource", err.Error())
			return nil, nil // the Secret may be created: retried on the interval
		}
		setCondition(&gs.Status.Conditions, gs.Generation, Ready, servable(gs), "SecretUnavailable", err.Error())
		return nil, err
	}
	art, err := r.Cache.Fetch(ctx, cacheKey(gs), opts)
	if err == nil {
		setCondition(&gs.Status.Conditions, gs.Generation, Stalled, false, "Fetched", "")
		return art, nil
	}
	switch fetchFailure(err) {
	case fetchInvalid:
		setCondition(&gs.Status.Conditions, gs.Generation, Stalled, true, "InvalidSource", err.Error())
		setCondition(&gs.Status.Conditions, gs.Generation, Ready, servable(gs), "InvalidSource", err.Error())
		return nil, nil
	case fetchRefused:
		// A refusal like a failed verification: the replayed tag never becomes the served one.
		j.refused = err.Error()
		setCondition(&gs.Status.Conditions, gs.Generation, SourceVerified, false, "TagNameMismatch", err.Error())
		if prev := apimeta.FindStatusCondition(j.base.Status.Conditions, SourceVerified); prev == nil || prev.Reason != "TagNameMismatch" {
			r.Metrics.verifyFailed("TagNameMismatch")
			r.record(ctx, audit.Event{Kind: audit.CommitRejected, Repository: gs.Spec.URL, Policy: gs.Spec.TrustPolicy, Reason: cutMessage(err.Error())})
		}
		return nil, nil
	}
	setCondition(&gs.Status.Conditions, gs.Generation, Ready, servable(gs), "FetchFailed", err.Error())
	return nil, err
}

// verifyHead verifies a newly fetched commit against the last verified one and serves it when it
// verifies. It sets SourceVerified (True, or False with the verifier's reason code) and records
// CommitVerified or CommitRejected (once per refused commit and reason).
func (r *GitSourceReconciler) verifyHead(ctx context.Context, j *judgement, art *source.Artifact) error {
	gs := j.gs
	rep, err := j.v.Verify(ctx, provenance.NewRepository(art.Repo), provenance.Request{Target: art.Ref, LastVerified: gs.Status.LastVerifiedCommit})
	if err != nil && !errors.Is(err, provenance.ErrRevision) {
		return fmt.Errorf("verifying %s: %w", art.Commit, err) // the repository could not be read
	}
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		code := provenance.ReasonCode(err)
		j.refused = fmt.Sprintf("commit %s was not applied: %v", art.Commit, err)
		gs.Status.Verdict = "Rejected: " + cutMessage(err.Error())
		setCondition(&gs.Status.Conditions, gs.Generation, SourceVerified, false, code, j.refused)
		// Recorded once per commit and reason, not on every fetch of the same refused head.
		if prev := apimeta.FindStatusCondition(j.base.Status.Conditions, SourceVerified); j.base.Status.LastFetchedCommit != art.Commit ||
			prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != code {
			r.Metrics.verifyFailed(code)
			r.record(ctx, audit.Event{Kind: audit.CommitRejected, Commit: art.Commit, Repository: gs.Spec.URL, Policy: gs.Spec.TrustPolicy, Reason: cutMessage(err.Error())})
		}
		return nil
	}
	gs.Status.LastVerifiedCommit = art.Commit
	gs.Status.LastVerifiedBase = rep.Base
	gs.Status.LastVerifiedTag = ""
	if rep.Tag != nil {
		gs.Status.LastVerifiedTag = rep.Tag.Commit
	}
	gs.Status.TrustPolicyUID, gs.Status.TrustPolicyGeneration = j.tp.UID, j.tp.Generation
	gs.Status.Revoked = nil // a commit that verifies lifts a freeze
	gs.Status.Verdict = "Verified"
	gs.Status.Signers = signers(rep)
	j.verified = true
	setCondition(&gs.Status.Conditions, gs.Generation, SourceVerified, true, "Verified", fmt.Sprintf("%d commit(s) verified up to %s", len(rep.Commits), art.Commit))
	r.record(ctx, audit.Event{Kind: audit.CommitVerified, Commit: art.Commit, Repository: gs.Spec.URL, Policy: gs.Spec.TrustPolicy, Signers: signerIDs(gs.Status.Signers, false)})
	return nil
}

// verifyServed judges the served commit under the TrustPolicy as it is now. A verdict holds for
// one commit under one generation of one policy: when the policy changed since, the commit is
// verified again exactly as it was admitted (the same range in Range mode, the same tag in Tag
// mode), from the cache, so that a revocation reaches it even while the remote is down. A commit
// that no longer verifies is revoked: status.revoked, a CommitRevoked record, and the syncs
// freeze. One that verifies again (the policy was put back) is served again.
func (r *GitSourceReconciler) verifyServed(ctx context.Context, j *judgement, repo *git.Repository, art *source.Artifact) error {
	gs := j.gs
	served := gs.Status.LastVerifiedCommit
	if served == "" || (gs.Status.TrustPolicyUID == j.tp.UID && gs.Status.TrustPolicyGeneration == j.tp.Generation) {
		return nil // nothing served, or judged under this policy already
	}
	req := provenance.Request{Target: served}
	switch j.v.Mode() {
	case provenancev1.ModeRange:
		req.Base = gs.Status.LastVerifiedBase
	case provenancev1.ModeTag:
		req.Target = gs.Status.LastVerifiedTag
		if req.Target == "" && art != nil && art.Commit == served {
			req.Target = art.Ref // verified by a Writ that did not record the tag
		}
	}
	if req.Target == "" {
		return fmt.Errorf("cannot verify the served commit %s again under TrustPolicy %s: the tag that admitted it is not recorded", served, j.tp.Name)
	}
	if repo == nil {
		var err error
		if repo, err = r.Cache.Repository(ctx, cacheKey(gs)); err != nil {
			return fmt.Errorf("verifying the served commit %s again: opening the source's cache: %w", served, err)
		}
	}
	rep, err := j.v.Verify(ctx, provenance.NewRepository(repo), req)
	if err == nil {
		err = rep.Err()
	} else if !errors.Is(err, provenance.ErrRevision) {
		return fmt.Errorf("verifying the served commit %s again: %w", served, err)
	}
	gs.Status.TrustPolicyUID, gs.Status.TrustPolicyGeneration = j.tp.UID, j.tp.Generation
	if err == nil {
		if was := j.base.Status.Revoked; was != nil && was.Commit == served {
			r.record(ctx, audit.Event{Kind: audit.CommitVerified, Commit: served, Repository: gs.Spec.URL, Policy: gs.Spec.TrustPolicy,
				Signers: signerIDs(gs.Status.Signers, false), Reason: fmt.Sprintf("verifies again under TrustPolicy generation %d", j.tp.Generation)})
		}
		gs.Status.Revoked = nil
		return nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	msg := fmt.Sprintf("the served commit %s no longer verifies under TrustPolicy %s (generation %d): %v", served, j.tp.Name, j.tp.Generation, err)
	was := j.base.Status.Revoked
	gs.Status.Revoked = &reconcilev1.Revocation{Commit: served, Reason: provenance.ReasonCode(err), Message: cutMessage(msg),
		TrustPolicyGeneration: j.tp.Generation, Time: metav1.NewTime(now())}
	if was != nil && was.Commit == served {
		gs.Status.Revoked.Time = was.Time // revoked since then
	} else {
		r.record(ctx, audit.Event{Kind: audit.CommitRevoked, Commit: served, Repository: gs.Spec.URL, Policy: gs.Spec.TrustPolicy,
			Signers: signerIDs(gs.Status.Signers, false), Reason: cutMessage(msg),
			Object: audit.ObjectRef{Group: reconcilev1.GroupVersion.Group, Kind: "GitSource", Namespace: gs.Namespace, Name: gs.Name}})
	}
	return nil
}

// summarize sets Ready, and SourceVerified where the served commit decides it: Revoked while it
// is revoked (whatever the newest fetch brought), Verified when the fetched head is the served
// commit and it still verifies.
func (j *judgement) summarize(art *source.Artifact) {
	gs := j.gs
	if frozen(gs) {
		rv := gs.Status.Revoked
		msg := rv.Message + "; the syncs using this source apply and heal nothing until a commit that verifies is served"
		if j.refused != "" {
			msg += "; the newest fetched commit was refused too: " + j.refused
		}
		gs.Status.Verdict = "Revoked: " + cutMessage(rv.Message)
		setCondition(&gs.Status.Conditions, gs.Generation, SourceVerified, false, "Revoked", msg)
		setCondition(&gs.Status.Conditions, gs.Generation, Ready, false, "Revoked", msg)
		return
	}
	served := gs.Status.LastVerifiedCommit
	if art == nil {
		return // the fetch phase said why
	}
	if art.Commit == served {
		gs.Status.Verdict = "Verified"
		if !j.verified {
			setCondition(&gs.Status.Conditions, gs.Generation, SourceVerified, true, "Verified",
				fmt.Sprintf("the fetched commit %s is the verified one (TrustPolicy generation %d)", served, gs.Status.TrustPolicyGeneration))
		}
		setCondition(&gs.Status.Conditions, gs.Generation, Ready, true, "Verified", "serving "+served)
		return
	}
	setCondition(&gs.Status.Conditions, gs.Generation, Ready, served != "", "VerificationFailed",
		fmt.Sprintf("commit %s failed verification; still serving %s", art.Commit, orNone(served)))
}

// cacheKey names a GitSource's cache.
func cacheKey(gs *reconcilev1.GitSource) source.Key {
	return source.Key{Namespace: gs.Namespace, Name: gs.Name}
}

// frozen reports whether the served commit is revoked: syncs must neither apply nor heal it.
func frozen(gs *reconcilev1.GitSource) bool {
	return gs.Status.Revoked != nil && gs.Status.Revoked.Commit == gs.Status.LastVerifiedCommit && gs.Status.LastVerifiedCommit != ""
}

// servable reports whether the source serves a commit syncs may apply.
func servable(gs *reconcilev1.GitSource) bool {
	return gs.Status.LastVerifiedCommit != "" && !frozen(gs)
}

func orNone(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

func (r *GitSourceReconciler) record(ctx context.Context, e audit.Event) {
	if r.Recorder != nil {
		r.Recorder.Record(ctx, e)
	}
}

// signerIDs names the signers (approval false) or the approvers (approval true) of a status in
// the one signer form, computed from their fields: status is written by whoever may write it, so
// its id field is for people to read, never trusted as a record's name.
func signerIDs(signers []reconcilev1.Signer, approval bool) []string {
	ids := []string{}
	for _, s := range signers {
		if s.Approval == approval {
			ids = append(ids, signature.Signer{Method: signature.Method(s.Method), Fingerprint: s.Fingerprint, Identity: s.Identity, Issuer: s.Issuer}.ID())
		}
	}
	return ids
}

// statusSigner is how status keeps a verified signer.
func statusSigner(s signature.Signer, approval bool) reconcilev1.Signer {
	return reconcilev1.Signer{ID: s.ID(), Method: string(s.Method), Approval: approval, Fingerprint: s.Fingerprint, Identity: s.Identity, Issuer: s.Issuer}
}

// signers returns the target's signers (the last commit of the range, or the tag) and approvers.
func signers(rep *provenance.Report) []reconcilev1.Signer {
	var out []reconcilev1.Signer
	add := func(res provenance.Result) {
		out = append(out, statusSigner(res.Signer, false))
		for _, a := range res.Approvals {
			out = append(out, statusSigner(a, true))
		}
	}
	if rep.Tag != nil {
		add(*rep.Tag)
	}
	for _, c := range rep.Commits {
		if c.Commit == rep.Target {
			add(c)
		}
	}
	return out
}

// verifier compiles the named TrustPolicy once per uid and generation (a policy deleted and
// created again starts at generation 1 with another uid).
func (r *GitSourceReconciler) verifier(ctx context.Context, name string) (*provenancev1.TrustPolicy, *provenance.Verifier, error) {
	var tp provenancev1.TrustPolicy
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &tp); err != nil {
		return nil, nil, fmt.Errorf("TrustPolicy %q: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verifiers == nil {
		r.verifiers = map[string]cachedVerifier{}
	}
	if c, ok := r.verifiers[name]; ok && c.uid == tp.UID && c.generation == tp.Generation {
		return &tp, c.v, c.err
	}
	v, err := provenance.Compile(tp.Spec)
	r.verifiers[name] = cachedVerifier{uid: tp.UID, generation: tp.Generation, v: v, err: err}
	return &tp, v, err
}
