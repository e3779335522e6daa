package evidence

import (
	"time"

	"writ.dev/writ/audit"
)

// Bundle file names.
const (
	FileManifest    = "manifest.json"
	FileManifestSig = "manifest.sig"
	FileEvents      = "events.jsonl"
	FileCSV         = "events.csv"
	FileCheckpoints = "checkpoints.json"
	FileReport      = "report.html"
)

// FormatVersion is the bundle format written by Export. v2 bundles may hold records with a
// submitter (audit.Event.Submitter), which a v1 reader would drop and then see as modified; v1
// bundles, whose records never have one, are still read.
const FormatVersion = "writ.dev/evidence/v2"

// formatV1 is the format before records carried their submitter.
const formatV1 = "writ.dev/evidence/v1"

// Manifest describes a bundle. Its signature covers its exact bytes.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"createdAt"`
	// From and To bound the period (To exclusive) the bundle is evidence for.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Anchor is the checkpoint the records chain from ({0, ""}: the first record ever).
	AnchorSeq  uint64 `json:"anchorSeq"`
	AnchorHash string `json:"anchorHash"`
	// FirstSeq..LastSeq are the records in events.jsonl; PeriodFirstSeq..PeriodLastSeq those
	// whose time is inside the period (0 when the period holds none).
	FirstSeq       uint64 `json:"firstSeq"`
	LastSeq        uint64 `json:"lastSeq"`
	PeriodFirstSeq uint64 `json:"periodFirstSeq"`
	PeriodLastSeq  uint64 `json:"periodLastSeq"`
	// Counts of records in the period by kind.
	Counts map[audit.Kind]int `json:"counts"`
	// PublicKey is the audit key (hex ed25519) that signed the manifest and checkpoints; KeyID
	// its short name, to compare with the key the cluster publishes.
	PublicKey string `json:"publicKey"`
	KeyID     string `json:"keyID"`
	// Files maps each file name to the hex SHA-256 of its contents.
	Files map[string]string `json:"files"`
}
