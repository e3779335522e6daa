package wellknown

// Metadata Writ's reconciler puts on everything it applies.
const (
	// ManagedLabel marks an object applied by Writ's reconciler; its value is the owning Sync's
	// namespace and name, joined by a dot. The guard treats it as a tracking marker: an object
	// carrying it is protected wherever it lives.
	ManagedLabel = "writ.dev/managed"
	// CommitAnnotation is the verified commit an object was last applied from.
	CommitAnnotation = "writ.dev/commit"
	// SourceAnnotation names the repository and path an object comes from, as
	// "<url> (path <path>)"; the guard's denials quote it.
	SourceAnnotation = "writ.dev/source"
	// FieldManager is the server-side apply field manager of Writ's reconciler.
	FieldManager = "writ"
)

// ProtectedNamespaceLabel, set to "true", marks a namespace the fallback admission policies
// protect (the GuardPolicies shipped in policies/ select on it too).
const ProtectedNamespaceLabel = "writ.dev/protected"

// Writ's service accounts, in Writ's namespace.
const (
	// ControllerServiceAccount runs writ-controller: keys, unsealing, audit ingestion.
	ControllerServiceAccount = "writ-controller"
	// ReconcilerServiceAccount is Writ's own GitOps agent.
	ReconcilerServiceAccount = "writ-reconciler"
	// WebhookServiceAccount runs the guard webhook.
	WebhookServiceAccount = "writ-webhook"
)

// ServiceAccounts are Writ's three service accounts: the webhook, the reconciler and the
// controller. Only they may create AuditEvents (audit/controller), and the fallback policies let
// nobody but Kubernetes mint their tokens or run workloads as them (webhook).
var ServiceAccounts = []string{WebhookServiceAccount, ReconcilerServiceAccount, ControllerServiceAccount}
