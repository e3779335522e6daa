// Package webhook is Writ's validating admission webhook: it denies every mutation of protected
// resources by any identity other than the GitOps agent, with exemptions for the system
// controllers Kubernetes needs and an audited, time-boxed break-glass path.
//
// A decision is a chain of small plugins (chain.go), each of which may allow, deny or abstain;
// the first that does not abstain decides. The chain is pure logic over a Request (the admission
// request reduced to what matters) and a Snapshot of the guard policies, namespace labels and
// break-glass grants; the HTTP plumbing (handler.go) builds both and records every denial,
// warning and break-glass use through the audit Recorder. Anything the guard cannot decide —
// an unreadable object, a namespace it cannot look up — is denied: the guard fails closed.
//
// FallbackPolicy (vap.go) builds ValidatingAdmissionPolicies the apiserver evaluates itself,
// before any webhook, so the core of the guard holds while the webhook is down, where webhooks are
// never called and in Writ's own namespace: in namespaces labelled writ.dev/protected=true and in
// Writ's only the agents listed in the writ-guard-agents ConfigMap (plus the listed Kubernetes
// controllers within their constraints, Writ's components for their own objects, and mirrored
// break-glass grants) may create, update, delete or connect; only agents may change Writ's kinds,
// CRDs and any webhook configuration; and in every namespace, kube-system included, nobody but
// Kubernetes and the agents may get a token for, run a pod as, or bind RBAC to Writ's or the
// exempt controllers' service accounts. It is coarser than the webhook (no owner chains, no clock
// for break-glass expiry) and cannot protect itself: the apiserver never evaluates API-created
// policies for policies and bindings, which the static policy of StaticProtection (static.go),
// loaded from the control plane's files, does. Without its ConfigMap it denies everything it
// matches outside the system namespaces.
package webhook
