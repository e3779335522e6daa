// Package webhook is Writ's validating admission webhook: it denies every mutation of protected
// resources by any identity other than the GitOps agent, with exemptions for the system
// controllers Kubernetes needs and an audited, time-boxed break-glass path.
//
// It owns the guard's decision and what the decision rests on: compiled GuardPolicies (Policy,
// policy.go, with their exemptions and owner rules), what one review knows (Snapshot,
// snapshot.go, which also keeps the shared part between requests), break-glass grants and the
// rules for BreakGlassRequests (breakglass.go), the audit record and audit annotations of each
// decision, the stamp that dates a break-glass approval (Stamp, stamp.go), and the fallback
// admission policies the apiserver evaluates itself. The API types are in api/v1alpha1; certs
// keeps the webhook's TLS without cert-manager; grants mirrors grants into the fallback policy's
// parameters.
//
// A review walks the files in order: handler.go takes the AdmissionReview, request.go reduces it
// to a Request, reads.go reads the Snapshot (compiled.go compiling each changed policy once),
// witness.go judges a write by Writ's own agent against what verified commits declare (the
// Witness, issue #14: its bookkeeping, bookkeeping.go, aside), chain.go decides, and handler.go
// answers, recording the decision's audit kind and its audit annotations (annotations.go) and
// metrics (metrics.go).
//
// The witness step runs before the chain, for every identity the Witness witnesses: a write no
// verified commit declares is denied (Enforce, the chain is not asked), or allowed with a warning
// (Warn, the chain then decides as before), both recorded as UnverifiedAgentWrite, or not judged
// (Off); the effective mode is the strictest one the declaring Sync and the protecting
// GuardPolicies set, else the Guard's WitnessMode. registration.go holds the two webhook entries
// that send every request to the handler once: guard.writ.dev for everyone but Writ's reconciler,
// witness.writ.dev for the reconciler in every namespace.
//
// A decision is a chain of small plugins (chain.go) run under each policy that protects the
// request: the policy's agents, its exemptions, the requester's break-glass grants. A plugin
// returns a complete Decision (allowed or denied, with its reason and the grant or exemption
// that allowed) or nil to abstain; the first plugin that does not abstain decides for that
// policy, a Deny as much as an Allow, and if every plugin abstains the policy denies, naming the
// first reason an abstaining plugin gave. Across policies, a denial under an Enforce policy
// denies, one under a Warn policy allows with a warning, and an allowed request names the
// break-glass grant that allowed it under any policy, so that its use is recorded. The chain is
// pure logic over a Request and a Snapshot; the HTTP plumbing (handler.go) builds both and
// records every denial, warning and break-glass event through the audit Recorder. Anything the
// guard cannot decide — an unreadable object, a namespace it cannot look up — is denied: the
// guard fails closed.
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
