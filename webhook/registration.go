package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/wellknown"
)

// The guard's two webhooks, both to the same handler: guard.writ.dev reviews everyone but Writ's
// reconciler, outside the excluded namespaces; witness.writ.dev reviews the reconciler in every
// namespace (kube-system and Writ's own too: an agent's write is judged wherever it lands), except
// its bookkeeping (Bookkeeping). A request is reviewed once. Writes by the service accounts Syncs
// name (spec.serviceAccountName) reach the handler through guard.writ.dev, which the witness
// judges as well (Witness.Witnessed).
const (
	GuardWebhookName   = "guard.writ.dev"
	WitnessWebhookName = "witness.writ.dev"
)

// ReconcilerUser is the user name of Writ's reconciler, in Writ's namespace.
func ReconcilerUser(writNamespace string) string {
	return sa(writNamespace, wellknown.ReconcilerServiceAccount)
}

// MatchConditions are guard.writ.dev's matchConditions: the apiserver, a kubelet within
// NodeRestriction (skip.go) and Writ's reconciler, which witness.writ.dev reviews, are not sent.
func MatchConditions(writNamespace string) []admissionregistrationv1.MatchCondition {
	return []admissionregistrationv1.MatchCondition{
		{Name: "not-the-apiserver", Expression: APIServerSkipExpression},
		{Name: "not-a-node", Expression: NodeSkipExpression},
		{Name: "not-writ-reconciler", Expression: "request.userInfo.username != '" + ReconcilerUser(writNamespace) + "'"},
	}
}

// WitnessMatchConditions are witness.writ.dev's matchConditions: Writ's reconciler, except its
// bookkeeping writes.
func WitnessMatchConditions(writNamespace string) []admissionregistrationv1.MatchCondition {
	return []admissionregistrationv1.MatchCondition{
		{Name: "writ-reconciler", Expression: "request.userInfo.username == '" + ReconcilerUser(writNamespace) + "'"},
		{Name: "not-bookkeeping", Expression: "!(" + BookkeepingExpression() + ")"},
	}
}

// Webhooks are the guard's entries of its ValidatingWebhookConfiguration as the chart registers
// them (a test keeps the chart equal), reaching the handler through client: guard.writ.dev for
// every resource and subresource outside excluded (the chart: its exempt namespaces and Writ's),
// and witness.writ.dev for the same in every namespace, both failing closed.
func Webhooks(writNamespace string, client admissionregistrationv1.WebhookClientConfig, excluded []string) []admissionregistrationv1.ValidatingWebhook {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := int32(5)
	all := admissionregistrationv1.AllScopes
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete, admissionregistrationv1.Connect},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Scope: &all},
	}}
	entry := func(name string, conditions []admissionregistrationv1.MatchCondition) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name: name, ClientConfig: client, Rules: rules, MatchConditions: conditions, MatchPolicy: &equivalent,
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}
	}
	guard := entry(GuardWebhookName, MatchConditions(writNamespace))
	guard.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
	}}}
	return []admissionregistrationv1.ValidatingWebhook{guard, entry(WitnessWebhookName, WitnessMatchConditions(writNamespace))}
}
