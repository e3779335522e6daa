package render

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Limits of one Render.
const (
	// MaxFileSize is the largest file Render reads, in bytes.
	MaxFileSize = 10 << 20
	// MaxObjects is the most objects one Render returns.
	MaxObjects = 10_000
)

// Sentinel errors; every error Render returns for a problem in the repository wraps one of them.
var (
	// ErrInvalid: a file or object is malformed (bad YAML, a missing name, a duplicate, a Secret
	// value that is not base64, a kustomization that does not build).
	ErrInvalid = errors.New("invalid manifests")
	// ErrOutsideRoot: a path, a symlink or a kustomization reference leads outside Options.Root.
	ErrOutsideRoot = errors.New("leads outside the repository root")
	// ErrRemote: a kustomization refers to a remote resource, which offline rendering refuses.
	ErrRemote = errors.New("remote resources are not supported")
	// ErrLimit: a file is larger than MaxFileSize, or the render exceeds MaxObjects.
	ErrLimit = errors.New("render limit exceeded")
)

// Options say what to render.
type Options struct {
	// Root is the checkout root. Nothing outside it is read: paths and symlinks that escape it
	// are errors.
	Root string
	// Path is the directory (or single file) to render, relative to Root; "" is Root itself.
	Path string
	// TargetNamespace, if set, is given to namespaced objects that have no namespace.
	TargetNamespace string
	// Scope tells whether a kind is namespaced; nil leaves only the rendered
	// CustomResourceDefinitions and the built-in kinds known. See RESTMapperScope.
	Scope ScopeFunc
}

// ScopeFunc reports whether objects of gvk are namespaced, and whether it knows the kind at all.
type ScopeFunc func(gvk schema.GroupVersionKind) (namespaced, known bool)

// Render reads o.Path inside o.Root and returns the objects it declares, in rendered order. It is
// safe for concurrent use.
func Render(ctx context.Context, o Options) ([]*unstructured.Unstructured, error) {
	if o.Root == "" {
		return nil, errors.New("render: root is required: pass the checkout directory")
	}
	if o.TargetNamespace != "" {
		if errs := validation.IsDNS1123Label(o.TargetNamespace); len(errs) > 0 {
			return nil, fmt.Errorf("render: target namespace %q is invalid: %s", o.TargetNamespace, strings.Join(errs, "; "))
		}
	}
	fsys, err := newRootFS(o.Root)
	if err != nil {
		return nil, err
	}
	start, err := fsys.resolveRel(o.Path)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(start)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("render: path %q does not exist in the checkout: check the sync's path", o.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("render: path %q: %w", o.Path, bare(err))
	}
	r := &renderer{ctx: ctx, fs: fsys}
	switch {
	case !info.IsDir():
		err = r.file(cleanRel(o.Path), start)
	case findKustomization(start) != "":
		err = r.kustomize(start)
	default:
		err = r.plain(start, cleanRel(o.Path))
	}
	if err != nil {
		return nil, err
	}
	scope := r.scope(o.Scope)
	r.setNamespaces(o.TargetNamespace, scope)
	if err := r.checkDuplicates(scope); err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, len(r.items))
	for i, it := range r.items {
		objs[i] = it.obj
	}
	return objs, nil
}

// Sort orders objects for applying: CustomResourceDefinitions, then Namespaces, then the rest;
// otherwise it keeps the given order.
func Sort(objs []*unstructured.Unstructured) {
	rank := func(u *unstructured.Unstructured) int {
		switch gk := u.GroupVersionKind().GroupKind(); gk {
		case crdGK:
			return 0
		case namespaceGK:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
}

var (
	crdGK       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceGK = schema.GroupKind{Kind: "Namespace"}
)

// item is a rendered object and where it came from, for messages.
type item struct {
	obj  *unstructured.Unstructured
	file string // "apps/web.yaml", or the kustomization file
	at   string // "document 2", "document 2: item 3", or ""
}

// place is "apps/web.yaml (document 2)", for naming two items in one message.
func (it item) place() string {
	if it.at == "" {
		return it.file
	}
	return it.file + " (" + it.at + ")"
}

// where is "apps/web.yaml: document 2", the prefix of messages about the item.
func (it item) where() string {
	if it.at == "" {
		return it.file
	}
	return it.file + ": " + it.at
}

type renderer struct {
	ctx   context.Context
	fs    *rootFS
	items []item
}

// add validates one decoded document (an object or a List) and appends what it holds.
func (r *renderer) add(v any, at item) error {
	m, ok := v.(map[string]any)
	if !ok {
		return mark(ErrInvalid, "%s: document is %s, not an object: every document must be a Kubernetes object", at.where(), describe(v))
	}
	u := &unstructured.Unstructured{Object: m}
	if !isList(u) {
		at.obj = u
		return r.addObject(at)
	}
	items, _ := m["items"].([]any)
	for i, e := range items {
		in := item{file: at.file, at: strings.TrimPrefix(fmt.Sprintf("%s: item %d", at.at, i+1), ": ")}
		im, ok := e.(map[string]any)
		if !ok {
			return mark(ErrInvalid, "%s: %s, not an object: List items must be objects", in.where(), describe(e))
		}
		in.obj = &unstructured.Unstructured{Object: im}
		if err := r.addObject(in); err != nil {
			return err
		}
	}
	return nil
}

func isList(u *unstructured.Unstructured) bool {
	kind := u.GetKind()
	if kind == "List" {
		return true
	}
	_, hasItems := u.Object["items"].([]any)
	return hasItems && strings.HasSuffix(kind, "List")
}

func (r *renderer) addObject(it item) error {
	if len(r.items) >= MaxObjects {
		return mark(ErrLimit, "%s: more than %d objects (MaxObjects): render a smaller path", it.where(), MaxObjects)
	}
	if err := validate(it.obj); err != nil {
		return mark(ErrInvalid, "%s: %w", it.where(), err)
	}
	r.items = append(r.items, it)
	return nil
}

// validate checks the fields every object needs, and Secret data. Its errors never quote a value
// of a Secret.
func validate(u *unstructured.Unstructured) error {
	for _, f := range [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}} {
		s, found, err := unstructured.NestedString(u.Object, f...)
		name := strings.Join(f, ".")
		if err != nil {
			return fmt.Errorf("%s must be a string", name)
		}
		if !found || s == "" {
			return fmt.Errorf("missing %s: every object needs apiVersion, kind and metadata.name", name)
		}
	}
	if _, err := schema.ParseGroupVersion(u.GetAPIVersion()); err != nil {
		return fmt.Errorf("apiVersion %q is malformed: write group/version, or v1 for the core group", u.GetAPIVersion())
	}
	if ns, found, err := unstructured.NestedFieldNoCopy(u.Object, "metadata", "namespace"); err != nil || (found && ns != nil && !isString(ns)) {
		return errors.New("metadata.namespace must be a string")
	}
	if u.GetAPIVersion() == "v1" && u.GetKind() == "Secret" {
		return validateSecret(u)
	}
	return nil
}

func validateSecret(u *unstructured.Unstructured) error {
	raw, found := u.Object["data"]
	if !found || raw == nil {
		return nil
	}
	data, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf("secret %s: data must be a map of keys to base64 strings", u.GetName())
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := data[k].(type) {
		case nil:
		case string:
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return fmt.Errorf("secret %s: data key %q is not valid base64: encode the value, or move it to stringData", u.GetName(), k)
			}
		default:
			return fmt.Errorf("secret %s: data key %q must be a base64 string", u.GetName(), k)
		}
	}
	return nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// describe names a decoded value's type without quoting it.
func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case map[string]any:
		return "an object"
	}
	return "empty"
}

// setNamespaces gives ns to the namespaced objects without a namespace.
func (r *renderer) setNamespaces(ns string, scope ScopeFunc) {
	if ns == "" {
		return
	}
	for _, it := range r.items {
		if it.obj.GetNamespace() != "" {
			continue
		}
		if namespaced, known := scope(it.obj.GroupVersionKind()); known && namespaced {
			it.obj.SetNamespace(ns)
		}
	}
}

// checkDuplicates refuses two objects with the same group, kind, namespace and name; the
// namespace of a kind known to be cluster-scoped does not count.
func (r *renderer) checkDuplicates(scope ScopeFunc) error {
	type key struct {
		gk        schema.GroupKind
		namespace string
		name      string
	}
	seen := make(map[key]item, len(r.items))
	for _, it := range r.items {
		gvk := it.obj.GroupVersionKind()
		k := key{gvk.GroupKind(), it.obj.GetNamespace(), it.obj.GetName()}
		if namespaced, known := scope(gvk); known && !namespaced {
			k.namespace = ""
		}
		if prev, ok := seen[k]; ok {
			return mark(ErrInvalid, "duplicate object %s: declared in %s and in %s: remove one of them", objectID(it.obj), prev.place(), it.place())
		}
		seen[k] = it
	}
	return nil
}

// objectID is "apps/Deployment prod/web" or "ConfigMap web".
func objectID(u *unstructured.Unstructured) string {
	gk := u.GroupVersionKind().GroupKind()
	id := gk.Kind
	if gk.Group != "" {
		id = gk.Group + "/" + id
	}
	if ns := u.GetNamespace(); ns != "" {
		return id + " " + ns + "/" + u.GetName()
	}
	return id + " " + u.GetName()
}

// cleanRel is p relative to Root in slash form, "" for Root itself.
func cleanRel(p string) string {
	p = path.Clean(filepath.ToSlash(p))
	if p == "." || p == "/" {
		return ""
	}
	return strings.TrimPrefix(p, "/")
}

// markedError carries a message and the sentinel it belongs to, without the sentinel's text.
type markedError struct {
	err  error
	mark error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.err, e.mark} }

// mark formats an error that wraps sentinel; a %w in format is wrapped too.
func mark(sentinel error, format string, args ...any) error {
	return &markedError{err: fmt.Errorf(format, args...), mark: sentinel}
}
