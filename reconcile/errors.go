package reconcile

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/provenance"
	"writ.dev/writ/reconcile/source"
)

// How a failure reaches the workqueue (see the package documentation): a transient error is
// returned as it is, so controller-runtime retries it with its rate-limited backoff; a terminal
// one, which retrying the same input cannot fix, is wrapped in TerminalError and is retried only
// when the Sync, its GitSource or an object it applied changes. Either way the conditions say
// what happened.

// failure is how one failed step is reported: the Ready reason, whether Stalled is set, and
// whether it is terminal.
type failure struct {
	reason   string
	stalled  bool
	terminal bool
}

// checkoutFailure classifies a failed checkout of a verified commit: a tree Writ refuses to
// write (an escaping symlink, a ".git" entry) fails that commit for good, like a broken
// manifest; anything else (the cache not fetched yet after a restart, the disk, the lock) may
// pass on a retry.
func checkoutFailure(err error) failure {
	if errors.Is(err, source.ErrUnsafeTree) {
		return failure{reason: "RenderFailed", stalled: true, terminal: true}
	}
	return failure{reason: "CheckoutFailed"}
}

// renderFailure classifies a failed render: the commit's manifests are what they are, so it is
// terminal for that commit unless the context ended first.
func renderFailure(ctx context.Context, err error) failure {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failure{reason: "RenderFailed"}
	}
	return failure{reason: "RenderFailed", stalled: true, terminal: true}
}

// result is what Reconcile returns for err classified as f.
func (f failure) result(err error) error {
	if f.terminal {
		return ctrlreconcile.TerminalError(err)
	}
	return err
}

// policyFailure classifies a TrustPolicy that could not be read or compiled: a missing or
// invalid one is a state to show (Stalled) and wait out, since creating or fixing it wakes the
// GitSource; anything else (the apiserver) is transient.
func policyFailure(err error) (reason string, transient bool) {
	switch {
	case apierrors.IsNotFound(err):
		return "TrustPolicyNotFound", false
	case errors.Is(err, provenance.ErrInvalidPolicy):
		return "TrustPolicyInvalid", false
	}
	return "TrustPolicyUnavailable", true
}

// fetchOutcome is how a GitSource's fetch failure is reported.
type fetchOutcome int

const (
	fetchTransient fetchOutcome = iota // FetchFailed: returned, retried with backoff
	fetchInvalid                       // InvalidSource: Stalled, retried on the interval
	fetchRefused                       // TagNameMismatch: refused like an unverified commit
)

// fetchFailure classifies a failed fetch. Options that cannot work (ErrInvalidOptions, an
// untrusted host key) wait on the interval rather than back off: the fix may come from a Secret
// the GitSource does not watch. A replayed tag is a refusal, not a failure.
func fetchFailure(err error) fetchOutcome {
	switch {
	case errors.Is(err, source.ErrInvalidOptions), errors.Is(err, source.ErrHostKey):
		return fetchInvalid
	case errors.Is(err, source.ErrTagName):
		return fetchRefused
	}
	return fetchTransient
}
