package source

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
)

// OptionsOf builds the fetch Options of a GitSource: its URL, ref (branch main when none is set),
// timeout (one minute by default) and, when spec.secretRef names one, the credentials of that
// Secret in the GitSource's namespace, read with r (keys username and password, bearerToken,
// identity and known_hosts). History is always fetched whole (Depth 0): Range verification walks
// it, rollback protection needs the last verified commit, and approval rules diff against parents.
//
// The reconciler and the witness (witness/feed) both fetch through it, so they fetch the same
// revision with the same credentials. The error of a Secret that cannot be read wraps the reader's
// (apierrors.IsNotFound holds for a missing one) and names the Secret, never its data.
func OptionsOf(ctx context.Context, r client.Reader, gs *reconcilev1.GitSource) (Options, error) {
	o := Options{URL: gs.Spec.URL, Timeout: time.Minute}
	if gs.Spec.Timeout != nil {
		o.Timeout = gs.Spec.Timeout.Duration
	}
	if ref := gs.Spec.Ref; ref != nil {
		o.Ref = Ref{Branch: ref.Branch, Tag: ref.Tag, SemVer: ref.SemVer, Commit: ref.Commit}
	} else {
		o.Ref = Ref{Branch: "main"}
	}
	// Head mode without approvals could fetch shallowly; that optimisation is not taken yet.
	if gs.Spec.SecretRef != nil {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: gs.Spec.SecretRef.Name}, &s); err != nil {
			return o, fmt.Errorf("credentials Secret %q: %w", gs.Spec.SecretRef.Name, err)
		}
		o.Auth = Auth{Username: string(s.Data["username"]), Password: string(s.Data["password"]),
			BearerToken: string(s.Data["bearerToken"]), SSHPrivateKey: s.Data["identity"], SSHKnownHosts: s.Data["known_hosts"]}
	}
	return o, nil
}
