package source

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// transportAuth builds go-git's credentials for p. ctx's deadline bounds the SSH connect.
func (p *plan) transportAuth(ctx context.Context, a Auth) (transport.AuthMethod, error) {
	switch {
	case p.scheme == "ssh":
		return p.sshAuth(ctx, a)
	case a.BearerToken != "":
		return &githttp.TokenAuth{Token: a.BearerToken}, nil
	case a.Username != "":
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
	}
	return nil, nil
}

// sshAuth returns public-key authentication whose host key check uses only a.SSHKnownHosts, and
// which offers the server only the host key algorithms known_hosts has keys for (otherwise the
// server could pick a key type known_hosts lacks and the check would fail spuriously).
func (p *plan) sshAuth(ctx context.Context, a Auth) (transport.AuthMethod, error) {
	user := p.user
	if user == "" {
		user = gitssh.DefaultUsername
	}
	signer, err := ssh.ParsePrivateKey(a.SSHPrivateKey)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, invalid("auth.sshPrivateKey is passphrase-protected: give an unencrypted key")
		}
		// ParsePrivateKey's errors describe the format, never the key material.
		return nil, invalid("auth.sshPrivateKey is not a private key in PEM or OpenSSH format: %v", err)
	}
	hostWithPort := net.JoinHostPort(p.host, p.port)
	db, err := knownHostsDB(a.SSHKnownHosts)
	if err != nil {
		return nil, err
	}
	algos := db.HostKeyAlgorithms(hostWithPort)
	if len(algos) == 0 {
		return nil, invalid("auth.sshKnownHosts has no key for %s: add its line (ssh-keyscan -p %s %s, checked out of band)", hostWithPort, p.port, p.host)
	}
	auth := &gitssh.PublicKeys{User: user, Signer: signer}
	auth.HostKeyCallback = db.HostKeyCallback()
	auth.HostKeyAlgorithms = algos
	return &sshTimeoutAuth{PublicKeys: auth, ctx: ctx}, nil
}

// knownHostsDB parses known_hosts lines. The parsers read files, so the lines go through a
// temporary file (host keys are public).
func knownHostsDB(lines []byte) (interface {
	HostKeyCallback() ssh.HostKeyCallback
	HostKeyAlgorithms(string) []string
}, error) {
	entries, rest := 0, lines
	for {
		var err error
		_, _, _, _, rest, err = ssh.ParseKnownHosts(rest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("auth.sshKnownHosts: %v", err)
		}
		entries++
	}
	if entries == 0 {
		return nil, invalid("auth.sshKnownHosts holds no host keys")
	}
	f, err := os.CreateTemp("", "writ-known-hosts-")
	if err != nil {
		return nil, fmt.Errorf("writing known_hosts for the ssh client: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing known_hosts for the ssh client: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, invalid("auth.sshKnownHosts: %v", err)
	}
	return db, nil
}

// sshTimeoutAuth bounds go-git's SSH dial by ctx's deadline: go-git does not pass the context
// to the dial itself.
type sshTimeoutAuth struct {
	*gitssh.PublicKeys
	ctx context.Context
}

func (a *sshTimeoutAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	if d, ok := a.ctx.Deadline(); ok {
		cfg.Timeout = max(time.Until(d), time.Millisecond)
	}
	return cfg, nil
}

// secrets are the strings an error must never show.
type secrets []string

func secretsOf(a Auth) secrets {
	var s secrets
	add := func(v string) {
		if len(v) >= 4 { // shorter values would redact ordinary words
			s = append(s, v)
		}
	}
	add(a.Password)
	add(a.BearerToken)
	if a.Password != "" {
		add(base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password)))
	}
	for _, line := range strings.Split(string(a.SSHPrivateKey), "\n") {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
			add(line)
		}
	}
	return s
}

// scrub returns err, or when its text shows a secret, a redacted copy that still matches this
// package's sentinels and context errors with errors.Is.
func (s secrets) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, v := range s {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	if msg == err.Error() {
		return err
	}
	r := &redactedError{msg: msg}
	for _, sentinel := range []error{ErrInvalidOptions, ErrRefNotFound, ErrAuth, ErrHostKey, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			r.is = append(r.is, sentinel)
		}
	}
	return r
}

type redactedError struct {
	msg string
	is  []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.is }
