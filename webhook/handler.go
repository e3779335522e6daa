package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Guard is the admission handler.
type Guard struct {
	// Reader reads GuardPolicies, BreakGlassRequests and Namespaces, and the owners exemptions
	// name (OwnerObjects), normally from the manager's cache.
	Reader client.Reader
	// Recorder receives every denial, warning and break-glass event; it never blocks.
	Recorder audit.Recorder
	// ExemptNamespaces are never guarded (kube-system, kube-public, kube-node-lease and Writ's
	// own namespace by default).
	ExemptNamespaces []string
	// Now is the clock (default time.Now).
	Now     func() time.Time
	Metrics *Metrics
	// Witness judges every write by an identity it Witnessed before the policy chain runs
	// (witness.go); nil: no witness, the agent's writes are decided by the chain alone.
	Witness Witness
	// WitnessMode is the witness's mode where neither the object's Sync nor a GuardPolicy that
	// protects the object sets one (the webhook's --witness-mode); empty means WitnessEnforce.
	WitnessMode guardv1.WitnessMode

	compiled    compileCache
	snapshots   snapshotCache
	annotations annotationCache
	namespaces  sync.Pool // of *corev1.Namespace, which namespace lookups read into
}

// DefaultExemptNamespaces are the namespaces the guard never intercepts.
var DefaultExemptNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

var _ admission.Handler = (*Guard)(nil)

// Handle decides one admission request.
func (g *Guard) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	r, err := toRequest(req)
	var d Decision
	var witnessed *Decision // the witness's warning, when it warns and the chain decides
	switch {
	case err != nil:
		d = Decision{Plugin: "decode", Reason: "Malformed", Message: fmt.Sprintf("writ cannot read this request (%v); the guard fails closed", err)}
	default:
		// Reads from a cache that cannot sync (the guard's RBAC missing a kind) would wait for
		// ever: bound them, and fail closed with a message, well within the apiserver's timeout.
		reads := g.reads(ctx)
		defer reads.deadline.stop()
		snap, serr := reads.snapshot(now())
		if serr == nil {
			witnessed = g.judge(r, reads, snap)
		}
		switch {
		case serr != nil:
			d = Decision{Plugin: "snapshot", Reason: "LookupFailed", Message: fmt.Sprintf("writ cannot read its policies (%v); the guard fails closed: retry shortly", serr)}
		case witnessed != nil && !witnessed.Allowed:
			d, witnessed = *witnessed, nil // the witness denies: the chain is not asked
		case r.Group == guardv1.GroupVersion.Group && r.Resource == "breakglassrequests":
			d = validateBreakGlass(req, r, snap)
		default:
			d = Decide(r, snap)
		}
	}
	resp := g.respond(ctx, r, &d, witnessed, now())
	if g.Metrics != nil {
		g.Metrics.observe(r.Operation, &d, time.Since(start))
	}
	return resp
}

// reads starts one review's reads, bounded by snapshotTimeout; stop its deadline when done.
func (g *Guard) reads(ctx context.Context) *requestReads {
	rr := &requestReads{g: g}
	rr.deadline.init(ctx, snapshotTimeout)
	return rr
}

// respond answers the apiserver, records what the decision's audit kind says and annotates the
// Kubernetes audit log. witnessed, if not nil, is the witness's warning about a write the chain
// then decided (d): it is recorded and shown too.
func (g *Guard) respond(ctx context.Context, r *Request, d *Decision, witnessed *Decision, now time.Time) admission.Response {
	var resp admission.Response
	switch {
	case !d.Allowed:
		resp = admission.Denied(d.Message)
		resp.Result.Code = http.StatusForbidden
	case d.Warn:
		resp = admission.Allowed("").WithWarnings(d.Message)
	default:
		resp = admission.Allowed("")
	}
	if witnessed != nil {
		resp = resp.WithWarnings(witnessed.Message)
		g.record(ctx, r, witnessed, witnessed.auditKind(), now)
	}
	if kind := d.auditKind(); kind != "" {
		g.record(ctx, r, d, kind, now)
	} else if d.Allowed && g.remembersWrite(r, d) {
		g.record(ctx, r, d, audit.MutationAllowed, now)
	}
	resp.AuditAnnotations = g.annotations.of(d)
	return resp
}

func (g *Guard) record(ctx context.Context, r *Request, d *Decision, kind audit.Kind, now time.Time) {
	if g.Recorder == nil || r == nil {
		return
	}
	e := audit.Event{
		Kind: kind, Time: now.UTC(),
		Actor:     audit.Actor{User: r.User, Groups: r.Groups},
		Object:    audit.ObjectRef{Group: r.Group, Version: r.Version, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Subresource: r.Subresource},
		Operation: r.Operation, Policy: d.Policy, BreakGlass: d.BreakGlass, Reason: d.Reason, Commit: d.Commit,
	}
	if d.Field != "" {
		e.Fields = []string{d.Field}
	}
	if kind == audit.UnverifiedAgentWrite {
		e.Policy = string(d.WitnessMode) // Enforce: denied; Warn: allowed with a warning
	}
	if ns, name, ok := r.ServiceAccount(); ok {
		e.Actor.ServiceAccount = ns + "/" + name
	}
	if kind == audit.BreakGlassRequested {
		e.Reason = d.Message // the justification
	}
	switch kind {
	case audit.MutationAllowed, audit.MutationWarned, audit.BreakGlassUsed, audit.MutationDenied:
		// Who wrote which version of the object, never its contents: what a drift record's
		// SinceResourceVersion is joined with.
		e.Object.UID, e.Manager = r.written().UID(), r.FieldManager()
		if r.Old != nil {
			e.ResourceVersion = r.Old.ResourceVersion()
		}
		if kind == audit.MutationAllowed && d.Exemption != "" {
			e.Reason = d.Reason + ": exemption " + d.Exemption
		}
	}
	g.Recorder.Record(ctx, e)
}

// remembersWrite reports whether the guard records an allowed write that no other record
// covers (MutationAllowed): a CREATE, UPDATE or DELETE, not a dry run and not of status, of an
// object a Sync tracks, by an identity other than the agent, the witness's or the unsealer's.
// Those writes are the ones a drift can come from. Without a witness, the guard cannot tell
// Writ's agent where no policy protects the object, so it records only what an exemption
// allowed.
func (g *Guard) remembersWrite(r *Request, d *Decision) bool {
	switch r.Operation {
	case "CREATE", "UPDATE", "DELETE":
	default:
		return false
	}
	if r.DryRun || r.Subresource == "status" || d.Plugin == "agent" || !r.Tracked() {
		return false
	}
	if g.Witness == nil {
		return d.Plugin == "exemption"
	}
	return !g.Witness.Witnessed(r.User) && !g.unsealerWrite(r)
}

// InvalidateOn makes the guard keep its compiled policies and grants between requests instead
// of listing them on every request, and drop them whenever a GuardPolicy or BreakGlassRequest
// changes in informers, the cache g.Reader reads from. A change reaches the informer's store
// before its handlers run, so the first request after a change sees it.
func (g *Guard) InvalidateOn(ctx context.Context, informers cache.Informers) error {
	return g.snapshots.invalidateOn(ctx, informers)
}

// KeepSnapshot makes the guard keep its compiled policies and grants between requests until
// Invalidate is called. Whoever calls it must call Invalidate on every change to a GuardPolicy or
// BreakGlassRequest; InvalidateOn does both with an informer cache.
func (g *Guard) KeepSnapshot() { g.snapshots.keep.Store(true) }

// Invalidate drops the kept policies and grants: the next request reads them afresh.
func (g *Guard) Invalidate() { g.snapshots.invalidate() }
