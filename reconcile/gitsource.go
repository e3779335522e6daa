package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	"writ.dev/writ/provenance"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
)

// GitSourceReconciler fetches each GitSource and verifies the new commits with its TrustPolicy
// before anything may render them. An unverified or rolled-back commit never becomes
// status.lastVerifiedCommit: syncs keep deploying the last good one.
type GitSourceReconciler struct {
	Client   client.Client
	Recorder audit.Recorder
	// CacheDir holds one repository cache per source.
	CacheDir string
	Metrics  *Metrics

	mu        sync.Mutex
	verifiers map[string]cachedVerifier // TrustPolicy name -> compiled at a generation
}

type cachedVerifier struct {
	generation int64
	v          *provenance.Verifier
	err        error
}

// SetupWithManager registers the reconciler, re-verifying sources when their TrustPolicy changes.
func (r *GitSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("gitsource").For(&reconcilev1.GitSource{}).Complete(r)
}

// SourceDir is where a source's cache lives.
func (r *GitSourceReconciler) SourceDir(namespace, name string) string {
	return filepath.Join(r.CacheDir, namespace, name)
}

// Reconcile runs the phases fetch -> verify and patches status once, at the end.
func (r *GitSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	var gs reconcilev1.GitSource
	if err := r.Client.Get(ctx, req.NamespacedName, &gs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if gs.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	base := gs.DeepCopy()
	defer func() {
		gs.Status.ObservedGeneration = gs.Generation
		if err := r.Client.Status().Patch(ctx, &gs, client.MergeFrom(base)); err != nil && retErr == nil {
			retErr = err
		}
	}()
	interval := time.Minute
	if gs.Spec.Interval != nil && gs.Spec.Interval.Duration > 0 {
		interval = gs.Spec.Interval.Duration
	}
	res = ctrl.Result{RequeueAfter: interval}

	v, err := r.verifier(ctx, gs.Spec.TrustPolicy)
	if err != nil {
		set(&gs.Status.Conditions, gs.Generation, Stalled, true, "TrustPolicyInvalid", err.Error())
		set(&gs.Status.Conditions, gs.Generation, Ready, gs.Status.LastVerifiedCommit != "", "TrustPolicyInvalid", err.Error())
		return res, nil
	}
	opts, err := r.options(ctx, &gs)
	if err != nil {
		set(&gs.Status.Conditions, gs.Generation, Stalled, true, "InvalidSource", err.Error())
		return res, nil
	}
	art, err := source.Fetch(ctx, opts)
	if err != nil {
		reason := "FetchFailed"
		if errors.Is(err, source.ErrInvalidOptions) || errors.Is(err, source.ErrHostKey) {
			set(&gs.Status.Conditions, gs.Generation, Stalled, true, "InvalidSource", err.Error())
		}
		set(&gs.Status.Conditions, gs.Generation, Ready, gs.Status.LastVerifiedCommit != "", reason, err.Error())
		return res, nil
	}
	set(&gs.Status.Conditions, gs.Generation, Stalled, false, "Fetched", "")
	gs.Status.LastFetchedCommit = art.Commit
	if art.Commit == gs.Status.LastVerifiedCommit {
		// Already verified (the ref is back on it after a refused commit, or nothing changed).
		gs.Status.Verdict = "Verified"
		set(&gs.Status.Conditions, gs.Generation, SourceVerified, true, "Verified", "the fetched commit "+art.Commit+" is the verified one")
		set(&gs.Status.Conditions, gs.Generation, Ready, true, "Verified", "serving "+art.Commit)
		return res, nil
	}
	rep, err := v.Verify(ctx, provenance.NewRepository(art.Repo), provenance.Request{Target: art.Ref, LastVerified: gs.Status.LastVerifiedCommit})
	if err == nil {
		err = rep.Err()
	}
	repo := gs.Spec.URL
	if err != nil {
		gs.Status.Verdict = "Rejected: " + truncate(err.Error())
		set(&gs.Status.Conditions, gs.Generation, SourceVerified, false, provenance.ReasonCode(err), fmt.Sprintf("commit %s was not applied: %v", art.Commit, err))
		set(&gs.Status.Conditions, gs.Generation, Ready, gs.Status.LastVerifiedCommit != "", "VerificationFailed",
			fmt.Sprintf("commit %s failed verification; still serving %s", art.Commit, orNone(gs.Status.LastVerifiedCommit)))
		// Recorded once per commit and reason, not on every fetch of the same refused head.
		if prev := apimeta.FindStatusCondition(base.Status.Conditions, SourceVerified); base.Status.LastFetchedCommit != art.Commit ||
			prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != provenance.ReasonCode(err) {
			r.Metrics.verifyFailed(provenance.ReasonCode(err))
			r.record(ctx, audit.Event{Kind: audit.CommitRejected, Commit: art.Commit, Repository: repo, Policy: gs.Spec.TrustPolicy, Reason: truncate(err.Error())})
		}
		return res, nil
	}
	gs.Status.LastVerifiedCommit = art.Commit
	gs.Status.Verdict = "Verified"
	gs.Status.Signers = signers(rep)
	set(&gs.Status.Conditions, gs.Generation, SourceVerified, true, "Verified", fmt.Sprintf("%d commit(s) verified up to %s", len(rep.Commits), art.Commit))
	set(&gs.Status.Conditions, gs.Generation, Ready, true, "Verified", "serving "+art.Commit)
	ids := []string{}
	for _, s := range gs.Status.Signers {
		ids = append(ids, s.Method+":"+s.Fingerprint+s.Identity)
	}
	r.record(ctx, audit.Event{Kind: audit.CommitVerified, Commit: art.Commit, Repository: repo, Policy: gs.Spec.TrustPolicy, Signers: ids})
	return res, nil
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

// signers returns the target's signers (the last commit of the range, or the tag) and approvers.
func signers(rep *provenance.Report) []reconcilev1.Signer {
	var out []reconcilev1.Signer
	add := func(res provenance.Result) {
		out = append(out, reconcilev1.Signer{Method: string(res.Method), Fingerprint: res.Fingerprint, Identity: res.Identity, Issuer: res.Issuer})
		for _, a := range res.Approvals {
			out = append(out, reconcilev1.Signer{Method: string(a.Method), Approval: true, Fingerprint: a.Fingerprint, Identity: a.Identity, Issuer: a.Issuer})
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

// verifier compiles the named TrustPolicy once per generation.
func (r *GitSourceReconciler) verifier(ctx context.Context, name string) (*provenance.Verifier, error) {
	var tp provenancev1.TrustPolicy
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &tp); err != nil {
		return nil, fmt.Errorf("TrustPolicy %q: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verifiers == nil {
		r.verifiers = map[string]cachedVerifier{}
	}
	if c, ok := r.verifiers[name]; ok && c.generation == tp.Generation {
		return c.v, c.err
	}
	v, err := provenance.Compile(tp.Spec)
	r.verifiers[name] = cachedVerifier{generation: tp.Generation, v: v, err: err}
	return v, err
}

// options builds fetch options: a full history when the policy verifies ranges.
func (r *GitSourceReconciler) options(ctx context.Context, gs *reconcilev1.GitSource) (source.Options, error) {
	o := source.Options{URL: gs.Spec.URL, Dir: r.SourceDir(gs.Namespace, gs.Name), Timeout: time.Minute}
	if gs.Spec.Timeout != nil {
		o.Timeout = gs.Spec.Timeout.Duration
	}
	if ref := gs.Spec.Ref; ref != nil {
		o.Ref = source.Ref{Branch: ref.Branch, Tag: ref.Tag, SemVer: ref.SemVer, Commit: ref.Commit}
	} else {
		o.Ref = source.Ref{Branch: "main"}
	}
	// Full history (Depth 0) in every mode: Range walks it, rollback protection needs the last
	// verified commit, and approval rules diff against parents. Head mode without approvals
	// could fetch shallowly; that optimisation is not taken yet.
	if gs.Spec.SecretRef != nil {
		var s corev1.Secret
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: gs.Spec.SecretRef.Name}, &s); err != nil {
			return o, fmt.Errorf("credentials Secret %q: %w", gs.Spec.SecretRef.Name, err)
		}
		o.Auth = source.Auth{Username: string(s.Data["username"]), Password: string(s.Data["password"]),
			BearerToken: string(s.Data["bearerToken"]), SSHPrivateKey: s.Data["identity"], SSHKnownHosts: s.Data["known_hosts"]}
	}
	return o, nil
}
