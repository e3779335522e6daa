package witness

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/reconcile/declared"
	"writ.dev/writ/sealing"
)

// unsealed is what the Secret writ-controller unseals from one declared SealedSecret must look
// like, as sealing's controller writes it (sealing.Unseal, which is Bitnami's SealedSecret.Unseal,
// then the controller's create or update): the SealedSecret's namespace and name (the template's
// name and namespace are overridden), the template's labels and annotations (and no other, but
// sealing.AnnotationUnsealedWith, whose value is the keys that opened it), the template's type
// (Opaque if none), the data keys of encryptedData and of the template's data, and one controller
// owner reference to the SealedSecret unless the template skips it. It holds key names only:
// the witness has no sealing key, so values are neither known nor compared.
type unsealed struct {
	// fields is the template's metadata (labels, annotations) and type, compiled as a Secret
	// manifest of the SealedSecret's name, so their values compare like any declared field.
	fields *declared.Fields
	// dataKeys, labels and annotations are the exact key sets, sorted.
	dataKeys, labels, annotations []string
	// immutable is whether the template makes the Secret immutable; a write may set immutable
	// only then.
	immutable bool
	// owners are the owner references the Secret must have, exactly.
	owners []owner
}

// owner is an owner reference as far as Git can declare it (the uid is the cluster's).
type owner struct {
	apiVersion, kind, name string
	controller             bool
}

// sealedGroupKind is the declared kind unsealed Secrets come from.
var sealedGroupKind = sealing.GroupVersionKind.GroupKind()

// secretKeyOf is the key of the Secret a SealedSecret of key k unseals into.
func secretKeyOf(k Key) Key {
	return Key{Kind: "Secret", Namespace: k.Namespace, Name: k.Name}
}

// isSealedSecret reports whether k is a SealedSecret's key.
func isSealedSecret(k Key) bool {
	return k.Group == sealedGroupKind.Group && k.Kind == sealedGroupKind.Kind
}

// compileUnsealed reads a rendered SealedSecret as the unsealer does (decoded from JSON into
// Bitnami's type) and returns what its Secret must look like, or nil if it unseals into none: a
// SealedSecret with the deprecated spec.data is refused by the unsealer.
func compileUnsealed(obj *unstructured.Unstructured) (*unsealed, error) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	ss := &ssv1alpha1.SealedSecret{}
	if err := json.Unmarshal(b, ss); err != nil {
		return nil, fmt.Errorf("not a SealedSecret the unsealer can read: %w", err)
	}
	if ss.Namespace == "" {
		return nil, fmt.Errorf("a SealedSecret needs the namespace it is applied in")
	}
	if ss.Spec.Data != nil {
		return nil, nil
	}
	t := ss.Spec.Template
	u := &unsealed{labels: sortedKeys(t.Labels), immutable: t.Immutable != nil && *t.Immutable}

	// The data keys, as Bitnami's Unseal makes them: every encryptedData key, then each template
	// data key (null removes the key, even one of encryptedData).
	keys := map[string]bool{}
	for k := range ss.Spec.EncryptedData {
		keys[k] = true
	}
	for k, v := range t.Data {
		if _, encrypted := ss.Spec.EncryptedData[k]; v == nil {
			delete(keys, k)
		} else if !encrypted {
			keys[k] = true
		}
	}
	u.dataKeys = slices.Sorted(maps.Keys(keys))

	// The unsealer writes AnnotationUnsealedWith itself; its value is the cluster's keys.
	annotations := maps.Clone(t.Annotations)
	delete(annotations, sealing.AnnotationUnsealedWith)
	u.annotations = sortedKeys(annotations)

	if t.Annotations[ssv1alpha1.SealedSecretSkipSetOwnerReferencesAnnotation] == "true" {
		for _, r := range t.OwnerReferences {
			u.owners = append(u.owners, owner{r.APIVersion, r.Kind, r.Name, r.Controller != nil && *r.Controller})
		}
	} else {
		u.owners = []owner{{sealing.GroupVersionKind.GroupVersion().String(), sealedGroupKind.Kind, ss.Name, true}}
	}

	typ := t.Type
	if typ == "" {
		typ = corev1.SecretTypeOpaque
	}
	manifest := map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"namespace": ss.Namespace, "name": ss.Name, "labels": stringMap(t.Labels), "annotations": stringMap(annotations)},
		"type":       string(typ),
	}
	if u.fields, err = declared.Compile(&unstructured.Unstructured{Object: manifest}); err != nil {
		return nil, err
	}
	return u, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// storedSecret is what of a Secret's JSON the exact checks read: key names, the type, immutable
// and owner references. Values are skipped, never copied.
type storedSecret struct {
	Metadata struct {
		Labels          map[string]skipped `json:"labels"`
		Annotations     map[string]skipped `json:"annotations"`
		OwnerReferences []struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Controller *bool  `json:"controller"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Immutable  *bool              `json:"immutable"`
	Data       map[string]skipped `json:"data"`
	StringData map[string]skipped `json:"stringData"`
}

// skipped is a JSON value read for its key only.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// decodeSecret reads raw for the exact checks; json.Unmarshal validates the whole document first,
// so raw is valid JSON when it returns no error.
func decodeSecret(raw []byte) (*storedSecret, error) {
	s := &storedSecret{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

// firstDiff returns the first field at which the Secret s (whose valid JSON is raw) is not what u
// unseals into: a declared field (the template's labels, annotations, type), then a data key
// missing or extra, a label or annotation the template does not have, immutable, the owner
// references. Paths are spelt as reconcile/declared spells them, with key names and no value.
func (u *unsealed) firstDiff(raw []byte, s *storedSecret) (string, error) {
	path, differs, err := u.fields.FirstDiffValidJSON(raw)
	if err != nil {
		return "", err
	}
	if differs {
		return path, nil
	}
	data := maps.Clone(s.Data)
	if data == nil {
		data = map[string]skipped{}
	}
	maps.Copy(data, s.StringData) // stored into data by the apiserver
	if p := keySetDiff(".data.", u.dataKeys, data); p != "" {
		return p, nil
	}
	if p := keySetDiff(".metadata.labels.", u.labels, s.Metadata.Labels); p != "" {
		return p, nil
	}
	annotations := maps.Clone(s.Metadata.Annotations)
	delete(annotations, sealing.AnnotationUnsealedWith)
	if p := keySetDiff(".metadata.annotations.", u.annotations, annotations); p != "" {
		return p, nil
	}
	if s.Immutable != nil && *s.Immutable && !u.immutable {
		return ".immutable", nil
	}
	got := make([]owner, 0, len(s.Metadata.OwnerReferences))
	for _, r := range s.Metadata.OwnerReferences {
		got = append(got, owner{r.APIVersion, r.Kind, r.Name, r.Controller != nil && *r.Controller})
	}
	if !sameOwners(got, u.owners) {
		return ".metadata.ownerReferences", nil
	}
	return "", nil
}

// keySetDiff returns prefix+key for the first key (sorted) that want has and got lacks, else for
// the first that got has and want lacks, else "".
func keySetDiff[V any](prefix string, want []string, got map[string]V) string {
	for _, k := range want {
		if _, ok := got[k]; !ok {
			return prefix + k
		}
	}
	if len(got) == len(want) {
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := slices.BinarySearch(want, k); !ok {
			return prefix + k
		}
	}
	return ""
}

// sameOwners reports whether got and want hold the same owner references, in any order.
func sameOwners(got, want []owner) bool {
	if len(got) != len(want) {
		return false
	}
	left := slices.Clone(want)
	for _, g := range got {
		i := slices.Index(left, g)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}
