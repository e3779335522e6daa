package sshsig

import (
	"bytes"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	hsig "github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"writ.dev/writ/provenance/signature"
)

// testKey is a key pair made by ssh-keygen.
type testKey struct {
	path, pub, fp string
	cert          string // path of a certificate for the key, if any
}

// fixture holds real keys, certificates and payloads made with ssh-keygen for one test.
type fixture struct {
	dir                            string
	ed, rsa, ecdsa, other, ca, ca2 testKey
	// certAlice: CA ca, principals alice and alice@example.com, valid 2024-01-01 to 2025-01-01.
	certAlice, certMallory, certOtherCA, certHost, certForce, certVerifyReq testKey
	payload, otherPayload                                                   []byte
}

// at2024 lies inside every fixture validity window.
var at2024 = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	key := func(typ, name string) testKey {
		path, pub := newKey(t, f.dir, typ, name)
		out := run(t, f.dir, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", path+".pub")
		return testKey{path: path, pub: pub, fp: strings.Fields(string(out))[1]}
	}
	f.ed, f.rsa, f.ecdsa = key("ed25519", "ed"), key("rsa", "rsa"), key("ecdsa", "ecdsa")
	f.other, f.ca, f.ca2 = key("ed25519", "other"), key("ed25519", "ca"), key("ed25519", "ca2")
	withCert := func(name, ca, principals, validity string, extra ...string) testKey {
		k := key("ed25519", name)
		k.cert = certify(t, f.dir, ca, k.path, principals, validity, extra...)
		return k
	}
	const window = "20240101:20250101"
	f.certAlice = withCert("alice", f.ca.path, "alice,alice@example.com", window)
	f.certMallory = withCert("mallory", f.ca.path, "mallory", window)
	f.certOtherCA = withCert("alice2", f.ca2.path, "alice", window)
	f.certHost = withCert("host", f.ca.path, "alice", window, "-h")
	f.certForce = withCert("force", f.ca.path, "alice", window, "-O", "force-command=/bin/true")
	f.certVerifyReq = withCert("verifyreq", f.ca.path, "alice", window, "-O", "verify-required")
	f.payload = []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
		"author Alice <alice@example.com> 1717243200 +0000\n" +
		"committer Alice <alice@example.com> 1717243200 +0000\n\ndeploy v1\n")
	f.otherPayload = bytes.Replace(f.payload, []byte("deploy v1"), []byte("deploy v2"), 1)
	return f
}

func (f *fixture) sign(t testing.TB, path, ns string, extra ...string) []byte {
	return sign(t, f.dir, path, ns, f.payload, extra...)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	edSig := f.sign(t, f.ed.path, "git")
	for _, tc := range []struct {
		name, signers string
		sig           []byte
		at            time.Time
		identity, fp  string
	}{
		{"ed25519", "alice@example.com " + f.ed.pub, edSig, at2024, "alice@example.com", f.ed.fp},
		{"rsa", "rsa-user " + f.rsa.pub, f.sign(t, f.rsa.path, "git"), at2024, "rsa-user", f.rsa.fp},
		{"ecdsa", "ecdsa-user " + f.ecdsa.pub, f.sign(t, f.ecdsa.path, "git"), at2024, "ecdsa-user", f.ecdsa.fp},
		{"sha256 hash", "alice " + f.ed.pub, f.sign(t, f.ed.path, "git", "-O", "hashalg=sha256"), at2024, "alice", f.ed.fp},
		{"quoted principal with a space", `"Jane Doe" ` + f.ed.pub, edSig, at2024, "Jane Doe", f.ed.fp},
		{"wildcards report the pattern", "*@example.com,!mallory@example.com " + f.ed.pub, edSig, at2024, "*@example.com", f.ed.fp},
		{"negated pattern first", "!mallory,alice " + f.ed.pub, edSig, at2024, "alice", f.ed.fp},
		{"namespaces includes git", `alice namespaces="file,git" ` + f.ed.pub, edSig, at2024, "alice", f.ed.fp},
		{"namespaces wildcard", `alice NAMESPACES="*" ` + f.ed.pub, edSig, at2024, "alice", f.ed.fp},
		{"inside window, comment", `alice valid-after="20240101",valid-before="20250101Z" ` + f.ed.pub + " laptop key", edSig, at2024, "alice", f.ed.fp},
		{"at exactly valid-after", `alice valid-after="20240601120000" ` + f.ed.pub, edSig, at2024, "alice", f.ed.fp},
		{"second line authorises after expired first",
			"old valid-before=\"20230101\" " + f.ed.pub + "\nfile-only namespaces=\"file\" " + f.ed.pub + "\nnew " + f.ed.pub,
			edSig, at2024, "new", f.ed.fp},
		{"comments, blank lines, CRLF", "# team\r\n\r\n  alice " + f.ed.pub + "\r\n", edSig, at2024, "alice", f.ed.fp},
		{"cert-authority, exact principal", "alice cert-authority " + f.ca.pub, f.sign(t, f.certAlice.cert, "git"), at2024, "alice", f.certAlice.fp},
		{"cert-authority, wildcard principal", "*@example.com cert-authority " + f.ca.pub, f.sign(t, f.certAlice.cert, "git"), at2024, "alice@example.com", f.certAlice.fp},
		{"cert with force-command", "alice cert-authority " + f.ca.pub, f.sign(t, f.certForce.cert, "git"), at2024, "alice", f.certForce.fp},
		{"whitespace around armor", "alice " + f.ed.pub, append(append([]byte("\n  "), edSig...), "\n\n"...), at2024, "alice", f.ed.fp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Compile([]byte(tc.signers))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := v.Verify(f.payload, tc.sig, tc.at)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := signature.Signer{Method: signature.SSH, Fingerprint: tc.fp, Identity: tc.identity,
				SigningTime: tc.at, TimeSource: signature.TimeCommitter}
			if got != want {
				t.Fatalf("Verify = %+v\nwant     %+v", got, want)
			}
		})
	}
}

func TestVerifyAttacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	edSig := f.sign(t, f.ed.path, "git")
	trusted := "alice " + f.ed.pub
	caLine := "alice cert-authority " + f.ca.pub
	tampered := bytes.Replace(f.payload, []byte("deploy v1"), []byte("deploy v9"), 1)

	for _, tc := range []struct {
		name, signers string
		payload, sig  []byte
		at            time.Time
		want          error
	}{
		{"tampered payload", trusted, tampered, edSig, at2024, signature.ErrBadSignature},
		{"signature copied onto another payload", trusted, f.otherPayload, edSig, at2024, signature.ErrBadSignature},
		{"empty payload", trusted, nil, edSig, at2024, signature.ErrBadSignature},
		{"namespace file", trusted, f.payload, f.sign(t, f.ed.path, "file"), at2024, signature.ErrWrongNamespace},
		{"namespace gitx", trusted, f.payload, f.sign(t, f.ed.path, "gitx"), at2024, signature.ErrWrongNamespace},
		{"unknown key", trusted, f.payload, f.sign(t, f.other.path, "git"), at2024, signature.ErrUnknownKey},
		{"empty allowed_signers", "# nobody\n", f.payload, edSig, at2024, signature.ErrUnknownKey},
		{"before valid-after", `alice valid-after="20240601120001" ` + f.ed.pub, f.payload, edSig, at2024, signature.ErrExpired},
		{"after valid-before", `alice valid-before="20240601115959Z" ` + f.ed.pub, f.payload, edSig, at2024, signature.ErrExpired},
		{"namespaces file only", `alice namespaces="file" ` + f.ed.pub, f.payload, edSig, at2024, signature.ErrUnknownKey},
		{"namespaces negate git", `alice namespaces="*,!git" ` + f.ed.pub, f.payload, edSig, at2024, signature.ErrUnknownKey},
		{"expired line wins over namespace line", `a valid-before="20230101" ` + f.ed.pub + "\n" + `b namespaces="file" ` + f.ed.pub,
			f.payload, edSig, at2024, signature.ErrExpired},
		{"cert from untrusted CA", caLine, f.payload, f.sign(t, f.certOtherCA.cert, "git"), at2024, signature.ErrUnknownKey},
		{"expired certificate", caLine, f.payload, f.sign(t, f.certAlice.cert, "git"), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), signature.ErrExpired},
		{"certificate not yet valid", caLine, f.payload, f.sign(t, f.certAlice.cert, "git"), time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC), signature.ErrExpired},
		{"cert principal not matching", caLine, f.payload, f.sign(t, f.certMallory.cert, "git"), at2024, signature.ErrUnknownKey},
		{"cert principal negated", "*,!mallory cert-authority " + f.ca.pub, f.payload, f.sign(t, f.certMallory.cert, "git"), at2024, signature.ErrUnknownKey},
		{"cert with forged principals", caLine, f.payload, forgePrincipals(t, f.sign(t, f.certMallory.cert, "git"), "alice"), at2024, signature.ErrBadSignature},
		{"host certificate", caLine, f.payload, f.sign(t, f.certHost.cert, "git"), at2024, signature.ErrUnsupported},
		{"cert with verify-required", caLine, f.payload, f.sign(t, f.certVerifyReq.cert, "git"), at2024, signature.ErrUnsupported},
		{"CA key signing directly", caLine, f.payload, f.sign(t, f.ca.path, "git"), at2024, signature.ErrUnknownKey},
		{"cert signature, only its key listed", "alice " + f.certAlice.pub, f.payload, f.sign(t, f.certAlice.cert, "git"), at2024, signature.ErrUnknownKey},
		{"CA listed without cert-authority", "alice " + f.ca.pub, f.payload, f.sign(t, f.certAlice.cert, "git"), at2024, signature.ErrUnknownKey},
		{"unsupported hash algorithm", trusted, f.payload, reencode(t, edSig, func(s *hsig.Signature) { s.HashAlgorithm = "sha1" }), at2024, signature.ErrUnsupported},
		{"unsupported version", trusted, f.payload, reencode(t, edSig, func(s *hsig.Signature) { s.Version = 2 }), at2024, signature.ErrUnsupported},
		{"malformed armor: no END line", trusted, f.payload, edSig[:bytes.Index(edSig, []byte("-----END"))], at2024, signature.ErrMalformed},
		{"malformed armor: PGP", trusted, f.payload, []byte("-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQ\n-----END PGP SIGNATURE-----\n"), at2024, signature.ErrMalformed},
		{"malformed armor: bad base64", trusted, f.payload, bytes.Replace(edSig, []byte("U1NI"), []byte("U1N!"), 1), at2024, signature.ErrMalformed},
		{"malformed armor: text before", trusted, f.payload, append([]byte("note\n"), edSig...), at2024, signature.ErrMalformed},
		{"malformed armor: text after", trusted, f.payload, append(append([]byte{}, edSig...), "trailer\n"...), at2024, signature.ErrMalformed},
		{"malformed armor: PEM header", trusted, f.payload, bytes.Replace(edSig, []byte("-----\n"), []byte("-----\nProc-Type: 4,ENCRYPTED\n\n"), 1), at2024, signature.ErrMalformed},
		{"empty signature", trusted, f.payload, nil, at2024, signature.ErrMalformed},
		{"truncated blob", trusted, f.payload, truncateBlob(t, edSig), at2024, signature.ErrMalformed},
		{"no signing time", trusted, f.payload, edSig, time.Time{}, signature.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Compile([]byte(tc.signers))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := v.Verify(tc.payload, tc.sig, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if got != (signature.Signer{}) {
				t.Fatalf("Verify returned signer %+v with its error", got)
			}
			assertNoPrivateKey(t, f, err)
			t.Log(err)
		})
	}
}

// assertNoPrivateKey fails if an error message contains a line of any fixture private key.
func assertNoPrivateKey(t *testing.T, f *fixture, err error) {
	t.Helper()
	for _, k := range []testKey{f.ed, f.rsa, f.ecdsa, f.other, f.ca, f.ca2, f.certAlice, f.certMallory} {
		priv, rerr := os.ReadFile(k.path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for _, l := range strings.Split(string(priv), "\n") {
			if len(l) > 16 && !strings.HasPrefix(l, "-----") && strings.Contains(err.Error(), l) {
				t.Fatalf("error message contains private key material of %s", k.path)
			}
		}
	}
}

// reencode parses an armored signature, changes it and armors it again.
func reencode(t testing.TB, armored []byte, change func(*hsig.Signature)) []byte {
	t.Helper()
	s, err := hsig.Unarmor(armored)
	if err != nil {
		t.Fatal(err)
	}
	change(s)
	return hsig.Armor(s)
}

// forgePrincipals replaces the principals of the certificate inside an armored signature,
// leaving the CA's signature over the original certificate in place.
func forgePrincipals(t testing.TB, armored []byte, principals ...string) []byte {
	t.Helper()
	return reencode(t, armored, func(s *hsig.Signature) {
		cert, ok := s.PublicKey.(*ssh.Certificate)
		if !ok {
			t.Fatal("signature was not made with a certificate")
		}
		forged := *cert
		forged.ValidPrincipals = principals
		s.PublicKey = &forged
	})
}

// truncateBlob armors the first two thirds of a signature's blob.
func truncateBlob(t testing.TB, armored []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(armored)
	if b == nil {
		t.Fatal("fixture signature is not PEM")
	}
	b.Bytes = b.Bytes[:len(b.Bytes)*2/3]
	return pem.EncodeToMemory(b)
}

// TestVerifyConcurrent shares one Verifier between goroutines; run it with -race.
func TestVerifyConcurrent(t *testing.T) {
	v, err := Compile(readTestdata(t, "heartwood_allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := readTestdata(t, "heartwood-3b5fac17.payload"), readTestdata(t, "heartwood-3b5fac17.sig")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(payload, sig, time.Unix(heartwoodTime, 0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
