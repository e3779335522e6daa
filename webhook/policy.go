package webhook

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// Policy is a compiled GuardPolicy. It is only read once compiled: the decisions it makes are
// compiled with it.
type Policy struct {
	Name string
	Mode guardv1.GuardMode
	// Witness is the policy's spec.witness: empty when it sets none.
	Witness       guardv1.WitnessMode
	nsNames       map[string]bool
	nsSelector    labels.Selector // nil: none
	resources     []guardv1.ResourceRule
	cluster       []guardv1.ResourceRule
	tracked       bool
	argoCDLabels  bool
	Agents        []guardv1.Subject
	exemptions    []*exemption
	SourceOfTruth string
	breakGlass    guardv1.BreakGlassPolicy
	MaxBreakGlass time.Duration
	// agentAllowed is the decision allowing an agent (byAgent's).
	agentAllowed Decision
}

// Compile validates a GuardPolicy and compiles it.
func Compile(gp *guardv1.GuardPolicy) (*Policy, error) {
	s := gp.Spec
	p := &Policy{Name: gp.Name, Mode: s.Mode, Witness: s.Witness, nsNames: map[string]bool{}, resources: s.Protect.Resources,
		cluster: s.Protect.ClusterResources, tracked: s.Protect.TrackedObjects == nil || *s.Protect.TrackedObjects,
		argoCDLabels: s.Protect.ArgoCDLabelTracking, Agents: s.Agents, SourceOfTruth: s.SourceOfTruth, breakGlass: s.BreakGlass, MaxBreakGlass: time.Hour}
	p.agentAllowed = Decision{Allowed: true, Policy: p.Name, Plugin: "agent", Reason: "Allowed"}
	if p.Mode == "" {
		p.Mode = guardv1.Enforce
	}
	if p.Mode != guardv1.Enforce && p.Mode != guardv1.Warn {
		return nil, fmt.Errorf("guard policy %s: spec.mode %q: use Enforce or Warn", gp.Name, p.Mode)
	}
	switch p.Witness {
	case "", guardv1.WitnessEnforce, guardv1.WitnessWarn, guardv1.WitnessOff:
	default:
		return nil, fmt.Errorf("guard policy %s: spec.witness %q: use Enforce, Warn or Off, or leave it unset", gp.Name, p.Witness)
	}
	for _, n := range s.Protect.Namespaces.Names {
		p.nsNames[n] = true
	}
	if sel := s.Protect.Namespaces.Selector; sel != nil {
		ls, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("guard policy %s: spec.protect.namespaces.selector: %v", gp.Name, err)
		}
		p.nsSelector = ls
	}
	for i, sub := range s.Agents {
		if err := validSubject(sub); err != nil {
			return nil, fmt.Errorf("guard policy %s: spec.agents[%d]: %v", gp.Name, i, err)
		}
	}
	for i, e := range s.Exemptions {
		x, err := compileExemption(e)
		if err != nil {
			return nil, fmt.Errorf("guard policy %s: spec.exemptions[%d] (%s): %v", gp.Name, i, e.Name, err)
		}
		x.allowed = Decision{Allowed: true, Policy: p.Name, Plugin: "exemption", Reason: "Exempt", Exemption: e.Name}
		p.exemptions = append(p.exemptions, x)
	}
	if d := s.BreakGlass.MaxDuration; d != nil {
		if d.Duration <= 0 || d.Duration > 24*time.Hour {
			return nil, fmt.Errorf("guard policy %s: spec.breakGlass.maxDuration %s: use a positive duration of at most 24h", gp.Name, d.Duration)
		}
		p.MaxBreakGlass = d.Duration
	}
	return p, nil
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

// Tracking markers: an object carrying one is managed by a GitOps agent wherever it lives.
var trackingLabels = []string{
	wellknown.ManagedLabel,
	"kustomize.toolkit.fluxcd.io/name",
	"kustomize.toolkit.fluxcd.io/namespace",
	"helm.toolkit.fluxcd.io/name",
	"helm.toolkit.fluxcd.io/namespace",
}

// ArgoCDInstanceLabel is Argo CD's legacy label tracking, a marker only under a policy with
// argoCDLabelTracking: every Helm chart sets it too.
const ArgoCDInstanceLabel = "app.kubernetes.io/instance"

var trackingAnnotations = []string{"argocd.argoproj.io/tracking-id"}

// tracks reports whether metadata carries a tracking marker the policy counts.
func (p *Policy) tracks(m *ObjectMeta) bool {
	if m == nil {
		return false
	}
	return p.tracksMeta(m.Labels, m.Annotations)
}

func (p *Policy) tracksMeta(labels, annotations map[string]string) bool {
	for _, l := range trackingLabels {
		if _, ok := labels[l]; ok {
			return true
		}
	}
	if _, ok := labels[ArgoCDInstanceLabel]; ok && p.argoCDLabels {
		return true
	}
	for _, a := range trackingAnnotations {
		if _, ok := annotations[a]; ok {
			return true
		}
	}
	return false
}

func validSubject(s guardv1.Subject) error {
	switch s.Kind {
	case guardv1.UserSubject:
		if s.Namespace != "" {
			return fmt.Errorf("a user has no namespace")
		}
	case guardv1.NodeSubject:
		if s.Namespace != "" {
			return fmt.Errorf("a node has no namespace")
		}
		if s.Name == "*" {
			return nil // every kubelet: system:node:<name> in group system:nodes
		}
	case guardv1.ServiceAccountSubject:
		if s.Namespace == "" {
			return fmt.Errorf("service account %q needs its namespace", s.Name)
		}
	case "Group":
		return fmt.Errorf("kind Group: a group is not an identity (anyone allowed to impersonate can claim any group); name the User or ServiceAccount, or use kind Node for kubelets")
	default:
		return fmt.Errorf("kind %q: use User, ServiceAccount or Node", s.Kind)
	}
	if s.Name == "" || s.Name != trimmed(s.Name) || s.Name == "*" {
		return fmt.Errorf("name %q must be exact (no spaces around it, no wildcard)", s.Name)
	}
	return nil
}

func trimmed(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// matches reports whether the request's identity is subject s, exactly.
func matches(s guardv1.Subject, r *Request) bool {
	switch s.Kind {
	case guardv1.UserSubject:
		return r.User == s.Name
	case guardv1.NodeSubject:
		node, ok := r.Node()
		return ok && (s.Name == "*" || s.Name == node)
	case guardv1.ServiceAccountSubject:
		ns, name, ok := r.ServiceAccount()
		return ok && ns == s.Namespace && name == s.Name
	}
	return false
}

func ruleMatches(rules []guardv1.ResourceRule, group, resource string) bool {
	for _, r := range rules {
		if contains(r.APIGroups, group) && contains(r.Resources, resource) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s || x == "*" {
			return true
		}
	}
	return false
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
