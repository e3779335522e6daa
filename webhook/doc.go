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
package webhook
