package apply

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/wellknown"
)

// Stamp identifies who applies and from where.
type Stamp struct {
	// Sync is the namespace and name of the sync that owns the objects.
	SyncNamespace, SyncName string
	// Commit and Source (repository URL and path, SourceOf) are annotated on every object.
	Commit, Source string
}

func (s Stamp) owner() string { return s.SyncNamespace + "." + s.SyncName }

// Declare sets on o the part of the stamp that every commit of the sync declares alike: the
// tracking label (wellknown.ManagedLabel, "<sync namespace>.<sync name>") and, when Source is set,
// the source annotation (wellknown.SourceAnnotation). Apply and Drift stamp each object with it,
// then add the commit annotation (wellknown.CommitAnnotation), which Declare leaves alone: it names
// the commit that last changed the object, any earlier verified commit, so it is not something a
// commit declares. The witness (witness/feed) declares exactly what Declare sets, so that what it
// indexes is what the reconciler writes.
func (s Stamp) Declare(o *unstructured.Unstructured) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[wellknown.ManagedLabel] = s.owner()
	o.SetLabels(labels)
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	if s.Source != "" {
		ann[wellknown.SourceAnnotation] = s.Source
	}
	o.SetAnnotations(ann)
}

// SourceOf is what the writ.dev/source annotation (and so the guard's denial) says: the
// repository and the path in it, e.g. "https://git.example.com/shop (path deploy)", without the
// double slash a joined URL would print.
func SourceOf(url, path string) string {
	if path = strings.Trim(path, "/"); path == "" || path == "." {
		return url
	}
	return url + " (path " + path + ")"
}
