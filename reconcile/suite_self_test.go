package reconcile_test

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

// TestTheSuiteRunsAsProduction pins what every other test here rests on: the reconciler's
// connection authenticates as Writ's reconciler service account (not the admin), and the guard
// reviews every write: a person's write to a tracked object is denied by the guard, and the
// agent's write of anything no verified commit declares is denied by the witness, in Enforce.
func TestTheSuiteRunsAsProduction(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(agentConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + writNS + ":" + wellknown.ReconcilerServiceAccount; review.Status.UserInfo.Username != want {
		t.Fatalf("the reconciler authenticates as %q, want %q", review.Status.UserInfo.Username, want)
	}
	agent, err := client.New(agentConfig(t), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	configMap := func(labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "suite-self-test", Labels: labels}}
	}
	tracked := map[string]string{wellknown.ManagedLabel: "suite.self-test"}
	for _, c := range []struct {
		who    string
		client client.Client
	}{{"the admin", env.Client}, {onCall.user + " without break-glass", onCall.client(t)}} {
		err := c.client.Create(ctx, configMap(tracked), client.DryRunAll)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "writ:") {
			t.Errorf("%s's write of a tracked object was not denied by the guard: %v", c.who, err)
		}
	}
	// The agent's: of an object no commit declares, and of one claiming a Sync the witness has
	// no index of.
	for what, labels := range map[string]map[string]string{"an untracked object": nil, "a tracked object": tracked} {
		err := agent.Create(ctx, configMap(labels), client.DryRunAll)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"witness.writ.dev"`) ||
			!strings.Contains(err.Error(), "the agent's identity was used for a change no verified commit declares") {
			t.Errorf("the agent's write of %s no commit declares was not denied by the witness: %v", what, err)
		}
	}
}
