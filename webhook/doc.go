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
// FallbackPolicy (vap.go) builds a ValidatingAdmissionPolicy the apiserver evaluates itself,
// before any webhook, so the core of the guard holds while the webhook is down and where
// webhooks are never called: in namespaces labelled writ.dev/protected=true only the agents
// listed in the writ-guard-agents ConfigMap (plus the listed Kubernetes controllers and mirrored
// break-glass grants) may create, update, delete or connect; only agents may relabel or delete
// such a namespace or Writ's own, or change GuardPolicies, TrustPolicies, Writ's CRDs and the
// writ-* webhook configurations; only Writ's controller and the agents may change Writ's keys; no
// one else may get an agent's token. It is coarser than the webhook (no per-operation exemptions,
// no clock for break-glass expiry) and cannot protect itself: the apiserver never evaluates
// API-created policies for policies and bindings, so deleting its binding is the first, audited
// step of any bypass. Without its ConfigMap it denies everything it matches.
package webhook
