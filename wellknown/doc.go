// Package wellknown holds the names Writ writes onto Kubernetes objects in one package and reads
// back in another: the labels and annotations its reconciler stamps on what it applies (which the
// guard treats as tracking markers), the namespace label the fallback policies select on, the
// field manager, and the names of Writ's own service accounts.
//
// It imports nothing, so every package that writes or reads one of these names (reconcile/apply,
// webhook, audit/controller, the chart's tests) refers to the same constant; a test in each
// consumer ties the generated YAML (chart, fallback policies) to these values.
//
// Audit event kinds are not here: they belong to package audit (audit.Kind), itself a leaf that
// imports nothing of Writ's, which both the guard and the reconciler import.
package wellknown
