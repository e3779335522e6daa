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
	// OldObject and Object are the objects as the apiserver sent them (JSON), decoded only by
	// exemptions that compare them (Changes, OwnedBy).
	OldObject, Object []byte
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

// Node returns the node's name if the user is a kubelet: named system:node:<name> and in the
// group system:nodes, both, as the NodeRestriction admission plugin identifies nodes.
func (r *Request) Node() (name string, ok bool) {
	name, ok = strings.CutPrefix(r.User, "system:node:")
	if !ok || name == "" || !r.InGroup("system:nodes") {
		return "", false
	}
	return name, true
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
	// The apiserver sends a Namespace's own requests with the namespace set to its name.
	if r.Namespace != "" && !(r.Group == "" && r.Resource == "namespaces") {
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
