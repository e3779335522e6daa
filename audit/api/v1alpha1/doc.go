// Package v1alpha1 holds the AuditEvent API (writ.dev/v1alpha1): an audit record in transit from
// a component that observed it (a webhook replica, the reconciler) to the audit store. The audit
// controller ingests each AuditEvent into the hash-chained store and then deletes it, so the
// Kubernetes API (etcd, RBAC, HA) carries records between replicas without losing them and
// without a network call in the admission path.
//
// +kubebuilder:object:generate=true
// +groupName=writ.dev
package v1alpha1
