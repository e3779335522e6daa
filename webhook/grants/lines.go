package grants

import (
	"slices"
	"strings"
	"time"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/breakglass"
)

// Grant is one line of the breakGlass key.
type Grant struct {
	User, Namespace string
	// Resources are "<group>/<resource>" pairs; empty means every resource.
	Resources []string
	// Names are object names; empty means every object.
	Names   []string
	Until   time.Time
	Request string
}

// String is the line the fallback policy reads.
func (g Grant) String() string {
	f := []string{g.User, g.Namespace}
	if len(g.Resources) > 0 {
		f = append(f, "resources="+strings.Join(g.Resources, ","))
	}
	if len(g.Names) > 0 {
		f = append(f, "names="+strings.Join(g.Names, ","))
	}
	return strings.Join(append(f, "until="+g.Until.UTC().Format(time.RFC3339), "request="+g.Request), " ")
}

// Grants returns the grants of the approved requests that are unexpired at now, sorted, and the
// earliest time one of them expires (zero if none does). writNamespace is never granted.
func Grants(reqs []guardv1.BreakGlassRequest, now time.Time, writNamespace string) ([]Grant, time.Time) {
	var out []Grant
	var next time.Time
	for i := range reqs {
		r := &reqs[i]
		spec := r.Spec
		if spec.ApprovedBy == "" || spec.ApprovedAt == nil || spec.ApprovedBy == spec.Requester || !plain(spec.Requester) {
			continue
		}
		until := breakglass.ApprovedAt(r, now).Add(spec.Duration.Duration)
		if !until.After(now) {
			continue
		}
		var resources []string
		for _, rr := range spec.Scope.Resources {
			for _, g := range rr.APIGroups {
				for _, res := range rr.Resources {
					resources = append(resources, g+"/"+res)
				}
			}
		}
		if !all(resources, plain) || !all(spec.Scope.Names, plain) {
			continue
		}
		added := false
		for _, ns := range spec.Scope.Namespaces {
			if ns == "" || ns == "*" || ns == "kube-system" || ns == writNamespace || !plain(ns) {
				continue
			}
			out = append(out, Grant{User: spec.Requester, Namespace: ns, Resources: resources, Names: spec.Scope.Names, Until: until, Request: r.Name})
			added = true
		}
		if added && (next.IsZero() || until.Before(next)) {
			next = until
		}
	}
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.String(), b.String()) })
	return out, next
}

// Lines is the breakGlass key's value for grants.
func Lines(grants []Grant) string {
	var b strings.Builder
	for _, g := range grants {
		b.WriteString(g.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// plain says whether s can stand in a line: not empty, no spaces, commas or #.
func plain(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\n,#") }

func all(xs []string, ok func(string) bool) bool {
	for _, x := range xs {
		if !ok(x) {
			return false
		}
	}
	return true
}
