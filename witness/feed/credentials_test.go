package feed

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// TestFeedReadsTheCredentialSecret: a repository served by git's own http-backend behind basic
// authentication is fetched with the GitSource's Secret; with the wrong password the Sync is
// NotReady, and the reason never shows the password.
func TestFeedReadsTheCredentialSecret(t *testing.T) {
	harness.Require(t, env)
	r := start(t)
	s := newSite(t, "feed-http", "1")
	url := fixtures.ServeGitHTTP(t, s.repo, "git", "correct-horse")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "git"},
		Data: map[string][]byte{"username": []byte("git"), "password": []byte("correct-horse")}})
	s.policy(t)
	s.apply(t, url, "git")
	r.waitReady(t, s, "the Sync's index over authenticated HTTP")

	wrong := newSite(t, "feed-http-wrong", "1")
	wrongURL := fixtures.ServeGitHTTP(t, wrong.repo, "git", "correct-horse")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: wrong.ns, Name: "git"},
		Data: map[string][]byte{"username": []byte("git"), "password": []byte("battery-staple")}})
	wrong.policy(t)
	wrong.apply(t, wrongURL, "git")
	res := notReadyBecause(t, r, wrong, "authentication failed")
	if strings.Contains(res.Message(), "battery-staple") {
		t.Fatalf("the denial shows the password: %s", res.Message())
	}
	if v, _ := harness.Metric(r.reg, "writ_witness_fetch_failures_total", map[string]string{"reason": "AuthFailed"}); v < 1 {
		t.Errorf("writ_witness_fetch_failures_total{reason=AuthFailed} = %v", v)
	}

	missing := newSite(t, "feed-http-nosecret", "1")
	missing.policy(t)
	missing.apply(t, fixtures.ServeGitHTTP(t, missing.repo, "git", "correct-horse"), "absent")
	notReadyBecause(t, r, missing, `credentials Secret "absent"`)
}
