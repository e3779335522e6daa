package sshsig

import (
	"encoding/pem"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/provenance/signature"
)

// heartwoodTime is the committer time of testdata/heartwood-3b5fac17.payload.
const heartwoodTime = 1738069545

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var compileErr = regexp.MustCompile(`^allowed_signers line ([0-9]+): [a-z]`)

// FuzzCompile feeds arbitrary allowed_signers files to Compile: it must not panic, every error
// must name an existing line and start in lower case, and every entry it returns must be usable.
func FuzzCompile(f *testing.F) {
	f.Add(readTestdata(f, "heartwood_allowed_signers"))
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL460KIEccS4881p7PPpiiQBsxF+H5tgC6De6crw9rbU"
	for _, s := range []string{
		"",
		"# comment\n\n",
		`"Lorenz Leutgeb" ` + key,
		`*@aminda.eu,*@mikaela.info valid-after="20200217000000",valid-before="20261220000000" ` + key + " GPG",
		`a,!b cert-authority,namespaces="git,file",valid-after="20240101Z",valid-before="202501011230UTC" ` + key + " c",
		`alice namespaces="a\"b" ` + key,
		`"alice ` + key,
		`alice valid-after="2024" ` + key,
		"alice\r\nbob " + key + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Compile(in)
		if err != nil {
			m := compileErr.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q does not start with \"allowed_signers line N: \" and a lower-case message", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > strings.Count(string(in), "\n")+1 {
				t.Fatalf("error names line %d of a %d-line file", n, strings.Count(string(in), "\n")+1)
			}
			return
		}
		last := 0
		for _, e := range v.entries {
			if e.line <= last || len(e.keyBlob) == 0 || e.identity == "" || e.identity[0] == '!' {
				t.Fatalf("unusable entry %+v", e)
			}
			if e.validAfter != 0 && e.validBefore != 0 && e.validBefore <= e.validAfter {
				t.Fatalf("entry on line %d has an empty window", e.line)
			}
			last = e.line
		}
	})
}

// FuzzVerify feeds arbitrary payloads, signatures and times to Verify against the heartwood
// allowed_signers file plus a cert-authority line: it must not panic, every error must wrap one of
// the package's sentinels, and a success must be a complete Signer. When armor is true, sig is a
// raw SSHSIG blob that the harness armors, so the fuzzer explores the blob and certificate parsing
// rather than base64.
func FuzzVerify(f *testing.F) {
	signers := append(readTestdata(f, "heartwood_allowed_signers"), readTestdata(f, "ca_allowed_signers")...)
	v, err := Compile(signers)
	if err != nil {
		f.Fatal(err)
	}
	payload := readTestdata(f, "heartwood-3b5fac17.payload")
	for _, name := range []string{"heartwood-3b5fac17.sig", "cert-alice.sig"} {
		sig := readTestdata(f, name)
		f.Add(payload, sig, int64(heartwoodTime), false)
		blob, _ := pem.Decode(sig)
		f.Add(payload, blob.Bytes, int64(heartwoodTime), true)
		f.Add([]byte("x"), blob.Bytes, int64(1), true)
	}
	f.Add(payload, []byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"), int64(heartwoodTime), false)
	f.Add(payload, []byte(""), int64(heartwoodTime), false)
	sentinels := []error{signature.ErrMalformed, signature.ErrUnsupported, signature.ErrWrongNamespace,
		signature.ErrUnknownKey, signature.ErrBadSignature, signature.ErrExpired}
	f.Fuzz(func(t *testing.T, payload, sig []byte, unix int64, armor bool) {
		if armor {
			sig = pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: sig})
		}
		at := time.Unix(unix, 0)
		signer, err := v.Verify(payload, sig, at)
		if err != nil {
			if signer != (signature.Signer{}) {
				t.Fatalf("signer %+v returned with error %v", signer, err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %q wraps no sentinel", err)
		}
		if signer.Method != signature.SSH || !strings.HasPrefix(signer.Fingerprint, "SHA256:") ||
			signer.Identity == "" || !signer.SigningTime.Equal(at) || signer.TimeSource != signature.TimeCommitter {
			t.Fatalf("incomplete signer %+v", signer)
		}
	})
}
