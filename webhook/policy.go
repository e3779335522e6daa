package webhook

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Tracking markers: an object carrying one is managed by a GitOps agent wherever it lives.
const (
	// WritManagedLabel is set by Writ's reconciler on everything it applies.
	WritManagedLabel = "writ.dev/managed"
	// WritSourceAnnotation names the repository and path an object comes from.
	WritSourceAnnotation = "writ.dev/source"
)

var trackingLabels = []string{
	WritManagedLabel,
	"app.kubernetes.io/instance", // Argo CD's default label tracking
	"kustomize.toolkit.fluxcd.io/name",
	"kustomize.toolkit.fluxcd.io/namespace",
	"helm.toolkit.fluxcd.io/name",
	"helm.toolkit.fluxcd.io/namespace",
}

var trackingAnnotations = []string{"argocd.argoproj.io/tracking-id"}

// Tracked reports whether metadata carries a GitOps tracking marker.
func (m *ObjectMeta) Tracked() bool {
	if m == nil {
		return false
	}
	for _, l := range trackingLabels {
		if _, ok := m.Labels[l]; ok {
			return true
		}
	}
	for _, a := range trackingAnnotations {
		if _, ok := m.Annotations[a]; ok {
			return true
		}
	}
	return false
}

// Policy is a compiled GuardPolicy.
type Policy struct {
	Name          string
	Mode          guardv1.GuardMode
	nsNames       map[string]bool
	nsSelector    labels.Selector // nil: none
	resources     []guardv1.ResourceRule
	cluster       []guardv1.ResourceRule
	tracked       bool
	Agents        []guardv1.Subject
	exemptions    []guardv1.Exemption
	SourceOfTruth string
	breakGlass    guardv1.BreakGlassPolicy
	MaxBreakGlass time.Duration
}

// Compile validates a GuardPolicy and compiles it.
func Compile(gp *guardv1.GuardPolicy) (*Policy, error) {
	s := gp.Spec
	p := &Policy{Name: gp.Name, Mode: s.Mode, nsNames: map[string]bool{}, resources: s.Protect.Resources,
		cluster: s.Protect.ClusterResources, tracked: s.Protect.TrackedObjects == nil || *s.Protect.TrackedObjects,
		Agents: s.Agents, exemptions: s.Exemptions, SourceOfTruth: s.SourceOfTruth, breakGlass: s.BreakGlass, MaxBreakGlass: time.Hour}
	if p.Mode == "" {
		p.Mode = guardv1.Enforce
	}
	if p.Mode != guardv1.Enforce && p.Mode != guardv1.Warn {
		return nil, fmt.Errorf("guard policy %s: spec.mode %q: use Enforce or Warn", gp.Name, p.Mode)
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
		if err := validSubject(e.Subject); err != nil {
			return nil, fmt.Errorf("guard policy %s: spec.exemptions[%d].subject: %v", gp.Name, i, err)
		}
		for _, r := range e.Resources {
			for _, x := range append(append([]string{}, r.APIGroups...), r.Resources...) {
				if x == "*" {
					return nil, fmt.Errorf("guard policy %s: spec.exemptions[%d] (%s): name the resources; an exemption never takes a wildcard", gp.Name, i, e.Name)
				}
			}
		}
		if len(e.Operations) == 0 || len(e.Resources) == 0 {
			return nil, fmt.Errorf("guard policy %s: spec.exemptions[%d] (%s): list its operations and resources", gp.Name, i, e.Name)
		}
	}
	if d := s.BreakGlass.MaxDuration; d != nil {
		if d.Duration <= 0 || d.Duration > 24*time.Hour {
			return nil, fmt.Errorf("guard policy %s: spec.breakGlass.maxDuration %s: use a positive duration of at most 24h", gp.Name, d.Duration)
		}
		p.MaxBreakGlass = d.Duration
	}
	return p, nil
}

func validSubject(s guardv1.Subject) error {
	switch s.Kind {
	case guardv1.UserSubject, guardv1.GroupSubject:
		if s.Namespace != "" {
			return fmt.Errorf("a %s has no namespace", s.Kind)
		}
	case guardv1.ServiceAccountSubject:
		if s.Namespace == "" {
			return fmt.Errorf("service account %q needs its namespace", s.Name)
		}
	default:
		return fmt.Errorf("kind %q: use User, Group or ServiceAccount", s.Kind)
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
	case guardv1.GroupSubject:
		return r.InGroup(s.Name)
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
