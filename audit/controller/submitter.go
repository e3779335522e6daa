package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// The submitter stamp. Every AuditEvent carries, in spec.submitter, who created it as the
// apiserver authenticated them: a MutatingAdmissionPolicy writes it from request.userInfo on
// create (overwriting whatever the client sent) and carries the stored value over on update, and a
// ValidatingAdmissionPolicy, evaluated after every mutation, denies a create whose stamp is not
// the requester's or an update that changes it. The ingester stores only events stamped with one
// of Writ's service accounts (Submitters). The chart ships the same objects
// (charts/writ/templates/audit-mutatingadmissionpolicy.yaml); a test keeps the two equal.
const (
	// SubmitterPolicyName names the MutatingAdmissionPolicy, the ValidatingAdmissionPolicy and
	// their bindings.
	SubmitterPolicyName = auditv1.SubmitterPolicyName
)

// Writ's service accounts, in Writ's namespace: the only ones whose AuditEvents are stored.
var submitterAccounts = wellknown.ServiceAccounts

// Submitters returns the user names of Writ's service accounts in namespace: the webhook, the
// reconciler and the controller, the only submitters the ingester accepts.
func Submitters(namespace string) []string {
	out := make([]string, len(submitterAccounts))
	for i, sa := range submitterAccounts {
		out[i] = "system:serviceaccount:" + namespace + ":" + sa
	}
	return out
}

// stampExpression is the MutatingAdmissionPolicy's JSON patch: on create, spec.submitter is the
// requester; on update, it is the stored object's (or absent, if the stored object has none), so
// neither a client's create nor anyone's update can choose it.
const stampExpression = `request.operation == "CREATE" ?
  [
    JSONPatch{op: "add", path: "/spec/submitter", value: {"username": request.userInfo.username}},
    JSONPatch{op: "add", path: "/spec/submitter/uid", value: request.userInfo.?uid.orValue("")}
  ] + (has(request.userInfo.groups) ?
    [JSONPatch{op: "add", path: "/spec/submitter/groups", value: request.userInfo.groups.map(g, g)}] : []) :
has(oldObject.spec.submitter) ?
  [JSONPatch{op: "add", path: "/spec/submitter", value: oldObject.spec.submitter}] :
has(object.spec.submitter) ? [JSONPatch{op: "remove", path: "/spec/submitter"}] : []`

// The ValidatingAdmissionPolicy's checks, run after every mutation (another mutating policy or
// webhook could otherwise rewrite the stamp after Writ's).
const (
	createCheck = `request.operation != "CREATE" || !has(object.spec.submitter) ||
  (object.spec.submitter.username == request.userInfo.username &&
   (has(object.spec.submitter.uid) ? object.spec.submitter.uid : "") == request.userInfo.?uid.orValue(""))`
	updateCheck = `request.operation != "UPDATE" ||
  (has(object.spec.submitter) == has(oldObject.spec.submitter) &&
   (!has(object.spec.submitter) || object.spec.submitter == oldObject.spec.submitter))`
)

// SubmitterPolicies returns the MutatingAdmissionPolicy that stamps AuditEvents with their
// creator, the ValidatingAdmissionPolicy that checks the stamp after every mutation, and their
// bindings. namespace is Writ's, where the AuditEvents live: the policies match it alone.
func SubmitterPolicies(namespace string) (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding,
	*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, nil, nil, nil, fmt.Errorf("audit submitter policy: namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	fail := admissionregistrationv1.Fail
	meta := metav1.ObjectMeta{Name: SubmitterPolicyName, Labels: map[string]string{"app.kubernetes.io/part-of": "writ"}}
	mp := &admissionregistrationv1.MutatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"},
		ObjectMeta: *meta.DeepCopy(),
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: auditEvents(admissionregistrationv1.Create, admissionregistrationv1.Update),
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: stampExpression}}},
			FailurePolicy: &fail,
			// Reinvoked when a later mutation changes the object, so the stamp is the last word.
			ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
		},
	}
	mb := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
		ObjectMeta: *meta.DeepCopy(),
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: SubmitterPolicyName, MatchResources: inNamespace(namespace)},
	}
	vp := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: *meta.DeepCopy(),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: auditEvents(admissionregistrationv1.Create, admissionregistrationv1.Update),
			FailurePolicy:    &fail,
			Validations: []admissionregistrationv1.Validation{
				{Expression: createCheck, Message: "spec.submitter of an AuditEvent is set by the apiserver to whoever creates it; a client cannot choose it"},
				{Expression: updateCheck, Message: "spec.submitter of an AuditEvent never changes once created"},
			},
		},
	}
	vb := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: *meta.DeepCopy(),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: SubmitterPolicyName, MatchResources: inNamespace(namespace),
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	return mp, mb, vp, vb, nil
}

// auditEvents matches AuditEvents (any version) for the operations, with the apiserver's defaults
// spelled out so that a live policy compares equal to the built one.
func auditEvents(ops ...admissionregistrationv1.OperationType) *admissionregistrationv1.MatchResources {
	equivalent := admissionregistrationv1.Equivalent
	namespaced := admissionregistrationv1.NamespacedScope
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{},
		ObjectSelector:    &metav1.LabelSelector{},
		MatchPolicy:       &equivalent,
		ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"writ.dev"}, APIVersions: []string{"*"}, Resources: []string{"auditevents"}, Scope: &namespaced},
		}}},
	}
}

// inNamespace narrows a binding to Writ's namespace.
func inNamespace(namespace string) *admissionregistrationv1.MatchResources {
	equivalent := admissionregistrationv1.Equivalent
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
		ObjectSelector:    &metav1.LabelSelector{},
		MatchPolicy:       &equivalent,
	}
}

// Reasons an AuditEvent is refused, the label of writ_audit_refused_events_total.
const (
	RefusedUnstamped = "unstamped" // no spec.submitter: created while the stamping policy was missing
	RefusedSubmitter = "submitter" // stamped with someone other than Writ's service accounts
	RefusedPolicy    = "policy"    // the stamping policy is missing, changed, or newer than the event
)

// refusal is why an AuditEvent is not stored; retry when the cause may pass (a policy that
// differs during an upgrade of Writ).
type refusal struct {
	reason, detail string
	retry          bool
}

// refuse says why ae must not be stored, or nil when its stamp can be trusted: the stamping
// policy and its binding are as SubmitterPolicies builds them and existed before ae was created
// (so no forged stamp can date from a moment they were missing), and the stamp names one of
// r.Submitters. A transient error reading the policy is returned, to retry.
func (r *Ingester) refuse(ctx context.Context, ae *auditv1.AuditEvent) (*refusal, error) {
	wantPolicy, wantBinding, _, _, err := SubmitterPolicies(r.Namespace)
	if err != nil {
		return nil, err
	}
	var policy admissionregistrationv1.MutatingAdmissionPolicy
	var binding admissionregistrationv1.MutatingAdmissionPolicyBinding
	for _, x := range []struct {
		obj  client.Object
		kind string
		same func() bool
	}{
		{&policy, "MutatingAdmissionPolicy", func() bool { return equality.Semantic.DeepEqual(policy.Spec, wantPolicy.Spec) }},
		{&binding, "MutatingAdmissionPolicyBinding", func() bool { return equality.Semantic.DeepEqual(binding.Spec, wantBinding.Spec) }},
	} {
		err := r.Reader.Get(ctx, client.ObjectKey{Name: SubmitterPolicyName}, x.obj)
		switch {
		case apierrors.IsNotFound(err):
			return &refusal{RefusedPolicy, x.kind + " " + SubmitterPolicyName + " is missing: install it as the chart does", false}, nil
		case err != nil:
			return nil, fmt.Errorf("reading %s %s: %w", x.kind, SubmitterPolicyName, err)
		case !x.same():
			return &refusal{RefusedPolicy, x.kind + " " + SubmitterPolicyName + " differs from what this Writ installs: restore it from the chart of the same release", true}, nil
		case !x.obj.GetCreationTimestamp().Time.Before(ae.CreationTimestamp.Time):
			return &refusal{RefusedPolicy, x.kind + " " + SubmitterPolicyName + " was created after the AuditEvent (or in the same second): its stamp cannot be trusted", false}, nil
		}
	}
	sub := ae.Spec.Submitter
	if sub == nil || sub.Username == "" {
		return &refusal{RefusedUnstamped, "the AuditEvent has no spec.submitter: the apiserver did not stamp it", false}, nil
	}
	submitters := r.Submitters
	if len(submitters) == 0 {
		submitters = Submitters(r.Namespace)
	}
	if !slices.Contains(submitters, sub.Username) {
		return &refusal{RefusedSubmitter, "created by " + sub.Username + ", not by one of Writ's service accounts", false}, nil
	}
	return nil, nil
}
