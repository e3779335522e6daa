package reconcile

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/provenance"
	"writ.dev/writ/reconcile/source"
)

// A failed checkout or render is terminal only when retrying the same commit cannot help.
func TestCheckoutAndRenderFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		f    failure
		want failure
	}{
		{"unsafe tree", checkoutFailure(fmt.Errorf("checking out x: %w", source.ErrUnsafeTree)), failure{reason: "RenderFailed", stalled: true, terminal: true}},
		{"cache not fetched yet", checkoutFailure(errors.New("opening the cache: repository does not exist")), failure{reason: "CheckoutFailed"}},
		{"waiting for the lock", checkoutFailure(fmt.Errorf("waiting: %w", context.DeadlineExceeded)), failure{reason: "CheckoutFailed"}},
		{"broken manifest", renderFailure(context.Background(), errors.New("apps/a.yaml: yaml: line 3")), failure{reason: "RenderFailed", stalled: true, terminal: true}},
		{"render interrupted", renderFailure(cancelled, errors.New("stopped")), failure{reason: "RenderFailed"}},
		{"render timed out", renderFailure(context.Background(), fmt.Errorf("kustomize: %w", context.DeadlineExceeded)), failure{reason: "RenderFailed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.f != tc.want {
				t.Fatalf("got %+v, want %+v", tc.f, tc.want)
			}
			err := tc.f.result(errors.New("x"))
			if isTerminal := errors.Is(err, ctrlreconcile.TerminalError(nil)); isTerminal != tc.want.terminal {
				t.Errorf("result is terminal: %t, want %t", isTerminal, tc.want.terminal)
			}
			if err.Error() != "terminal error: x" && tc.want.terminal || !tc.want.terminal && err.Error() != "x" {
				t.Errorf("result %q does not carry the error", err)
			}
		})
	}
}

func TestPolicyFailure(t *testing.T) {
	gr := schema.GroupResource{Group: "writ.dev", Resource: "trustpolicies"}
	for _, tc := range []struct {
		name          string
		err           error
		wantReason    string
		wantTransient bool
	}{
		{"missing", fmt.Errorf("TrustPolicy %q: %w", "p", apierrors.NewNotFound(gr, "p")), "TrustPolicyNotFound", false},
		{"invalid", fmt.Errorf("spec.ssh: %w", provenance.ErrInvalidPolicy), "TrustPolicyInvalid", false},
		{"apiserver down", apierrors.NewServiceUnavailable("etcd"), "TrustPolicyUnavailable", true},
		{"forbidden", apierrors.NewForbidden(gr, "p", errors.New("rbac")), "TrustPolicyUnavailable", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if reason, transient := policyFailure(tc.err); reason != tc.wantReason || transient != tc.wantTransient {
				t.Fatalf("policyFailure = %s %t, want %s %t", reason, transient, tc.wantReason, tc.wantTransient)
			}
		})
	}
}

func TestFetchFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want fetchOutcome
	}{
		{"invalid options", fmt.Errorf("%w: url is empty", source.ErrInvalidOptions), fetchInvalid},
		{"untrusted host key", fmt.Errorf("%w: fetching", source.ErrHostKey), fetchInvalid},
		{"replayed tag", fmt.Errorf("%w: refs/tags/v2", source.ErrTagName), fetchRefused},
		{"credentials refused", fmt.Errorf("%w: check auth", source.ErrAuth), fetchTransient},
		{"branch missing", fmt.Errorf("%w: branch main", source.ErrRefNotFound), fetchTransient},
		{"timeout", fmt.Errorf("fetching: %w", context.DeadlineExceeded), fetchTransient},
		{"network", errors.New("connection refused"), fetchTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fetchFailure(tc.err); got != tc.want {
				t.Fatalf("fetchFailure = %d, want %d", got, tc.want)
			}
		})
	}
}
