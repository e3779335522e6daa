package webhook

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The fallback policy: a ValidatingAdmissionPolicy the apiserver evaluates itself, so that the
// core of the guard holds while the webhook is down, and for the webhook's own configuration,
// which webhooks are never called for. The chart ships the same objects
// (charts/writ/templates/guard-validatingadmissionpolicy.yaml); a test keeps the two equal.
const (
	// FallbackPolicyName names the ValidatingAdmissionPolicy and its binding.
	FallbackPolicyName = "writ-guard"
	// FallbackParamsName names the ConfigMap, in Writ's namespace, that lists the agents and
	// exemptions: the policy's parameters.
	FallbackParamsName = "writ-guard-agents"
	// ProtectedNamespaceLabel, set to "true", marks a namespace the fallback policy protects.
	ProtectedNamespaceLabel = "writ.dev/protected"
	// ControllerServiceAccount is Writ's controller, in Writ's namespace: it alone (with the
	// agents) may change Writ's keys.
	ControllerServiceAccount = "writ-controller"
	// ReconcilerServiceAccount is Writ's own GitOps agent, in Writ's namespace.
	ReconcilerServiceAccount = "writ-reconciler"
)

// Keys of the parameter ConfigMap. Each holds one entry per line; blank lines and lines starting
// with # are ignored.
const (
	// FallbackAgentsKey lists the agents' user names, exactly (a service account is
	// system:serviceaccount:<namespace>:<name>).
	FallbackAgentsKey = "agents"
	// FallbackExemptKey lists exemptions: "<identity> <resource>...", where identity is a user
	// name or group:<group> and each resource is <resource>[.<group>][/<subresource>], for example
	// "system:serviceaccount:kube-system:horizontal-pod-autoscaler deployments.apps/scale".
	FallbackExemptKey = "exempt"
	// FallbackBreakGlassKey lists approved break-glass grants, "<user> <namespace>", for Writ's
	// controller to maintain: the only key it may change.
	FallbackBreakGlassKey = "breakGlass"
)

// DefaultFallbackExempt is what Kubernetes itself must keep doing in protected namespaces: the
// exemptions of the shipped GuardPolicies (policies/), plus what the kubelet and scheduler need
// to run a pod and the namespace controller needs to finish deleting a namespace. Controllers are
// the kube-controller-manager's per-controller service accounts
// (--use-service-account-credentials, kubeadm's default); a control plane that runs them all as
// system:kube-controller-manager needs that user listed instead.
var DefaultFallbackExempt = []string{
	"group:system:nodes pods pods/status serviceaccounts/token events events.events.k8s.io",
	"system:kube-scheduler pods/binding bindings pods/status events events.events.k8s.io",
	ksa("horizontal-pod-autoscaler") + " deployments.apps/scale statefulsets.apps/scale replicasets.apps/scale",
	ksa("deployment-controller") + " replicasets.apps deployments.apps/status events events.events.k8s.io",
	ksa("replicaset-controller") + " pods replicasets.apps/status events events.events.k8s.io",
	ksa("statefulset-controller") + " pods persistentvolumeclaims controllerrevisions.apps statefulsets.apps/status events events.events.k8s.io",
	ksa("daemon-set-controller") + " pods controllerrevisions.apps daemonsets.apps/status events events.events.k8s.io",
	ksa("job-controller") + " pods jobs.batch jobs.batch/status events events.events.k8s.io",
	ksa("cronjob-controller") + " jobs.batch cronjobs.batch/status events events.events.k8s.io",
	ksa("ttl-after-finished-controller") + " jobs.batch",
	ksa("generic-garbage-collector") + " replicasets.apps deployments.apps controllerrevisions.apps jobs.batch pods configmaps secrets services endpointslices.discovery.k8s.io",
	ksa("endpointslice-controller") + " endpointslices.discovery.k8s.io",
	ksa("endpointslicemirroring-controller") + " endpointslices.discovery.k8s.io",
	ksa("endpoint-controller") + " endpoints",
	ksa("root-ca-cert-publisher") + " configmaps",
	ksa("service-account-controller") + " serviceaccounts",
	ksa("namespace-controller") + " namespaces/finalize namespaces/status",
	ksa("resourcequota-controller") + " resourcequotas/status",
	ksa("disruption-controller") + " poddisruptionbudgets.policy/status",
	ksa("pvc-protection-controller") + " persistentvolumeclaims",
	ksa("persistent-volume-binder") + " persistentvolumeclaims persistentvolumeclaims/status",
	ksa("pod-garbage-collector") + " pods pods/status",
	ksa("node-controller") + " pods pods/status",
	ksa("taint-eviction-controller") + " pods",
}

func ksa(name string) string { return "system:serviceaccount:kube-system:" + name }

// SealingExemption is the exemption line for Writ's sealing component (writ-controller in
// namespace): the Secrets it unseals into protected namespaces, SealedSecret status and events.
// The chart adds it when sealing is enabled.
func SealingExemption(namespace string) string {
	return "system:serviceaccount:" + namespace + ":" + ControllerServiceAccount + " secrets sealedsecrets.bitnami.com/status events events.events.k8s.io"
}

// FallbackOptions configure FallbackPolicy.
type FallbackOptions struct {
	// Namespace is Writ's namespace: the parameter ConfigMap, the keys and the controller are
	// there. Required.
	Namespace string
	// Agents are the GitOps agents' user names; empty means Writ's reconciler in Namespace.
	Agents []string
	// Exempt are exemptions in FallbackExemptKey's format; empty means DefaultFallbackExempt.
	Exempt []string
}

// FallbackPolicy returns the fallback ValidatingAdmissionPolicy, its binding and the ConfigMap it
// reads (see the package documentation for what it protects). The binding denies while the
// ConfigMap is missing: create the ConfigMap first.
func FallbackPolicy(o FallbackOptions) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding, *corev1.ConfigMap, error) {
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return nil, nil, nil, fmt.Errorf("fallback policy: namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	agents := o.Agents
	if len(agents) == 0 {
		agents = []string{"system:serviceaccount:" + o.Namespace + ":" + ReconcilerServiceAccount}
	}
	for _, a := range agents {
		if a == "" || a == "*" || strings.ContainsAny(a, " \t\n") || strings.HasPrefix(a, "#") {
			return nil, nil, nil, fmt.Errorf("fallback policy: agent %q: give an exact user name, without spaces", a)
		}
	}
	exempt := o.Exempt
	if len(exempt) == 0 {
		exempt = DefaultFallbackExempt
	}
	for _, e := range exempt {
		if err := validExemption(e); err != nil {
			return nil, nil, nil, fmt.Errorf("fallback policy: exemption %q: %v", e, err)
		}
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: FallbackParamsName, Namespace: o.Namespace, Labels: partOfWrit()},
		Data: map[string]string{
			FallbackAgentsKey: strings.Join(agents, "\n"),
			FallbackExemptKey: strings.Join(exempt, "\n"),
		},
	}
	return fallbackPolicy(), fallbackBinding(o.Namespace), cm, nil
}

func validExemption(e string) error {
	f := strings.Fields(e)
	if strings.ContainsAny(e, "\t\n") || len(f) < 2 || strings.HasPrefix(f[0], "#") {
		return fmt.Errorf(`write "<user or group:<name>> <resource>...", separated by single spaces`)
	}
	for _, x := range f {
		if strings.Contains(x, "*") {
			return fmt.Errorf("name the identity and resources: an exemption never takes a wildcard")
		}
	}
	return nil
}

func partOfWrit() map[string]string { return map[string]string{"app.kubernetes.io/part-of": "writ"} }

func fallbackBinding(namespace string) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	deny := admissionregistrationv1.DenyAction
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: FallbackPolicyName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        FallbackPolicyName,
			ParamRef:          &admissionregistrationv1.ParamRef{Name: FallbackParamsName, Namespace: namespace, ParameterNotFoundAction: &deny},
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit},
		},
	}
}

func fallbackPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	namespaced, cluster := admissionregistrationv1.NamespacedScope, admissionregistrationv1.ClusterScope
	cud := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	rule := func(scope *admissionregistrationv1.ScopeType, ops []admissionregistrationv1.OperationType, group string, resources []string, names ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{ResourceNames: names, RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: append([]admissionregistrationv1.OperationType(nil), ops...),
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources, Scope: scope},
		}}
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: FallbackPolicyName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				// The system namespaces are never guarded, so a broken policy or a missing
				// ConfigMap cannot stop the control plane.
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn,
					Values: []string{"kube-system", "kube-public", "kube-node-lease"},
				}}},
				MatchPolicy: &equivalent,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
					rule(&namespaced, append(cud, admissionregistrationv1.Connect), "*", []string{"*/*"}),
					rule(&cluster, cud, "", []string{"namespaces", "namespaces/*"}),
					rule(&cluster, cud, "writ.dev", []string{"guardpolicies", "guardpolicies/*", "trustpolicies", "trustpolicies/*", "breakglassrequests", "breakglassrequests/*"}),
					rule(&cluster, cud, "admissionregistration.k8s.io", []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}),
					// Not limited by resourceNames: a delete by collection carries no names.
					rule(&cluster, cud, "apiextensions.k8s.io", []string{"customresourcedefinitions"}),
				},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "not-the-apiserver", Expression: "request.userInfo.username != 'system:apiserver'"}},
			Variables:       fallbackVariables,
			Validations:     fallbackValidations,
		},
	}
}

// The variables, in order; each may use those before it. Namespace-dependent ones are evaluated
// only by validations (matchConditions see no namespaceObject).
var fallbackVariables = []admissionregistrationv1.Variable{
	{Name: "user", Expression: "request.userInfo.username"},
	{Name: "groups", Expression: "request.userInfo.?groups.orValue([])"},
	{Name: "ns", Expression: "request.?namespace.orValue('')"},
	// A delete by collection reaches admission once per object, without its name in the request.
	{Name: "name", Expression: "request.?name.orValue('') != '' ? request.name : oldObject != null ? oldObject.metadata.?name.orValue('') : ''"},
	{Name: "group", Expression: "request.resource.?group.orValue('')"},
	{Name: "resource", Expression: "request.resource.resource"},
	{Name: "subresource", Expression: "request.?subResource.orValue('')"},
	{Name: "ref", Expression: "variables.resource + (variables.group == '' ? '' : '.' + variables.group) + (variables.subresource == '' ? '' : '/' + variables.subresource)"},
	{Name: "writNamespace", Expression: "params.metadata.namespace"},
	{Name: "agents", Expression: lines(FallbackAgentsKey)},
	{Name: "exempt", Expression: lines(FallbackExemptKey) + ".map(l, l.split(' ').filter(t, t != ''))"},
	{Name: "grants", Expression: lines(FallbackBreakGlassKey) + ".map(l, l.split(' ').filter(t, t != ''))"},
	{Name: "isAgent", Expression: "variables.user in variables.agents"},
	{Name: "isController", Expression: "variables.user == 'system:serviceaccount:' + variables.writNamespace + ':" + ControllerServiceAccount + "'"},
	{Name: "isExempt", Expression: "variables.exempt.exists(e, (e[0].startsWith('group:') ? e[0].substring(6) in variables.groups : e[0] == variables.user) && e.exists(t, t != e[0] && t == variables.ref))"},
	{Name: "inProtectedNamespace", Expression: "namespaceObject != null && namespaceObject.metadata.?labels[?'" + ProtectedNamespaceLabel + "'].orValue('') == 'true'"},
	{Name: "hasGrant", Expression: "variables.grants.exists(g, g.size() == 2 && g[0] == variables.user && g[1] == variables.ns)"},
	{Name: "isNamespace", Expression: "variables.group == '' && variables.resource == 'namespaces'"},
	{Name: "labelled", Expression: "[object, oldObject].exists(o, o != null && o.metadata.?labels[?'" + ProtectedNamespaceLabel + "'].orValue('') == 'true')"},
	{Name: "isWritConfig", Expression: "(variables.group == 'writ.dev' && variables.resource in ['guardpolicies', 'trustpolicies'])" +
		" || (variables.group == 'apiextensions.k8s.io' && variables.resource == 'customresourcedefinitions' && variables.name.endsWith('.writ.dev'))" +
		" || (variables.group == 'admissionregistration.k8s.io' && variables.resource in ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] && variables.name.startsWith('writ-'))"},
	{Name: "isWritKey", Expression: "variables.ns == variables.writNamespace && variables.group == '' && (" +
		"(variables.resource == 'secrets' && (variables.name == 'writ-audit-signing-key' || [object, oldObject].exists(o, o != null && o.metadata.?labels[?'sealedsecrets.bitnami.com/sealed-secrets-key'].hasValue())))" +
		" || (variables.resource == 'configmaps' && variables.name == 'writ-audit-public-key'))"},
	{Name: "isParams", Expression: "variables.ns == variables.writNamespace && variables.group == '' && variables.resource == 'configmaps' && variables.name == params.metadata.name"},
	{Name: "onlyGrantsChanged", Expression: "request.operation == 'UPDATE'" +
		" && object.?data.orValue({}).all(k, k == '" + FallbackBreakGlassKey + "' || (k in oldObject.?data.orValue({}) && oldObject.data[k] == object.data[k]))" +
		" && oldObject.?data.orValue({}).all(k, k == '" + FallbackBreakGlassKey + "' || k in object.?data.orValue({}))"},
	{Name: "isAgentCredential", Expression: "variables.group == '' && (" +
		"(variables.resource == 'serviceaccounts' && variables.subresource == 'token' && ('system:serviceaccount:' + variables.ns + ':' + variables.name) in variables.agents)" +
		" || (variables.resource == 'secrets' && [object, oldObject].exists(o, o != null && o.?type.orValue('') == 'kubernetes.io/service-account-token'" +
		" && ('system:serviceaccount:' + variables.ns + ':' + o.metadata.?annotations[?'kubernetes.io/service-account.name'].orValue('')) in variables.agents)))"},
	{Name: "isBreakGlassRequest", Expression: "variables.group == 'writ.dev' && variables.resource == 'breakglassrequests'"},
	{Name: "who", Expression: `request.operation.lowerAscii() + ' of ' + variables.ref + ' ' + (variables.ns == '' || variables.isNamespace ? '' : variables.ns + '/')` +
		` + (variables.name != '' ? variables.name : request.operation == 'CREATE' ? '(new object)' : '(collection)') + ' by "' + variables.user + '"'`},
}

// lines is the expression for a parameter key's entries.
func lines(key string) string {
	return "params.?data.?" + key + ".orValue('').split('\\n').map(l, l.trim()).filter(l, l != '' && !l.startsWith('#'))"
}

// The validations: each must hold. Messages say who was denied and that changes go through Git.
var fallbackValidations = []admissionregistrationv1.Validation{
	{
		Expression: "!variables.inProtectedNamespace || variables.isAgent || variables.isExempt || variables.hasGrant" +
			" || (request.operation == 'DELETE' && has(namespaceObject.metadata.deletionTimestamp))",
		MessageExpression: `'writ: ' + variables.who + ' denied: namespace ' + variables.ns + ' is protected (` + ProtectedNamespaceLabel + `=true) and only the GitOps agent may change it; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isNamespace || variables.isAgent || variables.isExempt || !(variables.labelled || (request.operation == 'DELETE' && variables.name == variables.writNamespace))",
		MessageExpression: `'writ: ' + variables.who + ' denied: the namespace is protected (` + ProtectedNamespaceLabel + `=true) or holds Writ, and only the GitOps agent may change or delete it; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isWritConfig || variables.isAgent || (variables.isExempt && variables.group == 'admissionregistration.k8s.io')",
		MessageExpression: `'writ: ' + variables.who + ' denied: Writ configures itself from Git, so only the GitOps agent may change its policies, CRDs and webhook; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isWritKey || variables.isAgent || variables.isController",
		MessageExpression: `'writ: ' + variables.who + ' denied: only Writ\'s controller (' + variables.writNamespace + '/` + ControllerServiceAccount + `) or the GitOps agent may change Writ\'s keys; change them in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isParams || variables.isAgent || (variables.isController && variables.onlyGrantsChanged)",
		MessageExpression: `'writ: ' + variables.who + ' denied: the guard\'s agents and exemptions change only through the GitOps agent (Writ\'s controller may change ` + FallbackBreakGlassKey + ` alone); change them in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isAgentCredential || variables.isAgent || variables.isExempt",
		MessageExpression: `'writ: ' + variables.who + ' denied: a token for a GitOps agent would let anyone act as the agent; only the agent and the kubelet may get one'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isBreakGlassRequest && request.operation == 'CREATE')" +
			" || (object.spec.requester == variables.user && object.spec.?approvedBy.orValue('') == '' && !has(object.spec.approvedAt))",
		MessageExpression: `'writ: ' + variables.who + ' denied: create a break-glass request unapproved and for yourself (spec.requester "' + variables.user + '"); another person approves it'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isBreakGlassRequest && request.operation == 'UPDATE') || object.spec == oldObject.spec" +
			" || (oldObject.spec.?approvedBy.orValue('') == '' && object.spec.?approvedBy.orValue('') == variables.user && variables.user != oldObject.spec.requester" +
			" && has(object.spec.approvedAt) && object.spec.requester == oldObject.spec.requester && object.spec.justification == oldObject.spec.justification" +
			" && object.spec.?ticket.orValue('') == oldObject.spec.?ticket.orValue('') && object.spec.scope == oldObject.spec.scope && object.spec.duration == oldObject.spec.duration)",
		MessageExpression: `'writ: ' + variables.who + ' denied: an approved break-glass request never changes, and a pending one changes only when another person approves it by setting spec.approvedBy to themselves and spec.approvedAt; create a new request instead'`,
		Reason:            forbidden(),
	},
}

func forbidden() *metav1.StatusReason {
	r := metav1.StatusReasonForbidden
	return &r
}
