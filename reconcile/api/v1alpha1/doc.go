// Package v1alpha1 holds the reconciler's API (writ.dev/v1alpha1): GitSource, a repository Writ
// fetches and verifies against a TrustPolicy, and Sync, a path of a source applied to the cluster
// with pruning and drift handling.
//
// +kubebuilder:object:generate=true
// +groupName=writ.dev
package v1alpha1
