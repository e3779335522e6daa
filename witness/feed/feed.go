package feed

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/reconcile/source"
	"writ.dev/writ/wellknown"
	"writ.dev/writ/witness"
)

// Options configure a Feed.
type Options struct {
	// Namespace is Writ's own namespace: its reconciler's service account
	// (system:serviceaccount:<Namespace>:writ-reconciler) is witnessed.
	Namespace string
	// CacheDir is the root of the feed's own source.Cache (writ-controller --witness-cache-dir).
	// It must not be the reconciler's: the witness fetches and checks out on its own.
	CacheDir string
	// Index receives what each Sync's verified commits declare; the guard's checks read it
	// through the Feed.
	Index *witness.Index
	// Metrics, when set, records the writ_witness_* metrics (NewMetrics).
	Metrics *Metrics
	// MaxConcurrentFetches bounds how many GitSources are fetched, verified and rendered at once
	// (default 4).
	MaxConcurrentFetches int
	// CatchUpTimeout bounds how long a Check that would deny waits for the feed to catch up with a
	// commit the GitSource's status says was verified and the index does not hold yet (default
	// 4 s; keep it well inside the webhook's timeoutSeconds).
	CatchUpTimeout time.Duration
	// CatchUpInterval is how long a GitSource is not caught up again for the same status hint
	// (default 10 s): a denied write, repeated, fetches at most once per interval.
	CatchUpInterval time.Duration
	// TrustedMutators are the mutating admission objects the witness trusts by name, whatever
	// they hold (ParseTrustedMutator: MutatingWebhookConfiguration/NAME, MutatingAdmissionPolicy/NAME
	// and so its bindings): those Git does not manage, such as a cloud provider's. Every other
	// mutating admission object must be what a verified commit declares, or no write of the
	// agent's is admitted while it exists (see mutators.go).
	TrustedMutators []witness.Key
}

// Feed is the witness's loop and what the guard asks: Check and Witnessed, CheckUnsealed and
// Unsealer. Build it with New and register it with SetupWithManager.
type Feed struct {
	index *witness.Index
	notes *notes
	ids   *identities
	loop  *sourceLoop
	catch *catchUp
	mut   *mutators

	unsealer string // writ-controller's user name
}

// New returns a Feed for o; it runs once registered with a manager (SetupWithManager).
func New(o Options) (*Feed, error) {
	switch {
	case o.Index == nil:
		return nil, errors.New("witness feed: no Index to publish into")
	case o.Namespace == "":
		return nil, errors.New("witness feed: Writ's namespace is required (its reconciler's service account is witnessed)")
	case o.CacheDir == "":
		return nil, errors.New("witness feed: a cache directory is required (--witness-cache-dir)")
	}
	workers := o.MaxConcurrentFetches
	if workers <= 0 {
		workers = 4
	}
	n := &notes{}
	loop := &sourceLoop{cache: source.NewCache(o.CacheDir), index: o.Index, notes: n, metrics: o.Metrics, workers: workers}
	return &Feed{
		index: o.Index,
		notes: n,
		ids:   newIdentities("system:serviceaccount:" + o.Namespace + ":" + wellknown.ReconcilerServiceAccount),
		loop:  loop,
		catch: newCatchUp(loop, o.CatchUpTimeout, o.CatchUpInterval),
		mut:   newMutators(o.Index, o.TrustedMutators, o.Metrics),

		unsealer: "system:serviceaccount:" + o.Namespace + ":" + wellknown.ControllerServiceAccount,
	}, nil
}

// SetupWithManager registers the feed's controllers with mgr: one for GitSources (woken by their
// events, their Syncs', their TrustPolicy's and their interval) and one keeping the witnessed
// identities. Both read through mgr's cache; the credential Secrets are read with mgr's API
// reader (uncached). They run on every replica, leader or not: each webhook pod judges reviews
// with its own index.
func (f *Feed) SetupWithManager(mgr ctrl.Manager) error {
	f.loop.client, f.loop.secrets = mgr.GetClient(), mgr.GetAPIReader()
	if err := f.loop.setup(mgr); err != nil {
		return fmt.Errorf("witness feed: %w", err)
	}
	if err := f.ids.setup(mgr); err != nil {
		return fmt.Errorf("witness feed: %w", err)
	}
	if err := f.mut.setup(mgr); err != nil {
		return fmt.Errorf("witness feed: %w", err)
	}
	return nil
}

// Check judges a write by an identity Witnessed returned true for, against the index; a NotReady
// result says why the Sync has no index (Result.Why). A write the index denies while a relevant
// GitSource's status names a verified commit the index does not hold makes the feed catch up with
// it first (its own fetch and verification, bounded, at most once per interval and hint), then
// judges the write once more; if that fails, the denial stands. A write the index admits is denied
// still (UnaccountedMutator) while a mutating admission object exists that the witness cannot
// account for (mutators.go). An allowed write costs one lookup and two atomic loads, and
// allocates nothing.
func (f *Feed) Check(w witness.Write) witness.Result {
	r := f.index.Check(w)
	if mayChange(r) && f.catch.catchUp(w.Sync) {
		r = f.index.Check(w)
	}
	r = f.mut.vet(r, f.catch.catchUp)
	if r.Reason == witness.NotReady {
		r.Why = f.notes.why(r.Sync)
	}
	return r
}

// CheckUnsealed judges a Secret written by Writ's unsealer against the SealedSecret an indexed
// commit declares (witness.Index.CheckUnsealed); a NotReady result says why, and a denial waits
// for a catch-up, as Check's do.
func (f *Feed) CheckUnsealed(w witness.Write) witness.Result {
	r := f.index.CheckUnsealed(w)
	if mayChange(r) && f.catch.catchUp(w.Sync) {
		r = f.index.CheckUnsealed(w)
	}
	r = f.mut.vet(r, f.catch.catchUp)
	if r.Reason == witness.NotReady {
		r.Why = f.notes.why(r.Sync)
	}
	return r
}

// DeclaredValue is the value the declaration r was judged against holds at r.Path, for a
// denial's message; never a Secret's (witness.Index.DeclaredValue).
func (f *Feed) DeclaredValue(r witness.Result) (string, bool) { return f.index.DeclaredValue(r) }

// Witnessed reports whether user is an identity of Writ's own agent whose writes the witness
// judges: Writ's reconciler's service account and every service account a Sync names in
// spec.serviceAccountName (system:serviceaccount:<the Sync's namespace>:<name>). It neither locks
// nor allocates.
func (f *Feed) Witnessed(user string) bool { return f.ids.has(user) }

// Unsealer reports whether user is writ-controller's service account in Writ's namespace, which
// unseals SealedSecrets into Secrets. It neither locks nor allocates.
func (f *Feed) Unsealer(user string) bool { return user == f.unsealer }

// Ready reports whether sync has an index (a verified commit of it is published).
func (f *Feed) Ready(sync types.NamespacedName) bool { return f.index.Ready(sync) }

// ReadyCheck is a readiness check (healthz.Checker) that fails until the witnessed identities have
// been built from the synced cache (before that Witnessed knows only the reconciler's own account,
// and a write impersonating a Sync's account would not be judged), and the mutating admission
// objects listed (before that every agent write is denied as UnaccountedMutator).
func (f *Feed) ReadyCheck(*http.Request) error {
	if !f.ids.built() {
		return errors.New("the witness has not yet read the Syncs it judges the service accounts of")
	}
	if !f.mut.ready() {
		return errors.New("the witness has not yet listed the cluster's mutating admission objects")
	}
	return nil
}

// objectKey is a Sync's or GitSource's key.
func objectKey(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }
