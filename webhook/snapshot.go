package webhook

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// cachedSnapshot is the part of a Snapshot that depends only on GuardPolicies and
// BreakGlassRequests, with the generation it was read at.
type cachedSnapshot struct {
	generation uint64
	snapshot   *Snapshot
}

// InvalidateOn makes the guard keep its compiled policies and grants between requests instead
// of listing them on every request, and drop them whenever a GuardPolicy or BreakGlassRequest
// changes in informers, the cache g.Reader reads from. A change reaches the informer's store
// before its handlers run, so the first request after a change sees it.
func (g *Guard) InvalidateOn(ctx context.Context, informers cache.Informers) error {
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { g.Invalidate() },
		UpdateFunc: func(any, any) { g.Invalidate() },
		DeleteFunc: func(any) { g.Invalidate() },
	}
	for _, obj := range []client.Object{&guardv1.GuardPolicy{}, &guardv1.BreakGlassRequest{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("watching %T for the guard: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watching %T for the guard: %w", obj, err)
		}
	}
	g.KeepSnapshot()
	return nil
}

// KeepSnapshot makes the guard keep its compiled policies and grants between requests until
// Invalidate is called. Whoever calls it must call Invalidate on every change to a GuardPolicy or
// BreakGlassRequest; InvalidateOn does both with an informer cache.
func (g *Guard) KeepSnapshot() { g.keep.Store(true) }

// Invalidate drops the kept policies and grants: the next request reads them afresh.
func (g *Guard) Invalidate() { g.generation.Add(1) }
