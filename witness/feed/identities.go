package feed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
)

// identities is the set of users whose writes the witness judges: the reconciler's own service
// account, and the service accounts Syncs name, rebuilt from the cache whenever a Sync changes and
// swapped in whole, so that has reads it without a lock or an allocation.
type identities struct {
	reconciler string
	client     client.Reader
	cache      cache.Cache
	mu         sync.Mutex                          // serialises the rebuilds: the last one stored lists last
	set        atomic.Pointer[map[string]struct{}] // nil until built from a synced cache
}

func newIdentities(reconciler string) *identities { return &identities{reconciler: reconciler} }

// rebuild is the only request: every Sync event asks for the whole set again.
var rebuild = ctrlreconcile.Request{}

// setup registers the controller that rebuilds the set on every Sync creation, deletion and change
// of spec (not of status), and the identities
// themselves as a runnable that builds it once the cache has synced, even with no Sync at all.
func (i *identities) setup(mgr ctrl.Manager) error {
	i.client, i.cache = mgr.GetClient(), mgr.GetCache()
	if err := mgr.Add(i); err != nil {
		return err
	}
	no := false
	return ctrl.NewControllerManagedBy(mgr).Named("witness-identities").
		Watches(&reconcilev1.Sync{}, handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []ctrlreconcile.Request {
			return []ctrlreconcile.Request{rebuild}
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: &no}).
		Complete(i)
}

// Start builds the set once the cache holds every Sync (with none, no event would ever build it),
// and returns.
func (i *identities) Start(ctx context.Context) error {
	if _, err := i.cache.GetInformer(ctx, &reconcilev1.Sync{}); err != nil { // waits until synced
		return fmt.Errorf("watching Syncs for the witnessed identities: %w", err)
	}
	buildOnce(ctx, i)
	return nil
}

// buildOnce runs r's rebuild until it succeeds once (a second apart) or ctx ends: what a set
// built from the cache does once the cache has synced, before any event asks for it.
func buildOnce(ctx context.Context, r ctrlreconcile.Reconciler) {
	for {
		_, err := r.Reconcile(ctx, rebuild)
		if err == nil || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// NeedLeaderElection is false: every webhook replica judges reviews.
func (i *identities) NeedLeaderElection() bool { return false }

// Reconcile lists every Sync from the cache and swaps in the set of the accounts they name.
func (i *identities) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var list reconcilev1.SyncList
	if err := i.client.List(ctx, &list); err != nil {
		return ctrl.Result{}, err
	}
	set := make(map[string]struct{}, len(list.Items))
	for _, s := range list.Items {
		if s.Spec.ServiceAccountName != "" {
			set["system:serviceaccount:"+s.Namespace+":"+s.Spec.ServiceAccountName] = struct{}{}
		}
	}
	i.set.Store(&set)
	return ctrl.Result{}, nil
}

// has reports whether user is witnessed.
func (i *identities) has(user string) bool {
	if user == i.reconciler {
		return true
	}
	if set := i.set.Load(); set != nil {
		_, ok := (*set)[user]
		return ok
	}
	return false
}

// built reports whether the set has been read from the cache at least once.
func (i *identities) built() bool { return i.set.Load() != nil }
