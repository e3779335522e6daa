package webhook

import (
	"encoding/json"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/wellknown"
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
	// Options is the JSON of the request's options (CreateOptions, UpdateOptions, PatchOptions,
	// DeleteOptions), read only for a record's field manager (FieldManager).
	Options []byte
}

// UID is the object's metadata.uid, "" when it has none or it is not a string.
func (m *ObjectMeta) UID() string {
	if m == nil {
		return ""
	}
	return metaString(m.uid)
}

// ResourceVersion is the object's metadata.resourceVersion, "" when it has none.
func (m *ObjectMeta) ResourceVersion() string {
	if m == nil {
		return ""
	}
	return metaString(m.resourceVersion)
}

// metaString is the JSON string lit, "" when it is not one.
func metaString(lit []byte) string {
	if len(lit) < 2 || lit[0] != '"' {
		return ""
	}
	s, err := jsonString(lit)
	if err != nil {
		return ""
	}
	return s
}

// FieldManager is the field manager the request's options name, "" when none: any client sets
// it to any string, so it is recorded, never decided on.
func (r *Request) FieldManager() string {
	if len(r.Options) == 0 {
		return ""
	}
	var o struct {
		FieldManager string `json:"fieldManager"`
	}
	if json.Unmarshal(r.Options, &o) != nil {
		return ""
	}
	return o.FieldManager
}

// written is the object a write concerns, for a record: the stored one (Old) where there is
// one, else the new one.
func (r *Request) written() *ObjectMeta {
	if r.Old != nil {
		return r.Old
	}
	return r.New
}

// Tracked reports whether a Sync tracks the object (the writ.dev/managed label on the stored
// object or the new one): a write of it can be drift.
func (r *Request) Tracked() bool {
	for _, m := range []*ObjectMeta{r.Old, r.New} {
		if m != nil && m.Labels[wellknown.ManagedLabel] != "" {
			return true
		}
	}
	return false
}

// ObjectMeta is what the guard reads of an object: the labels and annotations it decides on.
// Labels are the tracking labels (all of a Namespace's labels, which namespace selectors match);
// Annotations are the tracking annotations and the source annotation. A decision that needs
// another key must add it to keptLabels or keptAnnotations (meta.go).
type ObjectMeta struct {
	Labels      map[string]string
	Annotations map[string]string

	name string // only to name the objects of a delete by collection
	// uid and resourceVersion are the JSON of metadata.uid and metadata.resourceVersion (slices of
	// the request's object, decoded only for a record: UID, ResourceVersion), nil when absent.
	uid, resourceVersion []byte
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
	r.Object, r.OldObject, r.Options = req.Object.Raw, req.OldObject.Raw, req.Options.Raw
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
