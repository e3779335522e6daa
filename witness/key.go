package witness

import (
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Key names an object as an admission request does: group, kind, namespace and name. The
// namespace is empty for a cluster-scoped object; the group is empty for the core group.
type Key struct {
	Group, Kind, Namespace, Name string
}

// KeyOf returns the key of a rendered object, which must carry its kind and name, and the
// namespace it is applied in when it is namespaced.
func KeyOf(obj *unstructured.Unstructured) (Key, error) {
	if obj == nil || obj.Object == nil {
		return Key{}, errors.New("no object")
	}
	gvk := obj.GroupVersionKind()
	k := Key{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	switch {
	case obj.GetAPIVersion() == "":
		return k, errors.New("the object has no apiVersion")
	case k.Kind == "":
		return k, errors.New("the object has no kind")
	case k.Name == "":
		return k, errors.New("the object has no metadata.name (the witness cannot index generateName)")
	}
	return k, nil
}

// String spells the key as kubectl does: "Deployment.apps shop/web", "ConfigMap shop/settings",
// "ClusterRoleBinding.rbac.authorization.k8s.io admin".
func (k Key) String() string {
	kind := k.Kind
	if k.Group != "" {
		kind += "." + k.Group
	}
	if k.Namespace == "" {
		return kind + " " + k.Name
	}
	return kind + " " + k.Namespace + "/" + k.Name
}
