package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SubmitterPolicyName names the admission policies (a MutatingAdmissionPolicy that fills
// AuditEventSpec.Submitter, a ValidatingAdmissionPolicy that checks it) and their bindings; see
// audit/controller.SubmitterPolicies.
const SubmitterPolicyName = "writ-audit-submitter"

// GroupVersion is the API group and version of the kinds in this package.
var GroupVersion = schema.GroupVersion{Group: "writ.dev", Version: "v1alpha1"}

// AddToScheme registers this package's kinds with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AuditEvent{}, &AuditEventList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
