package breakglass

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Object names what a grant's scope is asked about: an object by API group, resource (plural,
// as in RBAC), namespace ("" for a cluster-scoped object) and name.
type Object struct {
	Group, Resource, Namespace, Name string
}

// Covers reports whether a scope covers o: a namespaced object in a listed namespace (and
// resource and name, if listed), or a cluster-scoped object (a Namespace too) listed by name;
// never RBAC, admission configuration or Writ's own kinds.
func Covers(sc guardv1.BreakGlassScope, o Object) bool {
	if NeverInScope(o.Group, o.Resource) {
		return false
	}
	if o.Namespace == "" || (o.Group == "" && o.Resource == "namespaces") {
		for _, c := range sc.ClusterResources {
			if c.APIGroup == o.Group && c.Resource == o.Resource && slices.Contains(c.Names, o.Name) && !neverNamed(o.Group, o.Resource, o.Name) {
				return true
			}
		}
		return false
	}
	if !slices.Contains(sc.Namespaces, o.Namespace) {
		return false
	}
	if len(sc.Resources) > 0 && !ruleMatches(sc.Resources, o.Group, o.Resource) {
		return false
	}
	return len(sc.Names) == 0 || slices.Contains(sc.Names, o.Name)
}

// NeverInScope reports whether a resource is beyond any break-glass request: RBAC, admission
// configuration and Writ's own kinds, with which a grant's holder could widen their own access or
// switch the guard off.
func NeverInScope(group, resource string) bool {
	switch {
	case group == "rbac.authorization.k8s.io", group == "admissionregistration.k8s.io":
		return true
	case group == guardv1.GroupVersion.Group || strings.HasSuffix(group, "."+guardv1.GroupVersion.Group):
		return true
	}
	return false
}

// neverNamed reports whether a cluster-scoped object is beyond any break-glass request: the
// definitions of Writ's own kinds (deleting one deletes every object of it).
func neverNamed(group, resource, name string) bool {
	return group == "apiextensions.k8s.io" && resource == "customresourcedefinitions" &&
		(name == guardv1.GroupVersion.Group || strings.HasSuffix(name, "."+guardv1.GroupVersion.Group))
}

// ValidateScope checks a request's scope when it is created (and a stored grant before it is
// honoured): namespaces by name, cluster-scoped objects only named, no wildcard names, and
// nothing NeverInScope. Whatever honours grants elsewhere must skip a scope it refuses.
func ValidateScope(sc guardv1.BreakGlassScope) error {
	if len(sc.Namespaces) == 0 && len(sc.ClusterResources) == 0 {
		return fmt.Errorf("name the namespaces or the cluster-scoped objects it covers")
	}
	for _, ns := range sc.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s (cluster-scoped objects go in clusterResources, each named)", ns, strings.Join(errs, "; "))
		}
	}
	for _, rr := range sc.Resources {
		for _, g := range rr.APIGroups {
			for _, res := range rr.Resources {
				if NeverInScope(g, res) {
					return fmt.Errorf("resources: %s: RBAC, admission configuration and Writ's own kinds are never in a break-glass scope", groupResource(g, res))
				}
			}
		}
	}
	for _, n := range sc.Names {
		if !exactName(n) {
			return fmt.Errorf("names: %q is not an object's name", n)
		}
	}
	for _, c := range sc.ClusterResources {
		if c.Resource == "" || c.Resource == "*" || c.APIGroup == "*" {
			return fmt.Errorf("clusterResources: name the API group and resource, without wildcards")
		}
		if NeverInScope(c.APIGroup, c.Resource) {
			return fmt.Errorf("clusterResources: %s: RBAC, admission configuration and Writ's own kinds are never in a break-glass scope", groupResource(c.APIGroup, c.Resource))
		}
		if len(c.Names) == 0 {
			return fmt.Errorf("clusterResources: %s: name the objects; a cluster-scoped object is in scope only by name", groupResource(c.APIGroup, c.Resource))
		}
		for _, n := range c.Names {
			if !exactName(n) {
				return fmt.Errorf("clusterResources: %s: %q is not an object's name", groupResource(c.APIGroup, c.Resource), n)
			}
			if neverNamed(c.APIGroup, c.Resource, n) {
				return fmt.Errorf("clusterResources: the definition %s of Writ's own kind is never in a break-glass scope", n)
			}
		}
	}
	return nil
}

// exactName: not empty, not a wildcard, no spaces or tabs around it.
func exactName(n string) bool {
	return n != "" && n != "*" && n == strings.Trim(n, " \t")
}

// ruleMatches reports whether a rule lists group and resource ("*" matching any).
func ruleMatches(rules []guardv1.ResourceRule, group, resource string) bool {
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) {
			return true
		}
	}
	return false
}

func groupResource(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}
