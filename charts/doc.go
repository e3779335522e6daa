// Package charts holds no code: its tests check Writ's Helm chart (charts/writ). They render it
// with Helm's Go library for the default values and several combinations, check what each
// rendering says (names the guard trusts, TLS wiring, RBAC, storage), check that
// values.schema.json rejects wrong values with a clear message, and, against the real control
// plane, apply every rendered object server-side and ask the apiserver (SubjectAccessReview) what
// each service account may do.
package charts
