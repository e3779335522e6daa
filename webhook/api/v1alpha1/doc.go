// Package v1alpha1 holds the admission guard's API (writ.dev/v1alpha1): GuardPolicy, which says
// what is protected, who the GitOps agent is, which system writes are exempt and how break-glass
// works; and BreakGlassRequest, a time-boxed, second-person-approved exception.
//
// +kubebuilder:object:generate=true
// +groupName=writ.dev
package v1alpha1
