package source_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"writ.dev/writ/reconcile/source"
)

// Options errors come before any network or disk access, so these run against hosts that do not
// exist.
func TestFetchValidatesOptions(t *testing.T) {
	t.Parallel()
	key, knownHosts, dir := testSSHKey(t), []byte("[git.example.com]:22 "+testHostKeyLine(t)), t.TempDir()
	branch := source.Ref{Branch: "main"}
	for _, tc := range []struct {
		name string
		opts source.Options
		want string // in the error
	}{
		{"empty url", source.Options{Ref: branch}, "url is empty"},
		{"git scheme", source.Options{URL: "git://example.com/r.git", Ref: branch}, `url scheme "git" is not supported`},
		{"ftp scheme", source.Options{URL: "ftp://example.com/r.git", Ref: branch}, `url scheme "ftp" is not supported`},
		{"bare path", source.Options{URL: "/srv/git/repo", Ref: branch}, "has no scheme"},
		{"unparsable", source.Options{URL: "https://example.com/%zz", Ref: branch}, "not a valid URL"},
		{"no host", source.Options{URL: "https:///repo", Ref: branch}, "has no host"},
		{"file host", source.Options{URL: "file://server/repo", Ref: branch}, "names a local path"},
		{"password in url", source.Options{URL: "https://alice:pw@example.com/r.git", Ref: branch}, "carries a password"},
		{"password in scp-like url", source.Options{URL: "alice:pw@example.com:org/r.git", Ref: branch}, "carries a password"},
		{"no ref", source.Options{URL: "https://example.com/r.git"}, "exactly one of branch, tag, semver and commit (got none)"},
		{"two refs", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Branch: "main", Tag: "v1"}}, "(got branch and tag)"},
		{"bad branch", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Branch: "a..b"}}, "not a valid branch name"},
		{"bad tag", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Tag: "v1 beta"}}, "not a valid tag name"},
		{"bad range", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{SemVer: ">=banana"}}, "not a version range"},
		{"short commit", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Commit: "abc123"}}, "not a full 40-character commit hash"},
		{"shallow commit", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Commit: strings.Repeat("a", 40)}, Depth: 1}, "ref.commit needs depth 0"},
		{"negative depth", source.Options{URL: "https://example.com/r.git", Ref: branch, Depth: -1}, "depth is -1"},
		{"negative timeout", source.Options{URL: "https://example.com/r.git", Ref: branch, Timeout: -1}, "timeout is negative"},
		{"two auth kinds", source.Options{URL: "https://example.com/r.git", Ref: branch, Auth: source.Auth{Username: "u", Password: "p", BearerToken: "t"}}, "not username/password and bearer token"},
		{"username only", source.Options{URL: "https://example.com/r.git", Ref: branch, Auth: source.Auth{Username: "u"}}, "set both username and password"},
		{"ssh key on https", source.Options{URL: "https://example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: knownHosts}}, "needs an ssh:// or user@host:path url"},
		{"token on ssh", source.Options{URL: "ssh://git@example.com/r.git", Ref: branch, Auth: source.Auth{BearerToken: "t0ken"}}, "takes an ssh key, not a bearer token"},
		{"ssh without key", source.Options{URL: "git@example.com:org/r.git", Ref: branch}, "needs auth.sshPrivateKey"},
		{"ssh without known_hosts", source.Options{URL: "ssh://git@example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key}}, "needs auth.sshKnownHosts"},
		{"token on file", source.Options{URL: "file:///srv/repo", Ref: branch, Auth: source.Auth{BearerToken: "t0ken"}}, "file:// source takes no credentials"},
		{"credentials over http", source.Options{URL: "http://git.example.com/r.git", Ref: branch, Auth: source.Auth{BearerToken: "t0ken"}}, "refusing to send credentials over plain http"},
		{"garbage known_hosts", source.Options{URL: "ssh://git@git.example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: []byte("git.example.com not-a-key-type AAAA\n")}}, "auth.sshKnownHosts"},
		{"comments only known_hosts", source.Options{URL: "ssh://git@git.example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: []byte("# nothing\n\n")}}, "holds no host keys"},
		{"known_hosts for another host", source.Options{URL: "ssh://git@other.example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: knownHosts}}, "has no key for other.example.com:22"},
		{"known_hosts for another port", source.Options{URL: "git@git.example.com:2222:org/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: knownHosts}}, "has no key for git.example.com:2222"},
		{"garbage key", source.Options{URL: "ssh://git@git.example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: []byte("hunter2-not-a-key"), SSHKnownHosts: knownHosts}}, "not a private key"},
		{"encrypted key", source.Options{URL: "ssh://git@git.example.com/r.git", Ref: branch, Auth: source.Auth{SSHPrivateKey: testEncryptedSSHKey(t), SSHKnownHosts: knownHosts}}, "passphrase-protected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := fetchCtx(context.Background(), dir, tc.opts)
			if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidOptions with %q", err, tc.want)
			}
			if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
				t.Errorf("error %q should start lower-case and not end with a period", msg)
			}
		})
	}
}

func TestFetchErrorsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const password, token = "s3cret-pa55word", "t0ken-abcdef123456"
	key, dir := testSSHKey(t), t.TempDir()
	for _, tc := range []struct {
		name string
		opts source.Options
	}{
		{"password in url", source.Options{URL: "https://alice:" + password + "@example.com/r.git", Ref: source.Ref{Branch: "main"}}},
		{"password in scp-like url", source.Options{URL: "alice:" + password + "@example.com:org/r.git", Ref: source.Ref{Branch: "main"}}},
		{"password in unparsable url", source.Options{URL: "https://alice:" + password + "@example.com/%zz", Ref: source.Ref{Branch: "main"}}},
		{"password over http", source.Options{URL: "http://example.com/r.git", Ref: source.Ref{Branch: "main"}, Auth: source.Auth{Username: "alice", Password: password}}},
		{"password and token", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Branch: "main"}, Auth: source.Auth{Username: "alice", Password: password, BearerToken: token}}},
		{"ssh key on https", source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Branch: "main"}, Auth: source.Auth{SSHPrivateKey: key, SSHKnownHosts: []byte("x")}}},
		{"truncated key", source.Options{URL: "ssh://git@example.com/r.git", Ref: source.Ref{Branch: "main"}, Auth: source.Auth{SSHPrivateKey: key[:len(key)/2], SSHKnownHosts: []byte("example.com " + testHostKeyLine(t))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := fetchCtx(context.Background(), dir, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			assertNoSecret(t, err, password, token, string(key))
		})
	}
}

// assertNoSecret fails if err's text, or any error it wraps, shows a secret or a line of one.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for e := range walkErrors(err) {
		msg := e.Error()
		for _, s := range secrets {
			for _, line := range strings.Split(s, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 8 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
					t.Fatalf("error shows a secret: %q", msg)
				}
			}
		}
	}
}

// walkErrors yields err and everything it wraps.
func walkErrors(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			case interface{ Unwrap() []error }:
				for _, c := range u.Unwrap() {
					if !walk(c) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

// A key is one source's place under the cache's root: an empty part, or one that would climb out
// of the root or into another source's directory, is refused before anything touches the disk.
func TestCacheRefusesKeysOutsideItsRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	cache := source.NewCache(root)
	opts := source.Options{URL: "https://example.com/r.git", Ref: source.Ref{Branch: "main"}}
	commit := strings.Repeat("a", 40)
	for _, k := range []source.Key{{}, {Namespace: "ns"}, {Name: "src"}, {Namespace: "..", Name: "src"}, {Namespace: "ns", Name: "../../etc"}, {Namespace: "ns", Name: "a/b"}, {Namespace: ".", Name: "src"}} {
		if _, err := cache.Fetch(context.Background(), k, opts); !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "one non-empty path element") {
			t.Errorf("Fetch with key %+v: got %v, want ErrInvalidOptions", k, err)
		}
		if _, err := cache.Checkout(context.Background(), k, commit); !errors.Is(err, source.ErrInvalidOptions) {
			t.Errorf("Checkout with key %+v: got %v, want ErrInvalidOptions", k, err)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("refused keys wrote into the root: %v", entries)
	}
}
