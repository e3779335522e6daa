package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// credentialsPolicy guards the ways to act or speak as Writ or as one of Kubernetes' exempt
// controllers, in every namespace (kube-system included, where the main policy never looks):
// tokens for their service accounts, legacy token Secrets, pods and pod-template workloads running
// as them, RBAC that binds them or grants impersonation, and AuditEvents. Only Kubernetes itself
// (the apiserver, the kube-controller-manager, a kubelet for a pod bound to it, the workload
// controllers) and the agents pass. It matches nothing else, so a fault in it cannot stop the
// rest of the cluster; and its binding allows when the ConfigMap is missing, so that kubelets
// keep getting their pods' tokens.
func credentialsPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	namespaced, all := admissionregistrationv1.NamespacedScope, admissionregistrationv1.AllScopes
	cu := []admissionregistrationv1.OperationType{create, update}
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: CredentialsPolicyName, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy: &equivalent,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
					rule(&namespaced, []admissionregistrationv1.OperationType{create}, "", []string{"serviceaccounts/token", "pods"}),
					rule(&namespaced, cu, "", []string{"secrets"}),
					rule(&namespaced, cu, "apps", []string{"deployments", "replicasets", "statefulsets", "daemonsets"}),
					rule(&namespaced, cu, "batch", []string{"jobs", "cronjobs"}),
					rule(&all, cu, "rbac.authorization.k8s.io", []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}),
					rule(&namespaced, cud, "writ.dev", []string{"auditevents"}),
				},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{notTheAPIServer(),
				{Name: "not-the-controller-manager", Expression: "request.userInfo.username != 'system:kube-controller-manager'"}},
			Variables:   append(commonVariables(), credentialsVariables...),
			Validations: credentialsValidations,
		},
	}
}

var credentialsVariables = []admissionregistrationv1.Variable{
	{Name: "accountIn", Expression: "'system:serviceaccount:' + variables.ns + ':'"},
	{Name: "isToken", Expression: "variables.group == '' && variables.resource == 'serviceaccounts' && variables.subresource == 'token'"},
	{Name: "isTokenSecret", Expression: "variables.group == '' && variables.resource == 'secrets' && object.?type.orValue('') == 'kubernetes.io/service-account-token'"},
	{Name: "tokenSecretFor", Expression: "variables.accountIn + object.metadata.?annotations[?'kubernetes.io/service-account.name'].orValue('')"},
	{Name: "isWorkload", Expression: "variables.subresource == '' && ((variables.group == '' && variables.resource == 'pods')" +
		" || (variables.group == 'apps' && variables.resource in ['deployments', 'replicasets', 'statefulsets', 'daemonsets'])" +
		" || (variables.group == 'batch' && variables.resource in ['jobs', 'cronjobs']))"},
	{Name: "podSpec", Expression: "variables.resource == 'pods' ? object.?spec.orValue({}) : variables.resource == 'cronjobs' ? object.?spec.?jobTemplate.?spec.?template.?spec.orValue({})" +
		" : object.?spec.?template.?spec.orValue({})"},
	{Name: "oldPodSpec", Expression: "variables.resource == 'cronjobs' ? oldObject.?spec.?jobTemplate.?spec.?template.?spec.orValue({}) : oldObject.?spec.?template.?spec.orValue({})"},
	{Name: "runsAs", Expression: "[variables.podSpec.?serviceAccountName.orValue(''), variables.podSpec.?serviceAccount.orValue('')].filter(n, n != '').map(n, variables.accountIn + n)"},
	{Name: "runsGuarded", Expression: "variables.isWorkload && variables.runsAs.exists(a, a in variables.guardedAccounts)" +
		" && (request.operation == 'CREATE' || variables.podSpec != variables.oldPodSpec)"},
	{Name: "isRBAC", Expression: "variables.group == 'rbac.authorization.k8s.io'"},
	{Name: "guardedGroups", Expression: "['system:serviceaccounts'] + variables.guardedAccounts.map(a, 'system:serviceaccounts:' + a.split(':')[2])"},
	{Name: "bindsGuarded", Expression: "variables.isRBAC && variables.resource in ['rolebindings', 'clusterrolebindings']" +
		" && object.?subjects.orValue([]).exists(s, (s.kind == 'ServiceAccount' && ('system:serviceaccount:' + s.?namespace.orValue(variables.ns) + ':' + s.name) in variables.guardedAccounts)" +
		" || (s.kind == 'User' && s.name in variables.guardedAccounts) || (s.kind == 'Group' && s.name in variables.guardedGroups))" +
		" && (request.operation == 'CREATE' || object.?subjects.orValue([]) != oldObject.?subjects.orValue([]) || object.roleRef != oldObject.roleRef)"},
	{Name: "grantsImpersonate", Expression: "variables.isRBAC && variables.resource in ['roles', 'clusterroles']" +
		" && object.?rules.orValue([]).exists(r, r.verbs.exists(v, v == 'impersonate' || v == '*')" +
		" && r.?apiGroups.orValue([]).exists(g, g in ['', 'authentication.k8s.io', '*'])" +
		" && r.?resources.orValue([]).exists(x, x in ['users', 'groups', 'serviceaccounts', 'uids', '*'] || x.startsWith('userextras')))" +
		" && (request.operation == 'CREATE' || object.?rules.orValue([]) != oldObject.?rules.orValue([]))"},
	{Name: "isAuditEvent", Expression: "variables.group == 'writ.dev' && variables.resource == 'auditevents'"},
	{Name: "account", Expression: "variables.isToken ? variables.accountIn + variables.name : variables.isTokenSecret ? variables.tokenSecretFor" +
		" : variables.runsAs.filter(a, a in variables.guardedAccounts).join(', ')"},
}

var credentialsValidations = []admissionregistrationv1.Validation{
	{
		Expression: "!(variables.isToken && (variables.accountIn + variables.name) in variables.guardedAccounts) || variables.isAgent" +
			" || (variables.isNode && object.spec.?boundObjectRef.?kind.orValue('') == 'Pod')",
		MessageExpression: `'writ: ' + variables.who + ' denied: a token for ' + variables.account + ' would let anyone act as Writ or as a Kubernetes controller;` +
			` only Kubernetes itself (a kubelet, for a pod bound to it; the kube-controller-manager) and the GitOps agent may get one'`,
		Reason: forbidden(),
	},
	{
		Expression:        "!(variables.isTokenSecret && variables.tokenSecretFor in variables.guardedAccounts) || variables.isAgent",
		MessageExpression: `'writ: ' + variables.who + ' denied: a service-account token Secret for ' + variables.account + ' would let anyone act as it; only Kubernetes itself and the GitOps agent may make one'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!variables.runsGuarded || variables.isAgent || variables.user in " + celList(WorkloadControllers),
		MessageExpression: `'writ: ' + variables.who + ' denied: it would run as ' + variables.account + ', which only the GitOps agent (through Git) and Kubernetes\' workload controllers may start;` +
			` declare the workload in Git'`,
		Reason: forbidden(),
	},
	{
		Expression:        "!variables.bindsGuarded || variables.isAgent",
		MessageExpression: `'writ: ' + variables.who + ' denied: RBAC for Writ\'s or Kubernetes\' controllers\' service accounts changes only through the GitOps agent; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!variables.grantsImpersonate || variables.isAgent" +
			" || (variables.user == '" + ksa("clusterrole-aggregation-controller") + "' && variables.resource == 'clusterroles' && has(object.aggregationRule))",
		MessageExpression: `'writ: ' + variables.who + ' denied: a role that grants impersonation lets its holder act as anyone, Writ\'s agent included; only the GitOps agent may create or change one; change it in Git'`,
		Reason:            forbidden(),
	},
	{
		Expression: "!variables.isAuditEvent || (request.operation == 'DELETE' ? variables.isController : variables.isWrit)",
		// UPDATE is the recorders' too: repeats of an aggregated denial add to its count.
		MessageExpression: `'writ: ' + variables.who + ' denied: AuditEvents are written by Writ\'s components alone (' + variables.writAccounts.join(', ') + ') and removed by its controller once stored'`,
		Reason:            forbidden(),
	},
}
