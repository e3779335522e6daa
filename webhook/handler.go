package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
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

	mu       sync.Mutex
	compiled map[string]compiledPolicy // by policy name

	// The snapshot cache (see InvalidateOn).
	keep       atomic.Bool
	generation atomic.Uint64
	cached     atomic.Pointer[cachedSnapshot]
}

type compiledPolicy struct {
	version string
	policy  *Policy
	err     error
}

// snapshotTimeout bounds the guard's reads of policies, grants and namespaces per request (a
// variable for tests).
var snapshotTimeout = 5 * time.Second

// DefaultExemptNamespaces are the namespaces the guard never intercepts.
var DefaultExemptNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

var _ admission.Handler = (*Guard)(nil)

// Audit annotations the guard adds to the Kubernetes audit log.
const (
	AnnotationDecision   = "decision"
	AnnotationPolicy     = "policy"
	AnnotationReason     = "reason"
	AnnotationBreakGlass = "break-glass"
)

// Handle decides one admission request.
func (g *Guard) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	r, err := toRequest(req)
	var d Decision
	switch {
	case err != nil:
		d = Decision{Plugin: "decode", Reason: "Malformed", Message: fmt.Sprintf("writ cannot read this request (%v); the guard fails closed", err)}
	default:
		// Reads from a cache that cannot sync (the guard's RBAC missing a kind) would wait for
		// ever: bound them, and fail closed with a message, well within the apiserver's timeout.
		reads := g.reads(ctx)
		defer reads.deadline.stop()
		snap, serr := reads.snapshot(now())
		switch {
		case serr != nil:
			d = Decision{Plugin: "snapshot", Reason: "LookupFailed", Message: fmt.Sprintf("writ cannot read its policies (%v); the guard fails closed: retry shortly", serr)}
		case r.Group == guardv1.GroupVersion.Group && r.Resource == "breakglassrequests":
			d = g.validateBreakGlass(ctx, req, r, snap)
		default:
			d = Decide(r, snap)
		}
	}
	resp := g.respond(ctx, r, d, now())
	if g.Metrics != nil {
		g.Metrics.observe(r.Operation, d, time.Since(start))
	}
	return resp
}

func (g *Guard) respond(ctx context.Context, r *Request, d Decision, now time.Time) admission.Response {
	var resp admission.Response
	decision := "allowed"
	switch {
	case !d.Allowed:
		decision = "denied"
		resp = admission.Denied(d.Message)
		resp.Result.Code = http.StatusForbidden
		g.record(ctx, r, d, audit.MutationDenied, now)
	case d.Warn:
		decision = "warned"
		resp = admission.Allowed("").WithWarnings(d.Message)
		g.record(ctx, r, d, audit.MutationWarned, now)
	default:
		resp = admission.Allowed("")
		switch {
		case d.Reason == "BreakGlassRequested" || d.Reason == "BreakGlassApproved":
			// Creating or approving a request is not a use of it.
			g.record(ctx, r, d, audit.Kind(d.Reason), now)
		case d.BreakGlass != "":
			g.record(ctx, r, d, audit.BreakGlassUsed, now)
		}
	}
	resp.AuditAnnotations = auditAnnotations(decision, d)
	return resp
}

// annotationSets holds the audit annotations of every decision, reason and policy seen, shared by
// the responses that carry them (they are only read: encoded into the AdmissionReview).
var annotationSets sync.Map // annotationKey -> map[string]string

type annotationKey struct{ decision, reason, policy string }

// auditAnnotations returns the audit annotations of a decision.
func auditAnnotations(decision string, d Decision) map[string]string {
	key := annotationKey{decision, d.Reason, d.Policy}
	if d.BreakGlass == "" {
		if ann, ok := annotationSets.Load(key); ok {
			return ann.(map[string]string)
		}
	}
	ann := map[string]string{AnnotationDecision: decision, AnnotationReason: d.Reason}
	if d.Policy != "" {
		ann[AnnotationPolicy] = d.Policy
	}
	if d.BreakGlass != "" { // one per grant: not kept
		ann[AnnotationBreakGlass] = d.BreakGlass
		return ann
	}
	if annotationSetCount.Add(1) <= maxAnnotationSets {
		annotationSets.Store(key, ann)
	}
	return ann
}

// maxAnnotationSets bounds annotationSets: decisions, reasons and policies are few, but policies
// come and go with their names.
const maxAnnotationSets = 4096

var annotationSetCount atomic.Int64

func (g *Guard) record(ctx context.Context, r *Request, d Decision, kind audit.Kind, now time.Time) {
	if g.Recorder == nil || r == nil {
		return
	}
	e := audit.Event{
		Kind: kind, Time: now.UTC(),
		Actor:     audit.Actor{User: r.User, Groups: r.Groups},
		Object:    audit.ObjectRef{Group: r.Group, Version: r.Version, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Subresource: r.Subresource},
		Operation: r.Operation, Policy: d.Policy, BreakGlass: d.BreakGlass, Reason: d.Reason,
	}
	if ns, name, ok := r.ServiceAccount(); ok {
		e.Actor.ServiceAccount = ns + "/" + name
	}
	if kind == audit.BreakGlassRequested {
		e.Reason = d.Message // the justification
	}
	g.Recorder.Record(ctx, e)
}

// toRequest reduces an admission request to what the guard decides on.
func toRequest(req admission.Request) (*Request, error) {
	r := &Request{
		UID: string(req.UID), Operation: string(req.Operation),
		Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource, Subresource: req.SubResource,
		Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name,
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups,
	}
	if req.DryRun != nil {
		r.DryRun = *req.DryRun
	}
	if len(req.UserInfo.Extra) > 0 {
		r.Extra = map[string][]string{}
		for k, v := range req.UserInfo.Extra {
			r.Extra[k] = v
		}
	}
	if req.Operation == admissionv1.Connect {
		return r, nil // the object is the connect options, not the pod
	}
	r.Object, r.OldObject = req.Object.Raw, req.OldObject.Raw
	var err error
	allLabels := r.Group == "" && r.Resource == "namespaces"
	if r.New, err = meta(req.Object.Raw, allLabels); err != nil {
		return r, fmt.Errorf("object: %w", err)
	}
	if r.Old, err = meta(req.OldObject.Raw, allLabels); err != nil {
		return r, fmt.Errorf("old object: %w", err)
	}
	// A delete by collection reaches admission once per object without the object's name in
	// the request: take it from the object, so name-scoped decisions see it.
	if r.Name == "" && r.Old != nil {
		r.Name = r.Old.name
	}
	return r, nil
}

// requestReads is what one review reads: the snapshot, its namespace lookup (the same namespace
// is asked for once per policy: it is read once) and the deadline of the reads, in one allocation.
type requestReads struct {
	g        *Guard
	deadline lazyDeadline
	snap     Snapshot
	nsName   string
	nsLabels map[string]string
	nsRead   bool
}

// namespaces holds the Namespace structs the guard reads into: only their labels are kept.
var namespaces = sync.Pool{New: func() any { return &corev1.Namespace{} }}

// reads starts one review's reads, bounded by snapshotTimeout; stop its deadline when done.
func (g *Guard) reads(ctx context.Context) *requestReads {
	rr := &requestReads{g: g}
	rr.deadline.init(ctx, snapshotTimeout)
	return rr
}

// snapshot returns the policies, grants and the namespace lookup.
func (rr *requestReads) snapshot(now time.Time) (*Snapshot, error) {
	base, err := rr.g.policiesAndGrants(&rr.deadline, now)
	if err != nil {
		return nil, err
	}
	rr.snap = *base // the shared part is never modified: only this request's fields are set
	rr.snap.Now = now
	rr.snap.NamespaceLabels = rr.namespaceLabels
	rr.snap.Owners = rr
	return &rr.snap, nil
}

// GetOwner reads an owner from the cache, within the review's deadline. The object is the
// cache's own (no deep copy) and is only read.
func (rr *requestReads) GetOwner(namespace, name string, obj client.Object) error {
	return rr.g.Reader.Get(&rr.deadline, client.ObjectKey{Namespace: namespace, Name: name}, obj, client.UnsafeDisableDeepCopy)
}

func (rr *requestReads) namespaceLabels(name string) (map[string]string, error) {
	if rr.nsRead && rr.nsName == name {
		return rr.nsLabels, nil
	}
	ns := namespaces.Get().(*corev1.Namespace)
	defer func() { *ns = corev1.Namespace{}; namespaces.Put(ns) }()
	// Only the labels are read, and never modified: skip the cache's deep copy (the labels map
	// is the cache's own, and outlives ns).
	if err := rr.g.Reader.Get(&rr.deadline, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil // a namespace being created does not exist yet
		}
		return nil, err
	}
	rr.nsName, rr.nsLabels, rr.nsRead = name, ns.Labels, true
	return ns.Labels, nil
}

// policiesAndGrants returns the compiled policies, the grants and the exempt namespaces: the
// cached ones while no GuardPolicy or BreakGlassRequest has changed (see InvalidateOn), or read
// afresh.
func (g *Guard) policiesAndGrants(ctx context.Context, now time.Time) (*Snapshot, error) {
	gen := g.generation.Load()
	if g.keep.Load() {
		if c := g.cached.Load(); c != nil && c.generation == gen {
			return c.snapshot, nil
		}
	}
	s := &Snapshot{ExemptNamespaces: map[string]bool{}}
	exempt := g.ExemptNamespaces
	if exempt == nil {
		exempt = DefaultExemptNamespaces
	}
	for _, ns := range exempt {
		s.ExemptNamespaces[ns] = true
	}
	var gps guardv1.GuardPolicyList
	// The guard never modifies what it reads: skip the cache's deep copies on the hot path.
	if err := g.Reader.List(ctx, &gps, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing guard policies: %w", err)
	}
	for i := range gps.Items {
		p, err := g.compile(&gps.Items[i])
		if err != nil {
			return nil, err // an invalid policy fails closed rather than protecting nothing
		}
		s.Policies = append(s.Policies, p)
	}
	var bgrs guardv1.BreakGlassRequestList
	if err := g.Reader.List(ctx, &bgrs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing break-glass requests: %w", err)
	}
	for _, b := range bgrs.Items {
		// Grants that expired over a day ago are dropped; Decide checks every grant's expiry
		// against the request's time, so a cached snapshot never extends one.
		// A scope that would be refused today (stored before the guard checked scopes) grants
		// nothing.
		if b.Spec.ApprovedBy != "" && b.Spec.ApprovedAt != nil && now.Before(b.Spec.ApprovedAt.Add(b.Spec.Duration.Duration+24*time.Hour)) &&
			ValidateBreakGlassScope(b.Spec.Scope) == nil {
			s.Grants = append(s.Grants, Grant{ID: b.Name, Requester: b.Spec.Requester, Scope: b.Spec.Scope, Expires: b.Spec.ApprovedAt.Add(b.Spec.Duration.Duration)})
		}
	}
	if g.keep.Load() {
		// Stored under the generation read before listing: a change during the listing has
		// bumped the generation, so this snapshot is already stale and is rebuilt next time.
		g.cached.Store(&cachedSnapshot{generation: gen, snapshot: s})
	}
	return s, nil
}

func (g *Guard) compile(gp *guardv1.GuardPolicy) (*Policy, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.compiled == nil {
		g.compiled = map[string]compiledPolicy{}
	}
	version := string(gp.UID) + "/" + gp.ResourceVersion
	if c, ok := g.compiled[gp.Name]; ok && c.version == version {
		return c.policy, c.err
	}
	p, err := Compile(gp)
	g.compiled[gp.Name] = compiledPolicy{version: version, policy: p, err: err}
	return p, err
}
