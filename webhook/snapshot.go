package webhook

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Snapshot is what the guard knows when it decides: the compiled policies, namespace labels and
// approved break-glass grants, and the time.
type Snapshot struct {
	Policies []*Policy
	// NamespaceLabels returns a namespace's labels; an error makes the guard deny.
	NamespaceLabels func(name string) (map[string]string, error)
	Grants          []Grant
	Now             time.Time
	// Exempt namespaces are never guarded (kube-system, kube-public, kube-node-lease, Writ's
	// own): the apiserver's webhook configuration skips them too.
	ExemptNamespaces map[string]bool
	// Owners reads the owners exemptions with ownedBy name (OwnerObjects' kinds) from the guard's
	// cache; nil: the guard reads none, and such exemptions allow nothing.
	Owners OwnerReader
}

// ordered returns the policies that protect the request directly first, so a denial names the
// policy that protects the object's namespace or kind rather than one that only sees its
// tracking marker. Lookup errors surface when Decide asks again. The result is appended to buf
// (a caller's array, so that deciding allocates nothing for it).
func (s *Snapshot) ordered(r *Request, buf []*Policy) []*Policy {
	if len(s.Policies) < 2 {
		return s.Policies
	}
	out := buf
	var direct uint64 // bit i: s.Policies[i] protects directly (only the first 64 are put first)
	for i, p := range s.Policies[:min(len(s.Policies), 64)] {
		if ok, _ := p.protectsDirectly(r, s); ok {
			out = append(out, p)
			direct |= 1 << i
		}
	}
	for i, p := range s.Policies {
		if i >= 64 || direct&(1<<i) == 0 {
			out = append(out, p)
		}
	}
	return out
}

// snapshotCache keeps the part of a Snapshot that depends only on GuardPolicies and
// BreakGlassRequests between requests, once kept (keep), until the next change (generation).
type snapshotCache struct {
	keep       atomic.Bool
	generation atomic.Uint64
	cached     atomic.Pointer[cachedSnapshot]
}

// cachedSnapshot is a kept Snapshot with the generation it was read at.
type cachedSnapshot struct {
	generation uint64
	snapshot   *Snapshot
}

// load returns the kept snapshot if it is current, and the generation a snapshot read now must
// be stored under: the one before the listing, so that a change during it makes what was read
// stale at once.
func (c *snapshotCache) load() (*Snapshot, uint64) {
	gen := c.generation.Load()
	if c.keep.Load() {
		if k := c.cached.Load(); k != nil && k.generation == gen {
			return k.snapshot, gen
		}
	}
	return nil, gen
}

// store keeps s, read at generation gen, if snapshots are kept.
func (c *snapshotCache) store(gen uint64, s *Snapshot) {
	if c.keep.Load() {
		c.cached.Store(&cachedSnapshot{generation: gen, snapshot: s})
	}
}

// invalidate makes the kept snapshot stale.
func (c *snapshotCache) invalidate() { c.generation.Add(1) }

// invalidateOn keeps snapshots and invalidates them on every change of a GuardPolicy or
// BreakGlassRequest in informers (see Guard.InvalidateOn).
func (c *snapshotCache) invalidateOn(ctx context.Context, informers cache.Informers) error {
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.invalidate() },
		UpdateFunc: func(any, any) { c.invalidate() },
		DeleteFunc: func(any) { c.invalidate() },
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
	c.keep.Store(true)
	return nil
}
