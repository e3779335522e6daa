// Package v1alpha1 holds the TrustPolicy API (writ.dev/v1alpha1): which signers Writ trusts for
// which commits. The same YAML is a cluster-scoped custom resource and a file for `writ verify`.
//
// This package depends only on Kubernetes' API machinery, so the provenance library that compiles
// policies stays free of controller code.
//
// +kubebuilder:object:generate=true
// +groupName=writ.dev
package v1alpha1
