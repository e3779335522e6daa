package source

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScrubRedactsSecretsAndKeepsSentinels(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
	s := secretsOf(Auth{Username: "alice", Password: "hunter22", BearerToken: "tok-123456", SSHPrivateKey: []byte(key)})
	basic := base64.StdEncoding.EncodeToString([]byte("alice:hunter22"))

	inner := fmt.Errorf("server said: bad password hunter22, token tok-123456, header Basic %s, key b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", basic)
	err := s.scrub(fmt.Errorf("%w: fetching: %w", ErrAuth, fmt.Errorf("%w: %w", context.DeadlineExceeded, inner)))

	for _, secret := range []string{"hunter22", "tok-123456", basic, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("scrubbed error still shows %q: %s", secret, err)
		}
	}
	if !errors.Is(err, ErrAuth) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("scrubbed error lost its sentinels: %v", err)
	}
	if errors.Is(err, inner) {
		t.Error("scrubbed error still wraps the error that showed the secrets")
	}

	clean := fmt.Errorf("%w: nothing secret", ErrRefNotFound)
	if s.scrub(clean) != clean {
		t.Error("an error without secrets was rewritten")
	}
	if s.scrub(nil) != nil {
		t.Error("nil became an error")
	}
}

// FuzzURLPasswordNeverInError: whatever the URL around it, a password embedded in the URL never
// appears in a validation error.
func FuzzURLPasswordNeverInError(f *testing.F) {
	for _, seed := range [][3]string{
		{"https", "example.com", "org/repo.git"},
		{"https", "example.com", "%zz"},
		{"http", "[::1", "r"},
		{"ssh", "", ""},
		{"git", "h:99999", "r"},
		{"file", "host", "srv/repo"},
	} {
		f.Add(seed[0], seed[1], seed[2], "s3cret")
	}
	f.Fuzz(func(t *testing.T, scheme, host, path, pass string) {
		pass = "Pw9!" + pass // long and unlike any word of an error message
		if strings.Contains(scheme+host+path, pass) {
			return
		}
		raw := scheme + "://alice:" + pass + "@" + host + "/" + path
		_, err := Options{URL: raw, Ref: Ref{Branch: "main"}}.compile()
		if err != nil && strings.Contains(err.Error(), pass) {
			t.Fatalf("url %q: error shows the password: %v", raw, err)
		}
	})
}
