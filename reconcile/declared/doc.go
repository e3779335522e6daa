// Package declared is Writ's one definition of "the object stores what Git declares".
//
// Drift detection and the check after every apply (reconcile/apply) judge the object the
// apiserver stores, never a server-side dry-run of Writ's apply: a mutating admission policy or
// webhook changes a dry-run exactly as it changes the real write, so a dry-run agrees with
// whatever the mutation stored. The same rule is meant for admission, where the object the
// apiserver is about to store arrives as raw JSON and the budget is a few microseconds.
//
// Compile does all the work that depends only on the Git manifest, once: a core Secret's
// stringData is merged into data (base64), status is dropped (Writ's apply never writes it), the
// manifest is put through the typed round trip of its kind when the client's scheme knows the kind
// (decode into the Go type, encode again), so that a declared value may match in either spelling
// (a quantity "1000m" stored as "1", a false or zero the type omits dropped, base64 re-encoded),
// object keys are sorted and lists are keyed as the kind's schema says. The result, *Fields, is
// immutable and safe for concurrent use; it holds no reference to the manifest (its strings are
// copied into one). It also keeps, for each declared object and list, the JSON of the
// manifest's stored form where that JSON matches it, so that a live subtree stored exactly so
// matches without being read: a shortcut, never a change of the rule.
//
// Two ways to compare, one rule:
//
//   - (*Fields).Diff(live) takes the decoded live object (unstructured's map) and returns every
//     differing path.
//   - (*Fields).FirstDiffJSON(raw) streams over the live object's JSON (as an AdmissionReview
//     carries it), compares only the declared paths, skips everything else without decoding or
//     allocating, and returns the first path Diff would return. Malformed JSON, or JSON that is
//     not an object, is an error, never "no difference": a caller deciding admission fails
//     closed. The whole document is validated, also after a difference is found.
//
// The rule: only fields the manifest sets are compared; defaults, other managers' fields and
// status never are. null in Git unsets a field and declares nothing. A declared empty object or
// list, or a field the typed round trip drops, matches an absent or null live value. Numbers
// compare by value whatever their spelling (3, 3.0, 3e0); strings after JSON unescaping; a
// scalar of another JSON type never matches. A list of a built-in kind is matched as the
// apiserver merges it, by the schema client-go ships for server-side apply, read at Compile time:
// a list-map by the keys of its schema (containers, env and volumes by name, a container's ports
// by containerPort and protocol, a Service's ports by port and protocol, volume mounts by
// mountPath), with the default the apiserver fills in for an absent key (a port's protocol
// "TCP"); an atomic list (tolerations, args, RBAC rules and subjects) and a set by position. A
// custom resource's list of objects each with a distinct string "name" is matched by name, any
// other list by position. In a list matched by keys, extra live elements (a sidecar a mutating
// webhook adds) are not compared, and a live list whose elements do not all have distinct keys
// matches no declared element; a list matched by position must keep its length. Duplicate keys in
// the live JSON: the last one counts, as encoding/json decodes them. Custom resources are stored
// as sent and compared as such; a CRD's conversion webhook that rewrites a declared value is a
// difference.
//
// Paths are spelt from the object's root: ".spec.template.spec.containers[name=web].image",
// ".spec.ports[port=80,protocol=TCP].targetPort", ".subjects[0].name", ".metadata.labels"; Diff and FirstDiffJSON never return values, so a path is
// safe to log even for a Secret. (*Fields).DeclaredAt returns what the manifest declares at such
// a path (compact JSON, the manifest's spelling), for a denial's message: a value, so its caller
// must never show it for a Secret.
//
// GainsOf and (*Fields).FirstUndeclaredGain are the other direction: which fields a write sets,
// and whether the manifest declares them. GainsOf reads the managedFields of the object about to
// be stored and of the stored one (raw JSON, metadata only) and keeps each entry whose fieldsV1
// is not byte for byte the stored object's entry of the same manager, operation, apiVersion and
// subresource; FirstUndeclaredGain walks those field sets, skipping every subtree the old entry
// has byte for byte, and returns the first gained path the manifest does not declare (a field
// the manifest sets, or one under a declared positional list or scalar, is declared; a list-map
// element by its schema keys), with the manager it is attributed to. Status and the reconciler's
// commit annotation are never asked of the manifest. It is the witness's rule that the agent's
// own request may set no field Git does not set, while a field a mutating admission policy adds
// stays allowed: the apiserver computes managedFields before mutating admission, so such a field
// is owned by no entry. An object with no managedFields is ErrNoManagedFields, for the caller to
// deny. Costs (BenchmarkGains, 20 KB Deployment): an update that changes no entry reads the new
// list and compares it with the old one's bytes; a create walks every entry against the manifest.
package declared
