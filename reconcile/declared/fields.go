package declared

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Fields is what one Git manifest declares, compiled for comparison with live objects. It is
// immutable and safe for concurrent use.
type Fields struct {
	nodes []node                       // nodes[0] is the manifest's root object
	strs  string                       // every key, element name and string value, referred to by position
	norms []scalar                     // the normalised spelling of the scalars that have another one
	index map[uint32]map[string]uint32 // the children at nodes[first:] of a long object or list, by key
	keys  [][]string                   // the keys of the keyed lists (node.keys)
}

// Compile prepares want for comparison: every normalisation that depends only on the manifest
// (Secret stringData, the typed round trip of a built-in kind, status dropped, keys sorted, lists
// matched by their keys, as the schema of a built-in kind says) is done here once.
func Compile(want *unstructured.Unstructured) (*Fields, error) {
	if want == nil || want.Object == nil {
		return nil, errors.New("declared: no manifest to compile")
	}
	gvk := want.GroupVersionKind()
	w := secretData(gvk, want.Object)
	n, stored := normalised(gvk, want.Object)
	if n == nil {
		n = w
		stored, _ = json.Marshal(w) // a custom resource is stored as sent, its keys sorted
	}
	// A status subresource is never written by Writ's apply.
	w, n = without(w, "status"), without(n, "status")
	return new(builder).fields(w, n, stored, typeOf(gvk)), nil
}

// Diff returns the paths (".spec.template.spec.containers[name=web].image") at which live, the
// decoded object the apiserver stores, differs from a field the manifest declares, in order:
// object keys sorted, named list elements in the manifest's order. Values are never returned.
func (f *Fields) Diff(live map[string]any) []string {
	return f.diff(&f.nodes[0], "", live, true, nil)
}

// FirstDiffJSON returns the first path Diff would return for the object whose JSON is live,
// without decoding it: only the declared paths are compared and everything else is skipped.
// err is non-nil when live is not a well-formed JSON object; then differs is false and the
// caller must not take that for a match.
func (f *Fields) FirstDiffJSON(live []byte) (path string, differs bool, err error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.b, s.i = live, 0
	return s.document(f)
}

// FirstDiffValidJSON is FirstDiffJSON for input the caller KNOWS IS VALID JSON, such as an object
// taken from an AdmissionReview that encoding/json has decoded (which validates the whole
// document). The declared values are read, decoded and compared exactly as FirstDiffJSON does,
// so on valid JSON both give the same answer; the subtrees the manifest does not declare
// (managedFields, status, other managers' fields) are skipped by matching brackets and strings
// only, without checking that they are well formed.
//
// On input that is not valid JSON it never panics nor reads outside live, but its answer means
// nothing: it may return an error, a difference, or no difference. Never call it on bytes that
// have not been validated; a caller that cannot say they have must use FirstDiffJSON.
func (f *Fields) FirstDiffValidJSON(live []byte) (path string, differs bool, err error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.b, s.i, s.valid = live, 0, true
	return s.document(f)
}

// FirstDiffValidJSONRead is FirstDiffValidJSON told that read, a slice of live (taken from it,
// never a copy), is one whole JSON value the caller has already found in it (the guard finds the
// object's metadata.managedFields list, about half of a large object's bytes, while reading its
// metadata): where the walk skips an undeclared value that starts where read does, it jumps over
// read instead of matching its brackets. The answer is the same as FirstDiffValidJSON's; read is
// ignored when it is empty or not a slice of live. The same caveat holds: live must be known to
// be valid JSON, and read must be the whole value starting at its first byte.
func (f *Fields) FirstDiffValidJSONRead(live, read []byte) (path string, differs bool, err error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.b, s.i, s.valid = live, 0, true
	if at, ok := sliceAt(live, read); ok {
		s.readAt, s.readEnd = at, at+len(read)
	}
	return s.document(f)
}

// sliceAt is the offset in b at which sub starts when sub is a non-empty slice of b's own bytes.
func sliceAt(b, sub []byte) (int, bool) {
	at := cap(b) - cap(sub)
	if len(sub) == 0 || at < 0 || at > len(b)-len(sub) || &b[at] != &sub[0] {
		return 0, false
	}
	return at, true
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

func without(m map[string]any, key string) map[string]any {
	if _, ok := m[key]; !ok {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			c[k] = v
		}
	}
	return c
}

// normalised is the manifest as the apiserver would store it if it were stored unchanged: its
// typed round trip, decoded and as JSON, or nil for a kind the scheme does not know (stored as
// sent).
func normalised(gvk schema.GroupVersionKind, want map[string]any) (map[string]any, []byte) {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, nil
	}
	b, err := json.Marshal(want)
	if err != nil || json.Unmarshal(b, obj) != nil {
		return nil, nil
	}
	if b, err = json.Marshal(obj); err != nil {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil
	}
	return secretData(gvk, m), b
}

// secretData merges a core Secret's stringData into data, base64-encoded, as the apiserver does.
func secretData(gvk schema.GroupVersionKind, m map[string]any) map[string]any {
	sd, ok := m["stringData"].(map[string]any)
	if gvk.Group != "" || gvk.Kind != "Secret" || !ok {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	data := map[string]any{}
	if d, ok := m["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	delete(c, "stringData")
	c["data"] = data
	return c
}
