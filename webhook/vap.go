package webhook

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/wellknown"
)

// The fallback: ValidatingAdmissionPolicies the apiserver evaluates itself, so that the core of
// the guard holds while the webhook is down, for the webhook's own configuration (which webhooks
// are never called for) and in Writ's own namespace (which the webhook skips). The chart ships the
// same objects (charts/writ/templates/guard-validatingadmissionpolicy.yaml); a test keeps the two
// equal.
const (
	// FallbackPolicyName names the main ValidatingAdmissionPolicy and its binding: protected
	// namespaces, Writ's namespace, Writ's configuration and webhook configurations.
	FallbackPolicyName = "writ-guard"
	// CredentialsPolicyName names the policy and binding that guard the ways to act as Writ or as
	// Kubernetes' own controllers (tokens, pods and workloads running as their service accounts,
	// RBAC naming them, AuditEvents) in every namespace, kube-system included.
	CredentialsPolicyName = "writ-guard-credentials"
	// FallbackParamsName names the ConfigMap, in Writ's namespace, that lists the agents and
	// exemptions: the policies' parameters.
	FallbackParamsName = "writ-guard-agents"
)

// Keys of the parameter ConfigMap. Each holds one entry per line; blank lines and lines starting
// with # are ignored.
const (
	// FallbackAgentsKey lists the agents' user names, exactly (a service account is
	// system:serviceaccount:<namespace>:<name>).
	FallbackAgentsKey = "agents"
	// FallbackExemptKey lists exemptions, "<identity> <target>...". The identity is a user name
	// or group:<group> (group:system:nodes matches only users named system:node:<name>). A target
	// is <resource>[.<group>][/<subresource>][:<name>][@<constraint>]: the name limits it to one
	// object, and the constraint to what the controller changes:
	//
	//	@gc            a DELETE, or an UPDATE changing only metadata.ownerReferences and finalizers
	//	@delete        a DELETE only
	//	@owner=<Kind>  the object's controller ownerReference is of Kind (before a DELETE, after a
	//	               CREATE, both for an UPDATE, which may then change in spec only replicas and
	//	               minReadySeconds)
	//	@namesake=<Kind> the object has an ownerReference of Kind with the object's own name
	//	@cabundle      an UPDATE of a webhook configuration changing only its webhooks' caBundle
	//
	// For example "system:serviceaccount:kube-system:root-ca-cert-publisher configmaps:kube-root-ca.crt".
	FallbackExemptKey = "exempt"
	// FallbackBreakGlassKey lists approved break-glass grants, one line per grant and namespace,
	// written by Writ's controller (the only key it may change; see package grants): "<user>
	// <namespace> [resources=<group>/<resource>,...] [names=<name>,...] [until=<time>]
	// [request=<name>]". Without resources= or names= a grant covers every resource or name. The
	// policy has no clock: until= is for people, and the controller removes the line then.
	FallbackBreakGlassKey = "breakGlass"
)

// DefaultFallbackExempt is what Kubernetes itself must keep doing in protected namespaces and in
// Writ's: the exemptions of the shipped GuardPolicies (policies/), narrowed to what each controller
// changes, plus what the kubelet and scheduler need to run a pod and the namespace controller
// needs to finish deleting a namespace. Controllers are the kube-controller-manager's
// per-controller service accounts (--use-service-account-credentials, kubeadm's default); a
// control plane that runs them all as system:kube-controller-manager needs that user listed
// instead.
var DefaultFallbackExempt = []string{
	"group:system:nodes pods pods/status serviceaccounts/token events events.events.k8s.io",
	"system:kube-scheduler pods/binding bindings pods/status events events.events.k8s.io",
	ksa("horizontal-pod-autoscaler") + " deployments.apps/scale statefulsets.apps/scale replicasets.apps/scale",
	ksa("deployment-controller") + " replicasets.apps@owner=Deployment deployments.apps/status events events.events.k8s.io",
	ksa("replicaset-controller") + " pods@owner=ReplicaSet replicasets.apps/status events events.events.k8s.io",
	ksa("statefulset-controller") + " pods@owner=StatefulSet persistentvolumeclaims controllerrevisions.apps@owner=StatefulSet statefulsets.apps/status events events.events.k8s.io",
	ksa("daemon-set-controller") + " pods@owner=DaemonSet controllerrevisions.apps@owner=DaemonSet daemonsets.apps/status events events.events.k8s.io",
	ksa("job-controller") + " pods@owner=Job jobs.batch@gc jobs.batch/status events events.events.k8s.io",
	ksa("cronjob-controller") + " jobs.batch@owner=CronJob cronjobs.batch/status events events.events.k8s.io",
	ksa("ttl-after-finished-controller") + " jobs.batch@delete",
	ksa("generic-garbage-collector") + " replicasets.apps@gc deployments.apps@gc controllerrevisions.apps@gc jobs.batch@gc pods@gc configmaps@gc secrets@gc services@gc endpointslices.discovery.k8s.io@gc",
	ksa("endpointslice-controller") + " endpointslices.discovery.k8s.io",
	ksa("endpointslicemirroring-controller") + " endpointslices.discovery.k8s.io",
	ksa("endpoint-controller") + " endpoints",
	ksa("root-ca-cert-publisher") + " configmaps:kube-root-ca.crt",
	ksa("service-account-controller") + " serviceaccounts:default",
	ksa("namespace-controller") + " namespaces/finalize namespaces/status",
	ksa("resourcequota-controller") + " resourcequotas/status",
	ksa("disruption-controller") + " poddisruptionbudgets.policy/status",
	ksa("pvc-protection-controller") + " persistentvolumeclaims@gc",
	ksa("persistent-volume-binder") + " persistentvolumeclaims persistentvolumeclaims/status",
	ksa("pod-garbage-collector") + " pods@delete pods/status",
	ksa("node-controller") + " pods@delete pods/status",
	ksa("taint-eviction-controller") + " pods@delete pods/status",
}

func ksa(name string) string { return "system:serviceaccount:kube-system:" + name }

// WorkloadControllers are the kube-controller-manager's controllers that create pods and
// pod-template workloads from the templates of others: the only ones, besides the agents, who
// may make a pod or workload that runs as a guarded service account.
var WorkloadControllers = []string{
	ksa("deployment-controller"), ksa("replicaset-controller"), ksa("statefulset-controller"),
	ksa("daemon-set-controller"), ksa("job-controller"), ksa("cronjob-controller"),
}

// SealingExemption is the exemption line for Writ's sealing component (writ-controller in
// namespace): the Secrets it unseals (owned by the SealedSecret of their name) into protected
// namespaces, SealedSecret status and events. The chart adds it when sealing is enabled.
func SealingExemption(namespace string) string {
	return sa(namespace, wellknown.ControllerServiceAccount) + " secrets@namesake=SealedSecret sealedsecrets.bitnami.com/status events events.events.k8s.io"
}

// CABundleExemption is the exemption line for whoever keeps the webhook configurations' caBundle
// (cert-manager's cainjector, or writ-controller with self-managed certificates): that field alone.
func CABundleExemption(user string) string {
	return user + " validatingwebhookconfigurations.admissionregistration.k8s.io@cabundle mutatingwebhookconfigurations.admissionregistration.k8s.io@cabundle"
}

func sa(namespace, name string) string { return "system:serviceaccount:" + namespace + ":" + name }

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

// Fallback is what FallbackPolicy builds, in the order to apply it: the parameters first (the
// main binding denies everything it matches while they are missing), then the policies, then
// their bindings.
type Fallback struct {
	Params   *corev1.ConfigMap
	Policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	Bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

// Objects returns every object, in the order to apply them.
func (f *Fallback) Objects() []client.Object {
	objs := []client.Object{f.Params}
	for _, p := range f.Policies {
		objs = append(objs, p)
	}
	for _, b := range f.Bindings {
		objs = append(objs, b)
	}
	return objs
}

// FallbackPolicy returns the fallback policies (FallbackPolicyName and CredentialsPolicyName),
// their bindings and the ConfigMap they read (see the package documentation for what they
// protect).
func FallbackPolicy(o FallbackOptions) (*Fallback, error) {
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("fallback policy: namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	agents := o.Agents
	if len(agents) == 0 {
		agents = []string{sa(o.Namespace, wellknown.ReconcilerServiceAccount)}
	}
	for _, a := range agents {
		if a == "" || a == "*" || strings.ContainsAny(a, " \t\n") || strings.HasPrefix(a, "#") {
			return nil, fmt.Errorf("fallback policy: agent %q: give an exact user name, without spaces", a)
		}
	}
	exempt := o.Exempt
	if len(exempt) == 0 {
		exempt = DefaultFallbackExempt
	}
	for _, e := range exempt {
		if err := ValidExemption(e); err != nil {
			return nil, fmt.Errorf("fallback policy: exemption %q: %v", e, err)
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
	deny, allow := admissionregistrationv1.DenyAction, admissionregistrationv1.AllowAction
	return &Fallback{
		Params:   cm,
		Policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{fallbackPolicy(), credentialsPolicy()},
		Bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			// Fail closed: without its ConfigMap the main policy denies everything it matches.
			binding(FallbackPolicyName, o.Namespace, deny),
			// The credentials policy sees kube-system: without its ConfigMap it allows, so that a
			// missing ConfigMap never stops kubelets getting their pods' tokens. (The main policy
			// then denies everything else, and only the agents may delete the ConfigMap.)
			binding(CredentialsPolicyName, o.Namespace, allow),
		},
	}, nil
}

var (
	targetRe     = regexp.MustCompile(`^[a-z0-9.-]+(/[a-z0-9]+)?(:[a-zA-Z0-9._-]+)?(@.+)?$`)
	constraintRe = regexp.MustCompile(`^(gc|delete|cabundle|owner=[A-Za-z0-9]+|namesake=[A-Za-z0-9]+)$`)
)

// ValidExemption says whether e is an exemption line in FallbackExemptKey's format.
func ValidExemption(e string) error {
	f := strings.Fields(e)
	if strings.ContainsAny(e, "\t\n") || len(f) < 2 || strings.HasPrefix(f[0], "#") {
		return fmt.Errorf(`write "<user or group:<name>> <resource>...", separated by single spaces`)
	}
	for _, x := range f {
		if strings.Contains(x, "*") {
			return fmt.Errorf("name the identity and resources: an exemption never takes a wildcard")
		}
	}
	for _, t := range f[1:] {
		if !targetRe.MatchString(t) {
			return fmt.Errorf("target %q: write <resource>[.<group>][/<subresource>][:<name>][@<constraint>]", t)
		}
		if _, c, ok := strings.Cut(t, "@"); ok && !constraintRe.MatchString(c) {
			return fmt.Errorf("target %q: constraint %q is none of gc, delete, cabundle, owner=<Kind>, namesake=<Kind>", t, c)
		}
	}
	return nil
}

func partOfWrit() map[string]string { return map[string]string{"app.kubernetes.io/part-of": "writ"} }

func binding(policy, namespace string, notFound admissionregistrationv1.ParameterNotFoundActionType) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: policy, Labels: partOfWrit()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy,
			ParamRef:          &admissionregistrationv1.ParamRef{Name: FallbackParamsName, Namespace: namespace, ParameterNotFoundAction: &notFound},
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit},
		},
	}
}

func forbidden() *metav1.StatusReason {
	r := metav1.StatusReasonForbidden
	return &r
}
