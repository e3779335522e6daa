package source_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"writ.dev/writ/reconcile/source"
)

// The SSH tests need no sshd: sshServer speaks real SSH (x/crypto/ssh) on a loopback port and
// runs real `git upload-pack` for go-git's exec request, which is all a Git SSH server does.

func newSigner(t *testing.T, ecdsaKey bool) (ssh.Signer, []byte) {
	t.Helper()
	var priv any
	if ecdsaKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	} else {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(block)
}

// testSSHKey returns a fresh unencrypted private key in OpenSSH PEM format.
func testSSHKey(t *testing.T) []byte {
	_, key := newSigner(t, false)
	return key
}

func testEncryptedSSHKey(t *testing.T) []byte {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(k, "", []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// testHostKeyLine returns "<type> <base64>" for a fresh public key.
func testHostKeyLine(t *testing.T) string {
	s, _ := newSigner(t, false)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

type sshServer struct {
	addr     string // 127.0.0.1:port
	port     string
	hostKeys map[string]ssh.Signer // "ed25519", "ecdsa"
}

// knownHosts returns a known_hosts line for the server's key of the given kind.
func (s *sshServer) knownHosts(kind string) []byte {
	return []byte(knownhosts.Line([]string{s.addr}, s.hostKeys[kind].PublicKey()) + "\n")
}

// startSSHServer accepts user "git" with the authorized key, offering two host key types so that
// known_hosts naming only one must steer the client's algorithm choice.
func startSSHServer(t *testing.T, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	ed, _ := newSigner(t, false)
	ec, _ := newSigner(t, true)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == "git" && bytes.Equal(k.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(ed)
	cfg.AddHostKey(ec)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg)
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &sshServer{addr: ln.Addr().String(), port: port, hostKeys: map[string]ssh.Signer{"ed25519": ed, "ecdsa": ec}}
}

func serveSSH(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, reqs, err := nch.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, reqs)
	}
}

// serveSession runs `git upload-pack '<path>'`, the only command it accepts.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		var exe struct{ Command string }
		if req.Type != "exec" || ssh.Unmarshal(req.Payload, &exe) != nil {
			_ = req.Reply(false, nil)
			continue
		}
		path, ok := strings.CutPrefix(exe.Command, "git-upload-pack '")
		path, ok2 := strings.CutSuffix(path, "'")
		if !ok || !ok2 || strings.Contains(path, "'") {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", "upload-pack", path)
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		stdin, err := cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
		}
		status := uint32(0)
		if err == nil {
			go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
			err = cmd.Wait()
		}
		if err != nil {
			status = 1
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func TestFetchOverSSH(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	first := o.commitN(1)
	client, clientKey := newSigner(t, false)
	srv := startSSHServer(t, client.PublicKey())

	for _, tc := range []struct{ name, url, hostKey string }{
		{"ssh url, ed25519 host key", "ssh://git@" + srv.addr + o.dir, "ed25519"},
		// go-git reads a port in the scp-like form as host:port:path.
		{"scp-like url, ecdsa host key", "git@127.0.0.1:" + srv.port + ":" + o.dir, "ecdsa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := source.Options{
				URL:     tc.url,
				Ref:     source.Ref{Branch: "main"},
				Auth:    source.Auth{SSHPrivateKey: clientKey, SSHKnownHosts: srv.knownHosts(tc.hostKey)},
				Timeout: 20 * time.Second,
			}
			if a := fetch(t, t.TempDir(), opts); a.Commit != first {
				t.Fatalf("got %s, want %s", a.Commit, first)
			}
		})
	}

	t.Run("new commits", func(t *testing.T) {
		opts := source.Options{
			URL:  "ssh://git@" + srv.addr + o.dir,
			Ref:  source.Ref{Branch: "main"},
			Auth: source.Auth{SSHPrivateKey: clientKey, SSHKnownHosts: srv.knownHosts("ed25519")},
		}
		dir := t.TempDir()
		fetch(t, dir, opts)
		second := o.commitN(1)
		if a := fetch(t, dir, opts); a.Commit != second {
			t.Fatalf("got %s, want %s", a.Commit, second)
		}
	})
}

func TestFetchOverSSHRejects(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(1)
	client, clientKey := newSigner(t, false)
	_, strangerKey := newSigner(t, false)
	srv := startSSHServer(t, client.PublicKey())
	impostor := []byte("[127.0.0.1]:" + srv.port + " " + testHostKeyLine(t) + "\n")

	for _, tc := range []struct {
		name       string
		auth       source.Auth
		want       error
		wantSubstr string
	}{
		{"changed host key", source.Auth{SSHPrivateKey: clientKey, SSHKnownHosts: impostor}, source.ErrHostKey, "host key differs"},
		{"unknown client key", source.Auth{SSHPrivateKey: strangerKey, SSHKnownHosts: srv.knownHosts("ed25519")}, source.ErrAuth, "refused the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := fetchErr(t.TempDir(), source.Options{URL: "ssh://git@" + srv.addr + o.dir, Ref: source.Ref{Branch: "main"}, Auth: tc.auth})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Fatalf("got %v, want %v with %q", err, tc.want, tc.wantSubstr)
			}
			assertNoSecret(t, err, string(tc.auth.SSHPrivateKey))
			t.Log(err)
		})
	}
}

// TestFetchOverSSHTimesOutOnASilentServer: a server that accepts the connection and never
// speaks SSH must not hold Fetch past its timeout.
func TestFetchOverSSHTimesOutOnASilentServer(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	_, key := newSigner(t, false)
	host, _ := newSigner(t, false)
	opts := source.Options{
		URL:     "ssh://git@" + addr + "/repo",
		Ref:     source.Ref{Branch: "main"},
		Auth:    source.Auth{SSHPrivateKey: key, SSHKnownHosts: []byte(knownhosts.Line([]string{addr}, host.PublicKey()))},
		Timeout: 300 * time.Millisecond,
	}
	dir := t.TempDir()
	start := time.Now()
	_, err := fetchCtx(context.Background(), dir, opts)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Fetch took %s despite a 300ms timeout", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}

	// The abandoned handshake still holds the cache: a second Fetch waits, within its timeout.
	_, err = fetchCtx(context.Background(), dir, opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second fetch: got %v, want context.DeadlineExceeded", err)
	}
	t.Log(err)
}

// silentServer listens on a loopback port, accepts connections and never speaks; it returns the
// address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, silent
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
