package sshsig

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/test/fixtures"
)

// splitCommit splits a raw commit (as `git cat-file commit` prints it) into the signed payload and
// the signature: the payload is the object without the "gpgsig" header and its space-prefixed
// continuation lines; the signature is that header's value with each continuation line's leading
// space removed. sig is nil for an unsigned commit. The real parser lives in provenance/gitobj;
// this one is just enough for these tests.
func splitCommit(t testing.TB, raw []byte) (payload, sig []byte) {
	t.Helper()
	headerEnd := bytes.Index(raw, []byte("\n\n"))
	if headerEnd < 0 {
		t.Fatal("commit has no blank line between headers and message")
	}
	lines := strings.SplitAfter(string(raw[:headerEnd+1]), "\n")
	var out, sigb strings.Builder
	inSig := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "gpgsig "):
			if sigb.Len() > 0 {
				t.Fatal("commit has two gpgsig headers")
			}
			inSig = true
			sigb.WriteString(strings.TrimPrefix(l, "gpgsig "))
		case inSig && strings.HasPrefix(l, " "):
			sigb.WriteString(l[1:])
		default:
			inSig = false
			out.WriteString(l)
		}
	}
	out.Write(raw[headerEnd+1:])
	if sigb.Len() > 0 {
		sig = []byte(sigb.String())
	}
	return []byte(out.String()), sig
}

// committerTime returns the time on a raw commit's committer line.
func committerTime(t testing.TB, raw []byte) time.Time {
	t.Helper()
	for _, l := range strings.Split(string(raw), "\n") {
		if l == "" {
			break
		}
		if rest, ok := strings.CutPrefix(l, "committer "); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				break
			}
			sec, err := strconv.ParseInt(f[len(f)-2], 10, 64)
			if err != nil {
				t.Fatalf("committer timestamp %q: %v", f[len(f)-2], err)
			}
			return time.Unix(sec, 0).UTC()
		}
	}
	t.Fatal("commit has no committer line")
	return time.Time{}
}

// corpusDir returns /work/shared/testdata/real-commits/ssh, found relative to this file (the
// repository's ../shared), and fails the test if it is missing.
func corpusDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(fixtures.Corpus(t), "ssh")
}

// run runs a real tool in dir with a hermetic environment and returns its stdout.
func run(t testing.TB, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	return runEnv(t, dir, nil, stdin, name, args...)
}

// runEnv is run with extra environment variables.
func runEnv(t testing.TB, dir string, env []string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TZ=UTC", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C"}, env...)
	out, stderr, err := execute(cmd, stdin)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return out
}

// try runs a real tool like run but reports failure instead of failing the test.
func try(dir string, stdin []byte, name string, args ...string) (stdout []byte, ok bool) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TZ=UTC", "LC_ALL=C"}
	out, _, err := execute(cmd, stdin)
	return out, err == nil
}

func execute(cmd *exec.Cmd, stdin []byte) (stdout []byte, stderr string, err error) {
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.String(), err
}

// newKey makes a key pair with ssh-keygen ("ed25519", "rsa", "ecdsa") and returns the private key
// path and the public key line.
func newKey(t testing.TB, dir, typ, name string) (path, pub string) {
	t.Helper()
	path = filepath.Join(dir, name)
	run(t, dir, nil, "ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name, "-f", path)
	b, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(b))
}

// certify issues a user certificate for pubKeyPath's key with ssh-keygen -s and returns the path of
// the certificate (key-cert.pub).
func certify(t testing.TB, dir, caPath, keyPath string, principals, validity string, extra ...string) string {
	t.Helper()
	args := append([]string{"-q", "-s", caPath, "-I", "writ-test", "-n", principals, "-V", validity}, extra...)
	run(t, dir, nil, "ssh-keygen", append(args, keyPath+".pub")...)
	return keyPath + "-cert.pub"
}

// sign signs payload with ssh-keygen -Y sign in namespace ns; keyPath may be a private key or a
// certificate beside its private key.
func sign(t testing.TB, dir, keyPath, ns string, payload []byte, extra ...string) []byte {
	t.Helper()
	return run(t, dir, payload, "ssh-keygen", append([]string{"-q", "-Y", "sign", "-f", keyPath, "-n", ns}, extra...)...)
}
