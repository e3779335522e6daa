package webhook

import (
	"fmt"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The static protection: the apiserver never evaluates API-created policies (writ-guard among
// them) for ValidatingAdmissionPolicies and their bindings, so with writ-guard alone an admin can
// delete its binding and then change everything else. A policy loaded from files on the control
// plane (the ValidatingAdmissionPolicy plugin's staticManifestsDir, feature
// ManifestBasedAdmissionControlConfig: beta and on by default in Kubernetes 1.37) is evaluated for
// them, and nothing in the API can remove it. It takes no parameters (static policies cannot), so
// its maintainers are written into it.

// StaticProtectionName names the static policy and its binding. The apiserver requires names of
// static objects to end in .static.k8s.io and refuses API objects with that suffix.
const StaticProtectionName = "writ-guard-protection.static.k8s.io"

// StaticOptions configure StaticProtection.
type StaticOptions struct {
	// Maintainers are the exact user names allowed to change or delete writ-guard's policy and
	// binding (for example the identity that upgrades Writ). Empty means nobody: the policy and
	// binding then change only when the control plane's static manifest does.
	Maintainers []string
}

// StaticProtection returns the static ValidatingAdmissionPolicy and binding that protect the
// fallback policy (FallbackPolicyName) and its binding: an UPDATE that changes their spec, or a
// DELETE (one by one or by collection), is denied unless a maintainer makes it. Updates of
// metadata alone (labels, annotations: what a Helm upgrade rewrites) stay allowed; creating them
// stays allowed so that a first install works. Write both into one file of the directory the
// apiserver's admission configuration names.
func StaticProtection(o StaticOptions) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	quoted := make([]string, 0, len(o.Maintainers))
	for _, m := range o.Maintainers {
		if m == "" || m == "*" || strings.TrimSpace(m) != m || strings.ContainsAny(m, "\n\t") {
			return nil, nil, fmt.Errorf("static protection: maintainer %q: give an exact user name, without spaces", m)
		}
		quoted = append(quoted, strconv.Quote(m))
	}
	fail, forbidden := admissionregistrationv1.Fail, metav1.StatusReasonForbidden
	equivalent := admissionregistrationv1.Equivalent
	cluster := admissionregistrationv1.ClusterScope
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: StaticProtectionName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy: &equivalent,
				// Not limited by resourceNames: a delete by collection reaches admission once per
				// object without its name in the request, so the name is checked below.
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update, admissionregistrationv1.Delete},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{"admissionregistration.k8s.io"}, APIVersions: []string{"*"},
							Resources: []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"}, Scope: &cluster},
					},
				}},
			},
			Variables: []admissionregistrationv1.Variable{
				{Name: "guarded", Expression: "(request.?name.orValue('') != '' ? request.name : oldObject != null ? oldObject.metadata.?name.orValue('') : '') == '" + FallbackPolicyName + "'"},
				{Name: "maintainer", Expression: "request.userInfo.username in [" + strings.Join(quoted, ", ") + "]"},
				{Name: "metadataOnly", Expression: "request.operation == 'UPDATE' && object.spec == oldObject.spec"},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "!variables.guarded || variables.maintainer || variables.metadataOnly",
				Reason:     &forbidden,
				MessageExpression: "'" + FallbackPolicyName + " is protected by the static admission policy " + StaticProtectionName +
					" on the control plane: ' + request.userInfo.username + ' may not ' + request.operation.lowerAscii() + ' its ' +" +
					" request.resource.resource + '; only a maintainer listed in that policy may (or change the static manifest on the control plane)'",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: StaticProtectionName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        StaticProtectionName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit},
		},
	}
	return policy, binding, nil
}
