package source_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/reconcile/source"
)

const httpBackend = "/usr/lib/git-core/git-http-backend"

const (
	testUser     = "writ"
	testPassword = "correct-horse-battery"
	testToken    = "bearer-t0ken-5ecret"
)

// serveGit serves o over git's smart HTTP protocol with git http-backend, accepting either basic
// credentials or the bearer token. The repository is at <server>/origin.
func serveGit(t *testing.T, o *origin) *httptest.Server {
	t.Helper()
	if _, err := os.Stat(httpBackend); err != nil {
		t.Fatalf("%s is missing: run `make deps` (Debian package git)", httpBackend)
	}
	backend := &cgi.Handler{
		Path:   httpBackend,
		Stderr: io.Discard, // it reports a missing repository there as well as to the client
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(o.dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, basic := r.BasicAuth()
		switch {
		case basic && user == testUser && pass == testPassword:
		case r.Header.Get("Authorization") == "Bearer "+testToken:
		default:
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchOverHTTP(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	older := o.commitN(1)
	o.git("tag", "-a", "-m", "v1.0.0", "v1.0.0")
	newer := o.commitN(1)
	srv := serveGit(t, o)
	url := srv.URL + "/origin"

	t.Run("basic auth, new commits and a force-push", func(t *testing.T) {
		opts, dir := source.Options{URL: url, Ref: source.Ref{Branch: "main"}, Auth: source.Auth{Username: testUser, Password: testPassword}}, t.TempDir()
		if a := fetch(t, dir, opts); a.Commit != newer {
			t.Fatalf("got %s, want %s", a.Commit, newer)
		}
		o.git("reset", "-q", "--hard", older)
		defer o.git("reset", "-q", "--hard", newer)
		if a := fetch(t, dir, opts); a.Commit != older {
			t.Fatalf("after a force-push got %s, want %s", a.Commit, older)
		}
	})
	t.Run("bearer token, annotated tag", func(t *testing.T) {
		opts, dir := source.Options{URL: url, Ref: source.Ref{SemVer: "^1"}, Auth: source.Auth{BearerToken: testToken}}, t.TempDir()
		if a := fetch(t, dir, opts); a.Commit != older || a.Tag != "v1.0.0" {
			t.Fatalf("got %s (%s), want v1.0.0 at %s", a.Tag, a.Commit, older)
		}
	})
	t.Run("shallow", func(t *testing.T) {
		opts, dir := source.Options{URL: url, Ref: source.Ref{Branch: "main"}, Auth: source.Auth{BearerToken: testToken}, Depth: 1}, t.TempDir()
		a := fetch(t, dir, opts)
		if shallow, _ := a.Repo.Storer.Shallow(); len(shallow) == 0 {
			t.Fatal("depth 1 over http did not make a shallow cache")
		}
	})
}

func TestFetchOverHTTPRejectsBadCredentials(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(1)
	srv := serveGit(t, o)
	const wrongPassword, wrongToken = "wr0ng-pa55word-123", "wr0ng-t0ken-123456"

	for _, tc := range []struct {
		name, want string
		auth       source.Auth
	}{
		{"wrong password", "refused the credentials", source.Auth{Username: testUser, Password: wrongPassword}},
		{"wrong token", "refused the credentials", source.Auth{BearerToken: wrongToken}},
		{"no credentials", "asks for credentials", source.Auth{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := fetchErr(t.TempDir(), source.Options{URL: srv.URL + "/origin", Ref: source.Ref{Branch: "main"}, Auth: tc.auth})
			if !errors.Is(err, source.ErrAuth) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrAuth with %q", err, tc.want)
			}
			assertNoSecret(t, err, wrongPassword, wrongToken, testPassword, testToken)
			t.Log(err)
		})
	}
}

func TestFetchOverHTTPMissingRepository(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(1)
	srv := serveGit(t, o)
	_, err := fetchErr(t.TempDir(), source.Options{URL: srv.URL + "/nope", Ref: source.Ref{Branch: "main"}, Auth: source.Auth{BearerToken: testToken}})
	if err == nil || !strings.Contains(err.Error(), "repository not found") {
		t.Fatalf("got %v, want repository not found", err)
	}
	t.Log(err)
}

func TestFetchTimeoutOnAHangingServer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	start := time.Now()
	_, err := fetchErr(t.TempDir(), source.Options{URL: srv.URL + "/origin", Ref: source.Ref{Branch: "main"}, Timeout: 300 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("Fetch took %s despite a 300ms timeout", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	t.Log(err)
}
