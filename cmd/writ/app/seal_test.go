package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
)

// runIn runs the CLI with stdin.
func runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

type sealKey struct {
	key               *sealing.Key
	certFile, keyFile string
}

var (
	sealKeysOnce sync.Once
	sealKeys     []*sealing.Key
)

// newSealKey returns the i-th of three 2048-bit test keys (made once), with its certificate and
// private key written into dir.
func newSealKey(t *testing.T, dir string, i int) sealKey {
	t.Helper()
	sealKeysOnce.Do(func() {
		for n := 0; n < 3; n++ {
			k, err := sealing.NewKey(rand.Reader, 2048, time.Now().Add(time.Duration(n)*time.Minute-time.Hour), 24*time.Hour, "writ-test")
			if err != nil {
				panic(err)
			}
			sealKeys = append(sealKeys, k)
		}
	})
	k := sealKeys[i]
	s := k.Secret("x")
	sk := sealKey{key: k, certFile: filepath.Join(dir, "cert"+string(rune('a'+i))+".pem"), keyFile: filepath.Join(dir, "key"+string(rune('a'+i))+".pem")}
	if err := os.WriteFile(sk.certFile, s.Data[corev1.TLSCertKey], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sk.keyFile, s.Data[corev1.TLSPrivateKeyKey], 0o600); err != nil {
		t.Fatal(err)
	}
	return sk
}

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"hunter2"}}'
type: Opaque
stringData:
  password: hunter2
data:
  user: YXBw
`

func decodeSealed(t *testing.T, s string) []*ssv1alpha1.SealedSecret {
	t.Helper()
	out, err := sealing.ReadSealedSecrets(strings.NewReader(s))
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return out
}

func TestSealAndRecoveryUnseal(t *testing.T) {
	dir := t.TempDir()
	k := newSealKey(t, dir, 0)
	code, out, errOut := runIn(t, secretYAML, "seal", "--cert", k.certFile)
	if code != ExitOK {
		t.Fatalf("seal: %d %s", code, errOut)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "last-applied") {
		t.Fatalf("plaintext in the output:\n%s", out)
	}
	ss := decodeSealed(t, out)[0]
	if ss.Annotations[sealing.AnnotationKey] != k.key.Fingerprint || len(ss.Spec.EncryptedData) != 2 {
		t.Fatalf("sealed %+v", ss)
	}
	code, out, errOut = runIn(t, out, "seal", "--recovery-unseal", "--recovery-private-key", k.keyFile, "-o", "yaml")
	if code != ExitOK || !strings.Contains(out, "password: "+base64.StdEncoding.EncodeToString([]byte("hunter2"))) || !strings.Contains(out, "kind: Secret") {
		t.Fatalf("recovery-unseal: %d %s %s", code, out, errOut)
	}
	// A backup of the key Secrets works as a recovery key too.
	backup := filepath.Join(dir, "backup.yaml")
	var b bytes.Buffer
	s := k.key.Secret("writ-system")
	s.Name, s.APIVersion, s.Kind = "sealed-secrets-keyabc", "v1", "Secret"
	_ = sealing.Encode(&b, "yaml", map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{s}})
	os.WriteFile(backup, b.Bytes(), 0o600)
	_, sealed, _ := runIn(t, secretYAML, "seal", "--cert", k.certFile, "-o", "yaml")
	if code, out, errOut := runIn(t, sealed, "seal", "--recovery-unseal", "--recovery-private-key", backup); code != ExitOK || !strings.Contains(out, `"user": "YXBw"`) {
		t.Fatalf("recovery from a backup: %d %s %s", code, out, errOut)
	}
}

func TestSealRefusesBadInputAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	k := newSealKey(t, dir, 0)
	out := filepath.Join(dir, "sealed.json")
	notCert := filepath.Join(dir, "not-a-cert.pem")
	os.WriteFile(notCert, []byte("hello"), 0o600)
	expired := filepath.Join(dir, "expired.pem")
	old, err := sealing.NewKey(rand.Reader, 2048, time.Now().Add(-48*time.Hour), time.Hour, "old")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(expired, sealing.CertPEM(old.Cert), 0o600)
	for _, tc := range []struct {
		name, in string
		args     []string
		code     int
		want     string
	}{
		{"a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\n", nil, ExitUsage, "not a Secret"},
		{"not YAML", "{{{", nil, ExitUsage, "not YAML or JSON"},
		{"an unknown field", "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: shop}\ndatta: {}\n", nil, ExitUsage, "not a valid Secret"},
		{"no name", "apiVersion: v1\nkind: Secret\nmetadata: {namespace: shop}\nstringData: {a: b}\n", nil, ExitUsage, "strict scope"},
		{"no data", "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: shop}\n", nil, ExitUsage, "--allow-empty-data"},
		{"not a certificate", secretYAML, []string{"--cert", notCert}, ExitUsage, "no PEM certificate"},
		{"an expired certificate", secretYAML, []string{"--cert", expired}, ExitFail, "expired"},
		{"a bad format", secretYAML, []string{"-o", "xml"}, ExitUsage, "json or yaml"},
	} {
		args := append([]string{"seal", "-w", out}, tc.args...)
		if len(tc.args) == 0 || tc.args[0] != "--cert" {
			args = append(args, "--cert", k.certFile)
		}
		code, _, errOut := runIn(t, tc.in, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d %q, want %d and %q", tc.name, code, errOut, tc.code, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s: a file was written", tc.name)
		}
	}
	if code, _, errOut := runIn(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: shop}\n", "seal", "--cert", k.certFile, "--allow-empty-data", "-w", out); code != ExitOK {
		t.Errorf("--allow-empty-data: %d %s", code, errOut)
	}
}

func TestSealRaw(t *testing.T) {
	dir := t.TempDir()
	k := newSealKey(t, dir, 0)
	value := filepath.Join(dir, "value")
	os.WriteFile(value, []byte("s3cret"), 0o600)
	code, out, errOut := runIn(t, "", "seal", "--raw", "--cert", k.certFile, "--from-file", "password="+value, "--name", "db", "--namespace", "shop")
	if code != ExitOK {
		t.Fatalf("%d %s", code, errOut)
	}
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	ring := sealing.NewKeyRing(k.key)
	if p, _, err := sealing.OpenValue(ct, []byte("shop/db"), ring, ""); err != nil || string(p) != "s3cret" {
		t.Fatalf("open: %q %v", p, err)
	}
	if _, _, err := sealing.OpenValue(ct, []byte("shop/other"), ring, ""); err == nil {
		t.Fatal("a strict raw value opened under another name")
	}
	code, out, _ = runIn(t, "", "seal", "--raw", "--scope", "namespace-wide", "--cert", k.certFile, "--from-file", value, "--namespace", "shop")
	ct, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if p, _, err := sealing.OpenValue(ct, []byte("shop"), ring, ""); code != ExitOK || err != nil || string(p) != "s3cret" {
		t.Fatalf("namespace-wide raw: %d %v", code, err)
	}
	if code, _, errOut := runIn(t, "", "seal", "--raw", "--cert", k.certFile, "--from-file", value, "--namespace", "shop"); code != ExitUsage || !strings.Contains(errOut, "--name") {
		t.Fatalf("strict raw without a name: %d %s", code, errOut)
	}
}

// TestSealBatchForSeveralClusters seals a directory of Secrets for two clusters in one process:
// one file per Secret per certificate, each opening only with its own cluster's key.
func TestSealBatchForSeveralClusters(t *testing.T) {
	dir := t.TempDir()
	a, b := newSealKey(t, dir, 0), newSealKey(t, dir, 1)
	in := filepath.Join(dir, "secrets")
	os.MkdirAll(filepath.Join(in, "team"), 0o755)
	for i, name := range []string{"one", "two", "team/three"} {
		y := strings.ReplaceAll(secretYAML, "name: db", "name: s"+string(rune('0'+i)))
		os.WriteFile(filepath.Join(in, name+".yaml"), []byte(y), 0o600)
	}
	out := filepath.Join(dir, "sealed")
	code, _, errOut := runIn(t, "", "seal", "-f", in, "-w", out, "--cert", a.certFile, "--cert", b.certFile, "-o", "yaml")
	if code != ExitOK || !strings.Contains(errOut, "sealed 6/6") {
		t.Fatalf("%d %s", code, errOut)
	}
	for i, k := range []sealKey{a, b} {
		other := []sealKey{b, a}[i]
		sub := certName(i, k.certFile)
		for _, name := range []string{"one", "two", "team/three"} {
			raw, err := os.ReadFile(filepath.Join(out, sub, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			ss := decodeSealed(t, string(raw))[0]
			if _, _, err := sealing.Unseal(ss, sealing.NewKeyRing(k.key)); err != nil {
				t.Errorf("%s/%s: %v", sub, name, err)
			}
			if _, _, err := sealing.Unseal(ss, sealing.NewKeyRing(other.key)); err == nil {
				t.Errorf("%s/%s opened with the other cluster's key", sub, name)
			}
		}
	}
	// Without -w: one multi-document stream, a document per Secret per certificate.
	code, stream, _ := runIn(t, "", "seal", "-f", in, "--cert", a.certFile, "--cert", b.certFile)
	if code != ExitOK || len(decodeSealed(t, stream)) != 6 {
		t.Fatalf("stream: %d, %d documents", code, len(decodeSealed(t, stream)))
	}
}

// TestSealMergeIntoWithoutChurn: merging re-encrypts only the values whose plaintext changed.
func TestSealMergeIntoWithoutChurn(t *testing.T) {
	dir := t.TempDir()
	a, b := newSealKey(t, dir, 0), newSealKey(t, dir, 1)
	file := filepath.Join(dir, "db.yaml")
	if code, _, errOut := runIn(t, secretYAML, "seal", "--cert", a.certFile, "-o", "yaml", "-w", file); code != ExitOK {
		t.Fatal(errOut)
	}
	before, _ := os.ReadFile(file)
	old := decodeSealed(t, string(before))[0]
	changed := strings.Replace(secretYAML, "password: hunter2", "password: changed", 1)
	code, _, errOut := runIn(t, changed, "seal", "--cert", b.certFile, "--merge-into", file, "--recovery-private-key", a.keyFile)
	if code != ExitOK {
		t.Fatalf("%d %s", code, errOut)
	}
	after, _ := os.ReadFile(file)
	merged := decodeSealed(t, string(after))[0]
	if merged.Spec.EncryptedData["user"] != old.Spec.EncryptedData["user"] || merged.Spec.EncryptedData["password"] == old.Spec.EncryptedData["password"] {
		t.Fatalf("merge churned or missed a change:\n%s\n%s", before, after)
	}
	if !strings.HasPrefix(string(after), "apiVersion:") {
		t.Errorf("a YAML file was rewritten as something else:\n%s", after)
	}
	s, _, err := sealing.Unseal(merged, sealing.NewKeyRing(a.key, b.key))
	if err != nil || string(s.Data["password"]) != "changed" || string(s.Data["user"]) != "app" {
		t.Fatalf("%v %v", s, err)
	}
}

// TestSealCertFromURL: --cert takes the controller's /v1/cert.pem as a URL, as kubeseal does.
func TestSealCertFromURL(t *testing.T) {
	dir := t.TempDir()
	k := newSealKey(t, dir, 2)
	srv := httptest.NewServer(sealcontroller.Handler(sealcontroller.HandlerOptions{Ring: func(context.Context) (*sealing.KeyRing, error) { return sealing.NewKeyRing(k.key), nil }}))
	defer srv.Close()
	code, out, errOut := runIn(t, secretYAML, "seal", "--cert", srv.URL+sealing.CertPath)
	if code != ExitOK {
		t.Fatalf("%d %s", code, errOut)
	}
	if _, _, err := sealing.Unseal(decodeSealed(t, out)[0], sealing.NewKeyRing(k.key)); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runIn(t, secretYAML, "seal", "--cert", srv.URL+"/nothing"); code != ExitFail || !strings.Contains(errOut, "404") {
		t.Fatalf("a URL that is not a certificate: %d %s", code, errOut)
	}
}

// TestSealSeveralCertsIntoDirectory: one Secret from stdin, two certificates, -w DIR: a file per
// certificate, each opening only with its cluster's key.
func TestSealSeveralCertsIntoDirectory(t *testing.T) {
	dir := t.TempDir()
	a, b := newSealKey(t, dir, 0), newSealKey(t, dir, 1)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	if code, _, errOut := runIn(t, secretYAML, "seal", "--cert", a.certFile, "--cert", b.certFile, "-w", out, "-o", "yaml"); code != ExitOK || !strings.Contains(errOut, "wrote 2") {
		t.Fatalf("%d %s", code, errOut)
	}
	for i, k := range []sealKey{a, b} {
		raw, err := os.ReadFile(filepath.Join(out, certName(i, k.certFile), "db.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sealing.Unseal(decodeSealed(t, string(raw))[0], sealing.NewKeyRing(k.key)); err != nil {
			t.Errorf("cert %d: %v", i, err)
		}
	}
	// Without -w: one stream, a document per certificate.
	if code, stream, _ := runIn(t, secretYAML, "seal", "--cert", a.certFile, "--cert", b.certFile, "-o", "yaml"); code != ExitOK || len(decodeSealed(t, stream)) != 2 {
		t.Fatalf("multi-document stream: %d %s", code, stream)
	}
}
