package witness

import "k8s.io/apimachinery/pkg/types"

// Operation is an admission request's operation. PATCH and server-side apply reach admission as
// UPDATE or CREATE, with the whole object about to be stored.
type Operation string

// The operations Check judges; any other is denied.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Write is an agent's write as Check judges it.
type Write struct {
	Operation Operation
	Object    Key
	// Sync is the Sync the object names in its writ.dev/managed label (the stored object's for
	// UPDATE and DELETE, the new one's for CREATE), zero when it has none. It never admits a
	// write: it only lets Check say NotReady when that Sync has no index yet. The label is the
	// writer's to set, so a caller must never treat NotReady more leniently than any other denial.
	Sync types.NamespacedName
	// Raw is the JSON of the object the apiserver is about to store (CREATE, UPDATE); DELETE
	// ignores it. Its metadata.managedFields tell which fields the write sets (see Check): an
	// object without them is denied (NoManagedFields).
	Raw []byte
	// Old is the JSON of the object as stored before an UPDATE (the AdmissionReview's oldObject),
	// nil for a CREATE. Only its managedFields are read: what the write gains over them must be
	// declared. An UPDATE without Old is judged as a CREATE: everything the object's field
	// managers own must be declared, which is stricter, never laxer.
	Old []byte
	// Managed and OldManaged are, when the caller has found them in Raw and Old (the guard reads
	// their metadata anyway), the JSON of each object's metadata.managedFields list, nil when it
	// has none; Check then compares them instead of looking for them (declared.GainsOfLists).
	// When Managed is nil, Check reads the lists from Raw and Old itself. They must be slices of
	// Raw and Old, read from them, never taken from anywhere else.
	Managed, OldManaged []byte
	// RawValidated is the caller's word that Raw (and Old) is valid JSON: set it only for bytes encoding/json
	// has already validated, such as the object of an AdmissionReview the webhook decoded with
	// encoding/json (which validates the whole document). Check then skips what no commit declares
	// without validating it again (declared.FirstDiffValidJSON); on bytes that are not valid JSON
	// its answer would mean nothing, so when in doubt leave it false: Check then validates every
	// byte (declared.FirstDiffJSON) and denies malformed JSON.
	RawValidated bool

	// stored: Raw is an object as it is stored, not a write (Index.CheckStored).
	stored bool
}
