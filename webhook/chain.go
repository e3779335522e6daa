package webhook

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
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

// OwnerReader reads an object of one of OwnerObjects' kinds into obj, which the caller only
// reads.
type OwnerReader interface {
	GetOwner(namespace, name string, obj client.Object) error
}

// OwnerReaderFunc is a function as an OwnerReader.
type OwnerReaderFunc func(namespace, name string, obj client.Object) error

// GetOwner calls f.
func (f OwnerReaderFunc) GetOwner(namespace, name string, obj client.Object) error {
	return f(namespace, name, obj)
}

// Grant is an approved break-glass request.
type Grant struct {
	ID        string
	Requester string
	Scope     guardv1.BreakGlassScope
	Expires   time.Time
}

// Verdict is a plugin's answer.
type Verdict int

const (
	Abstain Verdict = iota
	Allow
	Deny
)

// Decision is the guard's answer for one request.
type Decision struct {
	Allowed bool
	// Warn is set when a Warn-mode policy would have denied: allowed, with a warning.
	Warn bool
	// Policy and Plugin say who decided; Reason is a short code for metrics and audit.
	Policy, Plugin, Reason string
	// Message is what the client sees.
	Message string
	// BreakGlass is the grant that allowed the request.
	BreakGlass string
}

// plugin decides one aspect for one policy that protects the request. Its answer is a verdict
// and what decided (the exemption's name, the grant's id); abstaining it may say why, and a
// lookup error makes the guard deny.
type plugin struct {
	name   string
	decide func(p *Policy, r *Request, s *Snapshot) (Verdict, string, error)
}

// perPolicy is the chain applied under each policy protecting a request; the first plugin that
// does not abstain decides for that policy, and a request no plugin allows is denied (or warned).
var perPolicy = []plugin{
	{"agent", func(p *Policy, r *Request, _ *Snapshot) (Verdict, string, error) {
		for _, a := range p.Agents {
			if matches(a, r) {
				return Allow, "agent", nil
			}
		}
		return Abstain, "", nil
	}},
	{"exemption", func(p *Policy, r *Request, s *Snapshot) (Verdict, string, error) {
		why := ""
		for _, e := range p.exemptions {
			if !e.covers(r) {
				continue
			}
			not, err := e.narrowed(p, r, s)
			if err != nil {
				return Deny, "", err
			}
			if not == "" {
				return Allow, e.Name, nil
			}
			if why == "" {
				why = fmt.Sprintf("exemption %q does not cover this: %s", e.Name, not)
			}
		}
		return Abstain, why, nil
	}},
	{"breakglass", func(p *Policy, r *Request, s *Snapshot) (Verdict, string, error) {
		for _, g := range s.Grants {
			if g.Requester != r.User || !inScope(g.Scope, r) {
				continue
			}
			if !s.Now.Before(g.Expires) {
				continue // expired: no longer a grant, but a newer one may be
			}
			return Allow, g.ID, nil
		}
		return Abstain, "", nil
	}},
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func subresourceAllowed(allowed []string, sub string) bool {
	if len(allowed) == 0 {
		return sub == ""
	}
	return containsExact(allowed, sub)
}

// inScope reports whether a grant's scope covers the request: a namespaced object in a listed
// namespace (and resource and name, if listed), or a cluster-scoped object (a Namespace too)
// listed by name; never RBAC, admission configuration or Writ's own kinds.
func inScope(sc guardv1.BreakGlassScope, r *Request) bool {
	if NeverInBreakGlassScope(r.Group, r.Resource) {
		return false
	}
	if r.Namespace == "" || (r.Group == "" && r.Resource == "namespaces") {
		for _, c := range sc.ClusterResources {
			if c.APIGroup == r.Group && c.Resource == r.Resource && containsExact(c.Names, r.Name) && !neverNamed(r.Group, r.Resource, r.Name) {
				return true
			}
		}
		return false
	}
	if !containsExact(sc.Namespaces, r.Namespace) {
		return false
	}
	if len(sc.Resources) > 0 && !ruleMatches(sc.Resources, r.Group, r.Resource) {
		return false
	}
	return len(sc.Names) == 0 || containsExact(sc.Names, r.Name)
}

// protects reports whether p protects the request, looking at the object before and after: an
// edit that removes a tracking marker or moves an object (or a namespace) out of protection is
// itself protected.
func (p *Policy) protects(r *Request, s *Snapshot) (bool, error) {
	direct, err := p.protectsDirectly(r, s)
	if direct || err != nil {
		return direct, err
	}
	return p.tracked && (p.tracks(r.Old) || p.tracks(r.New)), nil
}

// protectsDirectly reports protection by namespace or resource rule, not by a tracking marker.
func (p *Policy) protectsDirectly(r *Request, s *Snapshot) (bool, error) {
	// The apiserver sends a Namespace's own requests with namespace == name.
	if r.Group == "" && r.Resource == "namespaces" && (r.Namespace == "" || r.Namespace == r.Name) {
		// The namespace object itself: protected if it is (or was, or would be) a protected
		// namespace.
		for _, m := range []*ObjectMeta{r.Old, r.New} {
			if m != nil && p.namespaceProtected(r.Name, m.Labels) {
				return true, nil
			}
		}
		if r.Operation == "DELETE" || r.Operation == "UPDATE" {
			lbls, err := s.NamespaceLabels(r.Name)
			if err != nil {
				return false, err
			}
			if lbls != nil && p.namespaceProtected(r.Name, lbls) {
				return true, nil
			}
		}
	}
	if r.Namespace == "" {
		return ruleMatches(p.cluster, r.Group, r.Resource), nil
	}
	lbls, err := s.NamespaceLabels(r.Namespace)
	if err != nil {
		return false, err
	}
	if !p.namespaceProtected(r.Namespace, lbls) {
		return false, nil
	}
	return len(p.resources) == 0 || ruleMatches(p.resources, r.Group, r.Resource), nil
}

func (p *Policy) namespaceProtected(name string, lbls map[string]string) bool {
	if p.nsNames[name] {
		return true
	}
	return p.nsSelector != nil && !p.nsSelector.Empty() && p.nsSelector.Matches(labels.Set(lbls))
}

// Decide runs the chain for r.
func Decide(r *Request, s *Snapshot) Decision {
	if s.ExemptNamespaces[r.Namespace] || (r.Resource == "namespaces" && r.Group == "" && s.ExemptNamespaces[r.Name]) {
		return Decision{Allowed: true, Plugin: "exempt-namespace", Reason: "ExemptNamespace"}
	}
	var warn Decision
	warned := false
	allowedBy := Decision{Allowed: true, Plugin: "unprotected", Reason: "Unprotected"}
	var buf [8]*Policy
	for _, p := range s.ordered(r, buf[:0]) {
		protected, err := p.protects(r, s)
		if err != nil {
			return Decision{Policy: p.Name, Plugin: "protect", Reason: "LookupFailed",
				Message: fmt.Sprintf("writ cannot decide on %s (%v); the guard fails closed: retry, or ask an administrator", r.Ref(), err)}
		}
		if !protected {
			continue
		}
		d := decideUnder(p, r, s)
		switch {
		case d.Allowed:
			if allowedBy.Plugin == "unprotected" || d.BreakGlass != "" {
				allowedBy = d
			}
		case p.Mode == guardv1.Warn:
			d.Allowed, d.Warn = true, true
			if !warned {
				warn, warned = d, true
			}
		default:
			return d
		}
	}
	if warned {
		return warn
	}
	return allowedBy
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

func decideUnder(p *Policy, r *Request, s *Snapshot) Decision {
	note := ""
	for _, pl := range perPolicy {
		v, why, err := pl.decide(p, r, s)
		if err != nil {
			return Decision{Policy: p.Name, Plugin: pl.name, Reason: "LookupFailed",
				Message: fmt.Sprintf("writ cannot decide on %s (%v); the guard fails closed: retry, or ask an administrator", r.Ref(), err)}
		}
		switch {
		case v == Allow && pl.name == "breakglass":
			return Decision{Allowed: true, Policy: p.Name, Plugin: pl.name, Reason: "BreakGlass", BreakGlass: why}
		case v == Allow && pl.name == "exemption":
			return Decision{Allowed: true, Policy: p.Name, Plugin: pl.name, Reason: "Exempt"}
		case v == Allow:
			return Decision{Allowed: true, Policy: p.Name, Plugin: pl.name, Reason: "Allowed"}
		case note == "":
			note = why
		}
	}
	return Decision{Policy: p.Name, Plugin: "guard", Reason: "NotAgent", Message: denialMessage(p, r, s, note)}
}

// denialMessage tells a person who they are, what was denied, which policy, where the source of
// truth lives and how to get emergency access.
func denialMessage(p *Policy, r *Request, s *Snapshot, note string) string {
	var b strings.Builder
	b.Grow(512) // the message with a source and break-glass instructions, in one allocation
	fmt.Fprintf(&b, "writ: %s of %s by %q denied by GuardPolicy %q: only the GitOps agent may change it", strings.ToLower(r.Operation), r.Ref(), r.User, p.Name)
	if note != "" {
		fmt.Fprintf(&b, " (%s)", note)
	}
	b.WriteByte('.')
	src := p.SourceOfTruth
	for _, m := range []*ObjectMeta{r.Old, r.New} {
		if m != nil && m.Annotations[wellknown.SourceAnnotation] != "" {
			src = m.Annotations[wellknown.SourceAnnotation]
		}
	}
	if src != "" {
		fmt.Fprintf(&b, " Change it in Git: %s.", src)
	} else {
		b.WriteString(" Change it in Git.")
	}
	for _, g := range s.Grants {
		if g.Requester == r.User && inScope(g.Scope, r) && !s.Now.Before(g.Expires) {
			fmt.Fprintf(&b, " Your break-glass request %q expired at %s.", g.ID, g.Expires.UTC().Format(time.RFC3339))
		}
	}
	if len(p.breakGlass.RequesterGroups) > 0 {
		fmt.Fprintf(&b, " In an emergency, a member of %s can create a BreakGlassRequest (kubectl create -f request.yaml) for a member of %s to approve.",
			strings.Join(p.breakGlass.RequesterGroups, " or "), strings.Join(p.breakGlass.ApproverGroups, " or "))
	}
	return b.String()
}
