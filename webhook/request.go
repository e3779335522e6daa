package webhook

import (
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
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
	// managedFields is the JSON of metadata.managedFields as the object carries it (a slice of
	// the request's object), nil when it has none: for the witness's managedFields rule.
	managedFields []byte
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
