package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"writ.dev/writ/test/fixtures"
)

// sshKey is an SSH signing key made with ssh-keygen, as a developer would sign commits
// (git config gpg.format ssh).
type sshKey struct {
	name, email string
	private     string // file
	public      string // the public-key line
	fingerprint string // SHA256:...
}

func newSSHKey(dir, name, email string) (sshKey, error) {
	file := filepath.Join(dir, strings.ToLower(name)+"_ed25519")
	if _, err := fixtures.Run("", nil, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", file); err != nil {
		return sshKey{}, fmt.Errorf("making %s's key (is openssh-client installed? make deps): %w", name, err)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		return sshKey{}, err
	}
	out, err := fixtures.Run("", nil, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", file+".pub")
	if err != nil {
		return sshKey{}, err
	}
	fp := strings.Fields(out)
	if len(fp) < 2 {
		return sshKey{}, fmt.Errorf("no fingerprint in %q", out)
	}
	return sshKey{name: name, email: email, private: file, public: strings.TrimSpace(string(pub)), fingerprint: fp[1]}, nil
}

// allowedSigner is the key's line in git's allowed_signers format.
func (k sshKey) allowedSigner() string { return k.email + " " + k.public }

// repo is a Git repository on disk, pushed to by the demo's developers and served over HTTP.
type repo struct {
	dir   string
	clock time.Time
}

func newRepo(dir string) (*repo, error) {
	r := &repo{dir: dir, clock: time.Now().UTC().Truncate(time.Second)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	_, err := r.git(nil, "init", "-q", "-b", "main")
	return r, err
}

// git runs git in the repository as author (nil: the repository's own identity, unsigned).
func (r *repo) git(author *sshKey, args ...string) (string, error) {
	name, email := "Writ Demo", "demo@writ.dev"
	if author != nil {
		name, email = author.name, author.email
	}
	date := r.clock.Format(time.RFC3339)
	env := []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email, "GIT_COMMITTER_DATE=" + date,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	out, err := fixtures.Run(r.dir, env, nil, "git", args...)
	return strings.TrimSpace(out), err
}

// commit writes files (path -> content), commits them with message as author, signed with the
// author's key if sign, and returns the commit's hash and the command the author typed.
func (r *repo) commit(author *sshKey, sign bool, message string, files map[string]string) (hash, typed string, err error) {
	for p, content := range files {
		full := filepath.Join(r.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", "", err
		}
	}
	if _, err := r.git(author, "add", "-A"); err != nil {
		return "", "", err
	}
	args := []string{"-c", "commit.gpgsign=false", "commit", "-q", "-m", message}
	typed = fmt.Sprintf("git commit -m %q", message)
	if sign {
		args = []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + author.private, "commit", "-q", "-S", "-m", message}
		typed = fmt.Sprintf("git -c gpg.format=ssh -c user.signingkey=%s commit -S -m %q", filepath.Base(author.private), message)
	}
	// Commits are a second apart and never in the future, so `git log` reads naturally.
	r.clock = time.Now().UTC().Truncate(time.Second)
	if _, err := r.git(author, args...); err != nil {
		return "", "", err
	}
	hash, err = r.git(nil, "rev-parse", "HEAD")
	return hash, typed, err
}

// serveGit serves every repository under root over HTTP on loopback with git http-backend and
// basic authentication, until ctx ends. It returns the base URL.
func serveGit(ctx context.Context, root, user, password string) (string, error) {
	h, err := fixtures.GitHTTPHandler(root, user, password)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}

// randomHex returns n random bytes in hex: the Git password and the demo's secret value.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
