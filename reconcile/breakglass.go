package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/breakglass"
)

// Break-glass pauses healing: a drift of an object in the scope of a grant in force (an
// approved, unexpired BreakGlassRequest, the rule of package webhook/breakglass) is recorded as
// DriftDetected with the grant's id and left in place (Drifted True, reason BreakGlass) until the
// grant ends; the sync is requeued at its end and woken when the request changes or is deleted
// (a revocation). Once the grant ends the drift is healed (BreakGlassExpired, then DriftHealed
// with the grant's id), unless the object matches Git by then (Git adopted the values:
// DriftHealed "adopted by commit X"). Grants that cannot be read fail closed: the drift is
// healed as if none were in force.

// grantReadTimeout bounds the read of the grants in force, so a missing informer (RBAC) cannot
// hang a drift check: the check then heals.
const grantReadTimeout = 5 * time.Second

// hold is a drift left in place under a grant.
type hold struct {
	grant  string
	until  time.Time
	commit string // the commit the drift was found against
	drift  apply.Drift
}

// holdLog remembers, per sync, the drifts left in place, by object.
type holdLog struct {
	mu     sync.Mutex
	bySync map[types.NamespacedName]map[string]hold // entry ID -> hold
}

// set makes held the holds of the sync named key and returns those it had that held does not.
func (l *holdLog) set(key types.NamespacedName, held map[string]hold) []hold {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ended []hold
	for id, h := range l.bySync[key] {
		if _, ok := held[id]; !ok {
			ended = append(ended, h)
		}
	}
	slices.SortFunc(ended, func(a, b hold) int { return strings.Compare(a.drift.ID(), b.drift.ID()) })
	if len(held) == 0 {
		delete(l.bySync, key)
		return ended
	}
	if l.bySync == nil {
		l.bySync = map[types.NamespacedName]map[string]hold{}
	}
	l.bySync[key] = held
	return ended
}

// holding reports whether the sync named key leaves a drift in place.
func (l *holdLog) holding(key types.NamespacedName) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bySync[key]) > 0
}

// syncsUnder returns the syncs leaving a drift in place under the grant named grant.
func (l *holdLog) syncsUnder(grant string) []types.NamespacedName {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []types.NamespacedName
	for key, held := range l.bySync {
		for _, h := range held {
			if h.grant == grant {
				out = append(out, key)
				break
			}
		}
	}
	return out
}

// syncsUnderRequest maps a BreakGlassRequest to the syncs holding a drift under it: its change or
// deletion (a revocation) has them look again at once.
func (r *SyncReconciler) syncsUnderRequest(_ context.Context, o client.Object) []ctrlreconcile.Request {
	var out []ctrlreconcile.Request
	for _, key := range r.holds.syncsUnder(o.GetName()) {
		out = append(out, ctrlreconcile.Request{NamespacedName: key})
	}
	return out
}

// grantsInForce reads the BreakGlassRequests (through the manager's cache) and returns the grants
// in force now.
func (r *SyncReconciler) grantsInForce(ctx context.Context) ([]breakglass.Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, grantReadTimeout)
	defer cancel()
	var list guardv1.BreakGlassRequestList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing BreakGlassRequests: %w", err)
	}
	grants, _ := breakglass.InForce(list.Items, r.now())
	return grants, nil
}

// holdUnderGrants splits what a drift check of a sync in Heal mode found: drifts of objects a
// grant in force covers are left in place (run.held), the others stay in run.drifts to be
// healed. It returns the holds that ended since the last check (run.ended), with the grants in
// force (to tell an ended grant from a drift that went away). Without drifts or holds it reads
// nothing. A failed read of the grants is logged and heals everything.
func (r *SyncReconciler) holdUnderGrants(ctx context.Context, run *syncRun) []breakglass.Grant {
	key := client.ObjectKeyFromObject(run.s)
	if len(run.drifts) == 0 && !r.holds.holding(key) {
		return nil
	}
	grants, err := r.grantsInForce(ctx)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "reading break-glass grants: healing drift as if no grant were in force; check the reconciler's RBAC (list, watch breakglassrequests.writ.dev)")
		grants = nil
	}
	held := map[string]hold{}
	var heal []apply.Drift
	for _, d := range run.drifts {
		if g := r.grantCovering(grants, d); g != nil {
			held[d.ID()] = hold{grant: g.ID, until: g.Until, commit: run.commit, drift: d}
			continue
		}
		heal = append(heal, d)
	}
	run.drifts = heal
	for _, h := range held {
		run.held = append(run.held, h)
	}
	slices.SortFunc(run.held, func(a, b hold) int { return strings.Compare(a.drift.ID(), b.drift.ID()) })
	run.ended = r.holds.set(key, held)
	return grants
}

// grantCovering returns the grant in force whose scope covers the drifted object, or nil. An
// object whose resource the RESTMapper cannot name is covered by none.
func (r *SyncReconciler) grantCovering(grants []breakglass.Grant, d apply.Drift) *breakglass.Grant {
	if len(grants) == 0 {
		return nil
	}
	m, err := r.Client.RESTMapper().RESTMapping(schema.GroupKind{Group: d.Group, Kind: d.Kind}, d.Version)
	if err != nil {
		return nil
	}
	o := breakglass.Object{Group: d.Group, Resource: m.Resource.Resource, Namespace: d.Namespace, Name: d.Name}
	for i := range grants {
		if grants[i].Covers(o) {
			return &grants[i]
		}
	}
	return nil
}

// recordEnded records how each hold that ended did: a grant no longer in force is
// BreakGlassExpired (the drift, still there, is healed next and recorded DriftHealed with the
// grant's id by apply); a drift gone while held (Git now declares the values, or someone put
// Git's back) is DriftHealed, "adopted by commit X" when the commit changed since.
func (r *SyncReconciler) recordEnded(ctx context.Context, run *syncRun, grants []breakglass.Grant) {
	s := run.s
	drifting := map[string]bool{}
	for _, d := range run.drifts {
		drifting[d.ID()] = true
	}
	for _, h := range run.ended {
		inForce := slices.ContainsFunc(grants, func(g breakglass.Grant) bool { return g.ID == h.grant })
		ref := audit.ObjectRef{Group: h.drift.Group, Version: h.drift.Version, Kind: h.drift.Kind, Namespace: h.drift.Namespace, Name: h.drift.Name}
		if !inForce {
			r.record(ctx, audit.Event{Kind: audit.BreakGlassExpired, BreakGlass: h.grant, Object: ref, Commit: run.commit,
				Reason: fmt.Sprintf("sync %s/%s: break-glass request %s is no longer in force (expired or revoked): healing resumes", s.Namespace, s.Name, h.grant)})
		}
		if drifting[h.drift.ID()] {
			continue
		}
		how := "the object matches Git again at commit " + run.commit
		if h.commit != run.commit {
			how = "adopted by commit " + run.commit + ": Git now declares what the break-glass edit wrote"
		}
		r.record(ctx, audit.Event{Kind: audit.DriftHealed, BreakGlass: h.grant, Object: ref, Commit: run.commit, Fields: h.drift.Fields,
			Reason: fmt.Sprintf("sync %s/%s: %s", s.Namespace, s.Name, how)})
	}
}

// endedGrant is the grant an ended hold of the drifted object was under, or "".
func endedGrant(run *syncRun, d apply.Drift) string {
	for _, h := range run.ended {
		if h.drift.ID() == d.ID() {
			return h.grant
		}
	}
	return ""
}

// markHeld reports drifts left in place under break-glass: Drifted True, reason BreakGlass,
// naming each grant and when it ends.
func markHeld(s *reconcilev1.Sync, held []hold) {
	if len(held) == 0 {
		return
	}
	var parts []string
	for _, h := range held {
		parts = append(parts, fmt.Sprintf("%s under break-glass request %s until %s", describe([]apply.Drift{h.drift}), h.grant, h.until.UTC().Format(time.RFC3339)))
	}
	setCondition(&s.Status.Conditions, s.Generation, Drifted, true, "BreakGlass", "not healed while a break-glass grant is in force: "+strings.Join(parts, "; "))
}

// holdsEnd is when the first grant a held drift waits for ends (zero without holds).
func holdsEnd(held []hold) time.Time {
	var first time.Time
	for _, h := range held {
		if first.IsZero() || h.until.Before(first) {
			first = h.until
		}
	}
	return first
}
