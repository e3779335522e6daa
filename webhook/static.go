package webhook

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// The static protection: the apiserver never evaluates API-created policies (writ-guard among
// them) for admission policies and their bindings, so with writ-guard alone an admin can delete
// its binding and then change everything else, or add a MutatingAdmissionPolicy that rewrites
// what the agent applies. A policy loaded from files on the control plane (the
// ValidatingAdmissionPolicy plugin's staticManifestsDir, feature
// ManifestBasedAdmissionControlConfig: beta and on by default in Kubernetes 1.37) is evaluated for
// them, and nothing in the API can remove it. It takes no parameters (static policies cannot), so
// its agents and maintainers are written into it.

// StaticProtectionName names the static policy and its binding. The apiserver requires names of
// static objects to end in .static.k8s.io and refuses API objects with that suffix.
const StaticProtectionName = "writ-guard-protection.static.k8s.io"

// StaticOptions configure StaticProtection.
type StaticOptions struct {
	// Namespace is Writ's namespace; empty means writ-system.
	Namespace string
	// Agents are the GitOps agents' exact user names, as in FallbackOptions; empty means Writ's
	// reconciler in Namespace.
	Agents []string
	// Maintainers are further exact user names allowed to change admission policies and
	// bindings (for example the identity that upgrades Writ). Empty means only the agents: the
	// rest then changes only when the control plane's static manifest does.
	Maintainers []string
}

// StaticProtection returns the static ValidatingAdmissionPolicy and binding that make admission
// policies agent-only: creating, changing or deleting (one by one or by collection) any
// ValidatingAdmissionPolicy, MutatingAdmissionPolicy or binding of either is denied unless an
// agent or a maintainer makes it, and Writ's own fallback policies and bindings
// (FallbackPolicyName, CredentialsPolicyName) unless a maintainer does: not even the agent may
// unbind what keeps the witness in front of it. Updates of metadata alone (labels, annotations: what a Helm
// upgrade rewrites) stay allowed, and so does creating the fallback's own policies and bindings
// (FallbackPolicyName, CredentialsPolicyName) so that a first install works. Write both into one
// file of the directory the apiserver's admission configuration names.
func StaticProtection(o StaticOptions) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	if o.Namespace == "" {
		o.Namespace = "writ-system"
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return nil, nil, fmt.Errorf("static protection: namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	agents := o.Agents
	if len(agents) == 0 {
		agents = []string{sa(o.Namespace, wellknown.ReconcilerServiceAccount)}
	}
	for _, m := range append(append([]string{}, agents...), o.Maintainers...) {
		if m == "" || m == "*" || strings.TrimSpace(m) != m || strings.ContainsAny(m, "\n\t ") {
			return nil, nil, fmt.Errorf("static protection: agent or maintainer %q: give an exact user name, without spaces", m)
		}
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
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{"admissionregistration.k8s.io"}, APIVersions: []string{"*"},
							Resources: []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"},
							Scope:     &cluster},
					},
				}},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{notTheAPIServer()},
			Variables: []admissionregistrationv1.Variable{
				{Name: "name", Expression: "request.?name.orValue('') != '' ? request.name : oldObject != null ? oldObject.metadata.?name.orValue('') : object.metadata.?name.orValue('')"},
				{Name: "agent", Expression: "request.userInfo.username in " + celList(agents)},
				{Name: "maintainer", Expression: "request.userInfo.username in " + celList(o.Maintainers)},
				// Writ's own fallback policies and their bindings: not the agent's to change
				// (the witness reviews the agent through what they keep), a maintainer's.
				{Name: "writOwn", Expression: "request.resource.resource in ['validatingadmissionpolicies', 'validatingadmissionpolicybindings']" +
					" && variables.name in " + celList([]string{FallbackPolicyName, CredentialsPolicyName})},
				{Name: "metadataOnly", Expression: "request.operation == 'UPDATE' && " + sameExcept("object", "oldObject", "metadata", "status")},
				// The chart's own policies, where they do not exist yet. The audit submitter
				// policies may match AuditEvents alone (the audit component refuses every record
				// while they differ from what it builds).
				{Name: "firstInstall", Expression: "request.operation == 'CREATE' && (" +
					"(request.resource.resource in ['validatingadmissionpolicies', 'validatingadmissionpolicybindings']" +
					" && variables.name in " + celList([]string{FallbackPolicyName, CredentialsPolicyName}) + ")" +
					" || (variables.name == '" + auditv1.SubmitterPolicyName + "' && (" +
					"(request.resource.resource in ['mutatingadmissionpolicies', 'validatingadmissionpolicies'] && !has(object.spec.paramKind)" +
					" && has(object.spec.matchConstraints) && has(object.spec.matchConstraints.resourceRules)" +
					" && object.spec.matchConstraints.resourceRules.all(r, r.apiGroups == ['writ.dev'] && r.resources == ['auditevents']))" +
					" || (request.resource.resource in ['mutatingadmissionpolicybindings', 'validatingadmissionpolicybindings']" +
					" && object.spec.policyName == '" + auditv1.SubmitterPolicyName + "'))))"},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "(variables.agent && !variables.writOwn) || variables.maintainer || variables.metadataOnly || variables.firstInstall",
				Reason:     &forbidden,
				MessageExpression: "'writ: admission policies are protected by the static admission policy " + StaticProtectionName +
					" on the control plane: ' + request.userInfo.username + ' may not ' + request.operation.lowerAscii() + ' ' +" +
					" request.resource.resource + ' ' + variables.name + '; only the GitOps agent (through Git) or a maintainer listed in that policy may (or change the static manifest on the control plane)'",
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
