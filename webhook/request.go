package webhook

import (
	"strings"
)

// Request is the part of an admission request the guard decides on.
type Request struct {
	UID         string
	Operation   string // CREATE, UPDATE, DELETE, CONNECT
	Group       string
	Version     string
	Resource    string // plural, e.g. deployments
	Subresource string
	Kind        string
	Namespace   string
	Name        string
	DryRun      bool

	User   string
	Groups []string
	Extra  map[string][]string

	// Old and New are the object's metadata before and after (nil where absent: New on DELETE,
	// Old on CREATE).
	Old, New *ObjectMeta
}

// ObjectMeta is what the guard reads of an object: the labels and annotations it decides on.
// Labels are the tracking labels (all of a Namespace's labels, which namespace selectors match);
// Annotations are the tracking annotations and the source annotation. A decision that needs
// another key must add it to keptLabels or keptAnnotations (meta.go).
type ObjectMeta struct {
	Labels      map[string]string
	Annotations map[string]string

	name string // only to name the objects of a delete by collection
}

// ServiceAccount returns namespace and name if the user is a service account.
func (r *Request) ServiceAccount() (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(r.User, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// InGroup reports whether the user is in group g (exactly).
func (r *Request) InGroup(g string) bool {
	for _, x := range r.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Ref is a short human reference to the object, e.g. "deployments.apps prod/web (scale)".
func (r *Request) Ref() string {
	gr := r.Resource
	if r.Group != "" {
		gr += "." + r.Group
	}
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	if name == "" {
		name = "(new object)"
	}
	s := gr + " " + name
	if r.Subresource != "" {
		s += " (" + r.Subresource + ")"
	}
	return s
}
