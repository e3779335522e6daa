// Package webhook is Writ's validating admission webhook: it denies every mutation of protected
// resources by any identity other than the GitOps agent, with exemptions for the system
// controllers Kubernetes needs and an audited, time-boxed break-glass path. Decisions are made by a
// chain of small plugins behind one admission.Handler; every denial and warning goes to the audit
// Recorder.
package webhook
