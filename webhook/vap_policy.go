package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/wellknown"
)

// notGrantable are the API groups a break-glass grant never covers: RBAC, admission
// configuration, CRDs and Writ's own kinds.
var notGrantable = []string{"rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "writ.dev"}

func rule(scope *admissionregistrationv1.ScopeType, ops []admissionregistrationv1.OperationType, group string, resources []string) admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: append([]admissionregistrationv1.OperationType(nil), ops...),
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources, Scope: scope},
	}}
}

var (
	create, update, del, connect = admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete, admissionregistrationv1.Connect
	cud                          = []admissionregistrationv1.OperationType{create, update, del}
)

// fallbackPolicy is the main policy: every namespace but the system ones.
func fallbackPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	namespaced, cluster := admissionregistrationv1.NamespacedScope, admissionregistrationv1.ClusterScope
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: FallbackPolicyName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				// The system namespaces are never matched, so a broken policy or a missing
				// ConfigMap cannot stop the control plane. (The credentials policy covers them
				// for tokens, pods and RBAC.)
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn,
					Values: []string{"kube-system", "kube-public", "kube-node-lease"},
				}}},
				MatchPolicy: &equivalent,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
					rule(&namespaced, append(cud, connect), "*", []string{"*/*"}),
					rule(&cluster, cud, "", []string{"namespaces", "namespaces/*"}),
					rule(&cluster, cud, "writ.dev", []string{"*/*"}),
					rule(&cluster, cud, "admissionregistration.k8s.io", []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}),
					// Not limited by resourceNames: a delete by collection carries no names.
					rule(&cluster, cud, "apiextensions.k8s.io", []string{"customresourcedefinitions"}),
				},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{notTheAPIServer()},
			Variables:       append(commonVariables(), fallbackVariables...),
			Validations:     fallbackValidations,
		},
	}
}

// The main policy's own variables, after commonVariables. Namespace-dependent ones are evaluated
// only by validations (matchConditions see no namespaceObject).
var fallbackVariables = []admissionregistrationv1.Variable{
	// What an exemption's constraint allows (see FallbackExemptKey).
	{Name: "gcChange", Expression: "request.operation == 'DELETE' || (request.operation == 'UPDATE' && variables.subresource == ''" +
		" && " + sameExcept("object", "oldObject", "metadata") +
		" && " + sameExcept("object.metadata", "oldObject.metadata", withBookkeeping("ownerReferences", "finalizers")...) + ")"},
	{Name: "ownerKinds", Expression: "(request.operation == 'DELETE' ? oldObject : object).metadata.?ownerReferences.orValue([]).filter(r, r.?controller.orValue(false)).map(r, r.kind)"},
	{Name: "ownerKept", Expression: "request.operation != 'UPDATE' || (oldObject.metadata.?ownerReferences.orValue([]).exists(r, r.?controller.orValue(false) && r.kind in variables.ownerKinds)" +
		" && " + sameExcept("object.?spec.orValue({})", "oldObject.?spec.orValue({})", "replicas", "minReadySeconds") + ")"},
	{Name: "namesakeKinds", Expression: "(request.operation == 'DELETE' ? oldObject : object).metadata.?ownerReferences.orValue([]).filter(r, r.name == variables.name).map(r, r.kind)"},
	{Name: "caBundleChange", Expression: "request.operation == 'UPDATE' && variables.subresource == ''" +
		" && " + sameExcept("object", "oldObject", "metadata", "webhooks") +
		" && " + sameExcept("object.metadata", "oldObject.metadata", bookkeeping...) +
		" && object.?webhooks.orValue([]).size() == oldObject.?webhooks.orValue([]).size()" +
		" && object.?webhooks.orValue([]).all(w, oldObject.webhooks.exists(o, o.name == w.name && " + sameExcept("w", "o", "clientConfig") +
		" && " + sameExcept("w.clientConfig", "o.clientConfig", "caBundle") + "))"},
	{Name: "isExempt", Expression: "variables.exempt.exists(e, (e.id.startsWith('group:') ? e.id.substring(6) in variables.groups && (e.id != 'group:system:nodes' || variables.isNode) : e.id == variables.user)" +
		" && e.targets.exists(t, (t.target == variables.ref || t.target == variables.ref + ':' + variables.name) && (t.constraint == ''" +
		" || (t.constraint == 'gc' && variables.gcChange)" +
		" || (t.constraint == 'delete' && request.operation == 'DELETE')" +
		" || (t.constraint == 'cabundle' && variables.caBundleChange)" +
		" || (t.constraint.startsWith('owner=') && t.constraint.substring(6) in variables.ownerKinds && variables.ownerKept)" +
		" || (t.constraint.startsWith('namesake=') && t.constraint.substring(9) in variables.namesakeKinds))))"},
	{Name: "inProtectedNamespace", Expression: "namespaceObject != null && namespaceObject.metadata.?labels[?'" + wellknown.ProtectedNamespaceLabel + "'].orValue('') == 'true'"},
	// (A Namespace's own request carries its name as the namespace: that is the namespace rule's.)
	{Name: "inWritNamespace", Expression: "variables.ns != '' && variables.ns == variables.writNamespace && !(variables.group == '' && variables.resource == 'namespaces')"},
	{Name: "terminating", Expression: "request.operation == 'DELETE' && namespaceObject != null && namespaceObject.?metadata.?deletionTimestamp.hasValue()"},
	// Break-glass grants: lines "<user> <namespace> [resources=g/r,...] [names=n,...] ...".
	{Name: "myGrants", Expression: lines(FallbackBreakGlassKey) + ".filter(l, l.split(' ')[0] == variables.user)"},
	{Name: "hasGrant", Expression: "variables.ns != '' && variables.ns != variables.writNamespace && variables.ns != 'kube-system' && !(variables.group in " + celList(notGrantable) + ")" +
		" && variables.myGrants.map(l, l.split(' ').filter(t, t != '')).exists(g, g.size() >= 2 && g[1] == variables.ns" +
		" && g.all(t, !t.startsWith('resources=') || t.substring(10).split(',').exists(p, p.indexOf('/') >= 0" +
		" && (p.substring(0, p.indexOf('/')) == '*' || p.substring(0, p.indexOf('/')) == variables.group)" +
		" && (p.substring(p.indexOf('/') + 1) == '*' || p.substring(p.indexOf('/') + 1) == variables.resource)))" +
		" && g.all(t, !t.startsWith('names=') || variables.name in t.substring(6).split(',')))"},
	// What Writ's own components write in Writ's namespace.
	{Name: "isWritKey", Expression: "variables.inWritNamespace && variables.group == '' && (" +
		"(variables.resource == 'secrets' && (variables.name.startsWith('writ-') || [object, oldObject].exists(o, o != null && o.metadata.?labels[?'sealedsecrets.bitnami.com/sealed-secrets-key'].hasValue())))" +
		" || (variables.resource == 'configmaps' && variables.name == 'writ-audit-public-key'))"},
	{Name: "isParams", Expression: "variables.inWritNamespace && variables.group == '' && variables.resource == 'configmaps' && variables.name == params.metadata.name"},
	{Name: "onlyGrantsChanged", Expression: "request.operation == 'UPDATE'" +
		" && " + sameExcept("object.?data.orValue({})", "oldObject.?data.orValue({})", FallbackBreakGlassKey)},
	{Name: "componentWrite", Expression: "variables.isWrit && (variables.ref in ['leases.coordination.k8s.io', 'events', 'events.events.k8s.io']" +
		" || (variables.group == 'writ.dev' && variables.resource == 'auditevents')" +
		" || (variables.isController && (variables.isWritKey || (variables.isParams && variables.onlyGrantsChanged))))"},
	{Name: "isNamespace", Expression: "variables.group == '' && variables.resource == 'namespaces'"},
	{Name: "labelled", Expression: "[object, oldObject].exists(o, o != null && o.metadata.?labels[?'" + wellknown.ProtectedNamespaceLabel + "'].orValue('') == 'true')"},
	// Writ's configuration (GuardPolicies, TrustPolicies, GitSources, Syncs, ...: every writ.dev
	// kind but break-glass requests and AuditEvents), its CRDs, and every webhook configuration.
	{Name: "isWritConfig", Expression: "(variables.group == 'writ.dev' && !(variables.resource in ['breakglassrequests', 'auditevents']))" +
		" || (variables.group == 'apiextensions.k8s.io' && variables.resource == 'customresourcedefinitions' && variables.name.endsWith('.writ.dev'))" +
		" || (variables.group == 'admissionregistration.k8s.io' && variables.resource in ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'])"},
	// Writ's own admission configuration (writ-guard, writ-breakglass: labelled part of Writ when
	// stored), which the agent may relabel and whose CA bundles it may refresh, never otherwise
	// change or delete: the witness reviews the agent through it, and the apiserver never sends
	// it to a webhook.
	{Name: "isWritAdmission", Expression: "variables.group == 'admissionregistration.k8s.io' && oldObject != null" +
		" && oldObject.metadata.?labels[?'app.kubernetes.io/part-of'].orValue('') == 'writ'"},
	{Name: "isBreakGlassRequest", Expression: "variables.group == 'writ.dev' && variables.resource == 'breakglassrequests'"},
	// Read only for a CREATE of a BreakGlassRequest.
	{Name: "scope", Expression: "object.spec.?scope.orValue({})"},
}

// The validations: each must hold. Messages say who was denied and that changes go through Git.
var fallbackValidations = []admissionregistrationv1.Validation{
	{
		Expression:        "!variables.isWritKey || variables.isAgent || variables.isController",
		MessageExpression: `'writ: ' + variables.who + ' denied: only Writ\'s controller (' + variables.writNamespace + '/` + wellknown.ControllerServiceAccount + `) or the GitOps agent may change Writ\'s keys; change them in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isParams || variables.isAgent || (variables.isController && variables.onlyGrantsChanged)",
		MessageExpression: `'writ: ' + variables.who + ' denied: the guard\'s agents and exemptions change only through the GitOps agent (Writ\'s controller may change ` + FallbackBreakGlassKey + ` alone); change them in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!variables.inProtectedNamespace || variables.isAgent || variables.isExempt || variables.hasGrant" +
			" || variables.terminating",
		MessageExpression: `'writ: ' + variables.who + ' denied: namespace ' + variables.ns + ' is protected (` + wellknown.ProtectedNamespaceLabel + `=true) and only the GitOps agent may change it; change it in Git'` +
			` + (variables.myGrants.size() == 0 ? '' : '. Your break-glass grants do not cover this request (a grant never covers ` + joinedNotGrantable() +
			`): ' + variables.myGrants.join('; '))`,
		Reason: forbidden(),
	},
	{
		Expression: "!variables.inWritNamespace || variables.isAgent || variables.isExempt || variables.componentWrite" +
			" || variables.terminating || (request.operation == 'CONNECT' && variables.ref == 'services/proxy')",
		MessageExpression: `'writ: ' + variables.who + ' denied: namespace ' + variables.ns + ' is Writ\'s own (its sources, syncs, RBAC, service accounts, keys and workloads), and only the GitOps agent may change it; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression:        "!variables.isNamespace || variables.isAgent || variables.isExempt || !(variables.labelled || (request.operation == 'DELETE' && variables.name == variables.writNamespace))",
		MessageExpression: `'writ: ' + variables.who + ' denied: the namespace is protected (` + wellknown.ProtectedNamespaceLabel + `=true) or holds Writ, and only the GitOps agent may change or delete it; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!variables.isWritConfig || variables.isAgent || (variables.isExempt && variables.group == 'admissionregistration.k8s.io')" +
			" || (variables.isWrit && variables.group == 'writ.dev' && variables.subresource == 'status')",
		MessageExpression: `'writ: ' + variables.who + ' denied: Writ configures itself, and the cluster\'s admission, from Git, so only the GitOps agent may change Writ\'s sources, syncs, policies and CRDs or any webhook configuration; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isWritAdmission && variables.isAgent) || variables.caBundleChange" +
			" || (request.operation == 'UPDATE' && object.metadata.?labels[?'app.kubernetes.io/part-of'].orValue('') == 'writ'" +
			" && " + sameExcept("object", "oldObject", "metadata") + ")",
		MessageExpression: `'writ: ' + variables.who + ' denied: the GitOps agent may relabel Writ\'s own webhook configurations and refresh their CA bundles, never otherwise change or delete them: the witness reviews the agent through them, and the apiserver never lets a webhook judge this; a person upgrades them (see the README, Installing)'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isBreakGlassRequest && request.operation == 'CREATE')" +
			" || (object.spec.requester == variables.user && object.spec.?approvedBy.orValue('') == '' && !has(object.spec.approvedAt))",
		MessageExpression: `'writ: ' + variables.who + ' denied: create a break-glass request unapproved and for yourself (spec.requester "' + variables.user + '"); another person approves it'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isBreakGlassRequest && request.operation == 'CREATE')" +
			" || ((variables.scope.?namespaces.orValue([]).size() > 0 || variables.scope.?clusterResources.orValue([]).size() > 0)" +
			" && !variables.scope.?namespaces.orValue([]).exists(n, n == '' || n == '*' || n == variables.writNamespace || n == 'kube-system')" +
			" && !variables.scope.?resources.orValue([]).exists(r, r.?apiGroups.orValue([]).exists(g, g in " + celList(notGrantable) + "))" +
			" && variables.scope.?clusterResources.orValue([]).all(c, c.?names.orValue([]).size() > 0 && !(c.?apiGroup.orValue('') in " + celList(notGrantable) + ")))",
		MessageExpression: `'writ: ' + variables.who + ' denied: a break-glass scope names namespaces (never empty, "*", kube-system or Writ\'s ' + variables.writNamespace + ') and cluster-scoped objects only by name, and never RBAC, admission configuration, CRDs or Writ\'s kinds (` + joinedNotGrantable() + `)'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!(variables.isBreakGlassRequest && request.operation == 'UPDATE') || object.spec == oldObject.spec" +
			" || (oldObject.spec.?approvedBy.orValue('') == '' && object.spec.?approvedBy.orValue('') == variables.user && variables.user != oldObject.spec.requester" +
			" && has(object.spec.approvedAt) && " + sameExcept("object.spec", "oldObject.spec", "approvedBy", "approvedAt") + ")",
		MessageExpression: `'writ: ' + variables.who + ' denied: an approved break-glass request never changes, and a pending one changes only when another person approves it by setting spec.approvedBy to themselves and spec.approvedAt; create a new request instead'`,
		Reason:            forbidden(),
	},
}

func joinedNotGrantable() string {
	s := ""
	for i, g := range notGrantable {
		if i > 0 {
			s += ", "
		}
		s += g
	}
	return s + ", Writ\\'s namespace or kube-system"
}
