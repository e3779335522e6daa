package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// ownerKind is a kind the guard can read as an owner: apiVersion and kind as an ownerReference
// names them.
type ownerKind struct{ apiVersion, kind string }

func (k ownerKind) String() string { return k.apiVersion + " " + k.kind }

// ownerKinds are the owners an exemption's ownedBy may name, and the objects the guard reads
// them into from its cache (writ-controller caches and may read exactly these:
// OwnerObjects).
var ownerKinds = map[ownerKind]func() client.Object{
	{"apps/v1", "Deployment"}:                func() client.Object { return &appsv1.Deployment{} },
	{"apps/v1", "ReplicaSet"}:                func() client.Object { return &appsv1.ReplicaSet{} },
	{"apps/v1", "StatefulSet"}:               func() client.Object { return &appsv1.StatefulSet{} },
	{"batch/v1", "Job"}:                      func() client.Object { return &batchv1.Job{} },
	{"v1", "Service"}:                        func() client.Object { return &corev1.Service{} },
	{"bitnami.com/v1alpha1", "SealedSecret"}: func() client.Object { return &ssv1alpha1.SealedSecret{} },
}

// OwnerObjects are the kinds the guard reads from its cache to enforce ownedBy; the manager
// that feeds it must be allowed to list and watch them.
func OwnerObjects() []client.Object {
	return []client.Object{&appsv1.Deployment{}, &appsv1.ReplicaSet{}, &appsv1.StatefulSet{}, &batchv1.Job{}, &corev1.Service{}, &ssv1alpha1.SealedSecret{}}
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

// child is a resource an owner kind controls, and how an object of it must match its owner.
type child struct {
	group, resource string
	owner           ownerKind
}

// matcher compares a child with what its owner declares. match returns why the child does not
// match ("" if it does); same reports whether an update leaves the compared fields as they
// were (a ReplicaSet of an earlier revision being scaled down no longer matches its Deployment).
// A nil matcher checks ownership only.
type matcher struct {
	match func(raw []byte, owner client.Object) string
	same  func(oldRaw, newRaw []byte) bool
}

var children = map[child]*matcher{
	{"", "pods", ownerKind{"apps/v1", "ReplicaSet"}}:                     podMatcher,
	{"", "pods", ownerKind{"apps/v1", "StatefulSet"}}:                    podMatcher,
	{"", "pods", ownerKind{"batch/v1", "Job"}}:                           podMatcher,
	{"apps", "replicasets", ownerKind{"apps/v1", "Deployment"}}:          replicaSetMatcher,
	{"", "secrets", ownerKind{"bitnami.com/v1alpha1", "SealedSecret"}}:   sealedSecretMatcher,
	{"discovery.k8s.io", "endpointslices", ownerKind{"v1", "Service"}}:   nil,
	{"", "persistentvolumeclaims", ownerKind{"apps/v1", "StatefulSet"}}:  nil,
	{"apps", "controllerrevisions", ownerKind{"apps/v1", "StatefulSet"}}: nil,
}

// ownerOwners are the owners an owner may in turn have (ownedBy.ownedBy).
var ownerOwners = map[ownerKind]ownerKind{
	{"apps/v1", "ReplicaSet"}: {"apps/v1", "Deployment"},
}

// compileOwner validates an ownedBy chain against the exemption's resources.
func compileOwner(resources []guardv1.ResourceRule, rule *guardv1.OwnerRule) ([]ownerKind, error) {
	kinds := []guardv1.OwnerKind{rule.OwnerKind}
	if rule.OwnedBy != nil {
		kinds = append(kinds, *rule.OwnedBy)
	}
	var chain []ownerKind
	for _, r := range kinds {
		k := ownerKind{r.APIVersion, r.Kind}
		if _, ok := ownerKinds[k]; !ok {
			return nil, fmt.Errorf("%s: the guard reads only %s", k, knownOwners())
		}
		if len(chain) > 0 {
			if ownerOwners[chain[len(chain)-1]] != k {
				return nil, fmt.Errorf("a %s is not owned by a %s", chain[len(chain)-1].kind, k.kind)
			}
		}
		chain = append(chain, k)
	}
	for _, rr := range resources {
		for _, g := range rr.APIGroups {
			for _, res := range rr.Resources {
				if _, ok := children[child{g, res, chain[0]}]; !ok {
					return nil, fmt.Errorf("the guard cannot tell whether %s are owned by a %s", groupResource(g, res), chain[0].kind)
				}
			}
		}
	}
	return chain, nil
}

func knownOwners() string {
	var s []string
	for k := range ownerKinds {
		s = append(s, k.String())
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

func groupResource(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

// objectHead is an object's metadata, decoded on its own.
type objectHead struct {
	metav1.ObjectMeta `json:"metadata"`
}

// ownedAsDeclared checks the object's chain of controllers and its match with its owner. It
// returns why not ("" if the object is owned as declared), or an error when the guard could not
// read an owner (it then denies).
func ownedAsDeclared(p *Policy, chain []ownerKind, r *Request, s *Snapshot) (string, error) {
	raw := r.Object
	if r.Operation == "DELETE" {
		raw = r.OldObject
	}
	var head objectHead
	if err := json.Unmarshal(raw, &head); err != nil {
		return "the object cannot be read", nil
	}
	ref := metav1.GetControllerOfNoCopy(&head)
	owner, why, err := readController(s.Owners, ref, chain[0], r.Namespace)
	if why != "" || err != nil {
		return why, err
	}
	if m := children[child{r.Group, r.Resource, chain[0]}]; m != nil && r.Operation != "DELETE" {
		if why := m.match(raw, owner); why != "" {
			if !(r.Operation == "UPDATE" && sameController(r.OldObject, ref) && m.same(r.OldObject, r.Object)) {
				return why, nil
			}
		}
	}
	for _, k := range chain[1:] {
		if owner, why, err = readController(s.Owners, metav1.GetControllerOfNoCopy(owner), k, r.Namespace); why != "" || err != nil {
			return "its controller: " + why, err
		}
	}
	if !p.tracksMeta(owner.GetLabels(), owner.GetAnnotations()) {
		return fmt.Sprintf("its owner %s %s/%s is not declared in Git (it carries no tracking marker)", chain[len(chain)-1].kind, r.Namespace, owner.GetName()), nil
	}
	return "", nil
}

// readController reads the owner ref names, which must be of kind k, through owners (the guard's
// cache).
func readController(owners OwnerReader, ref *metav1.OwnerReference, k ownerKind, namespace string) (client.Object, string, error) {
	if ref == nil {
		return nil, fmt.Sprintf("it has no controller, and only objects controlled by a %s are exempt", k.kind), nil
	}
	if ref.APIVersion != k.apiVersion || ref.Kind != k.kind {
		return nil, fmt.Sprintf("its controller is a %s %s, not a %s", ref.APIVersion, ref.Kind, k), nil
	}
	if owners == nil {
		return nil, "the guard reads no owners", nil
	}
	obj := ownerKinds[k]()
	if err := owners.GetOwner(namespace, ref.Name, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("its controller %s %s/%s does not exist (or is not in the guard's cache yet)", k.kind, namespace, ref.Name), nil
		}
		return nil, "", fmt.Errorf("reading %s %s/%s: %w", k.kind, namespace, ref.Name, err)
	}
	if obj.GetUID() != ref.UID {
		return nil, fmt.Sprintf("its ownerReference names %s %s/%s with uid %s, which is not that object's", k.kind, namespace, ref.Name, ref.UID), nil
	}
	return obj, "", nil
}

func sameController(oldRaw []byte, ref *metav1.OwnerReference) bool {
	var head objectHead
	if json.Unmarshal(oldRaw, &head) != nil {
		return false
	}
	old := metav1.GetControllerOfNoCopy(&head)
	return old != nil && ref != nil && old.UID == ref.UID
}
