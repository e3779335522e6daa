package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"writ.dev/writ/sealing"
)

// sealOptions are kubeseal's flags, plus several --cert and a directory as input.
type sealOptions struct {
	cluster                              clusterOptions
	certs                                []string
	fetchCert, raw, allowEmpty, validate bool
	reEncrypt, recoveryUnseal            bool
	format, in, out, mergeInto, name, ns string
	scope                                ssv1alpha1.SealingScope
	scopeSet                             bool
	fromFiles, recoveryKeys              []string
	now                                  func() time.Time
}

func newSealCommand() *cobra.Command {
	o := sealOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:   "seal [flags] < secret.yaml",
		Short: "Seal Secrets with the cluster's key so they can live in Git (kubeseal-compatible)",
		Long: `Seal encrypts Secrets into SealedSecrets (bitnami.com/v1alpha1) that only the cluster can open,
in the format of Bitnami Sealed Secrets: writ-controller and Bitnami's controller open each
other's, and kubeseal's flags work here. Input is Secrets on stdin or -f FILE (YAML or JSON, several
documents or a List), or -f DIR: every *.yaml, *.yml and *.json file in it, sealed in one process
with progress on stderr, written to -w DIR.

The certificate is --cert FILE or URL (an expired one is refused), else fetched from writ-controller
through the API server's service proxy (--controller-name, --controller-namespace). With several
--cert, one SealedSecret is written per certificate: into -w DIR/<n>-<cert name>/, else as
one multi-document stream.

Every SealedSecret carries the annotation sealing.writ.dev/key with the fingerprint of the key
that sealed it (writ keys report). --merge-into FILE updates a SealedSecret file in place; with
--recovery-private-key, values whose plaintext did not change keep their ciphertext, so Git diffs
show only real changes.

Exit codes: 0 written; 1 the cluster or the certificate failed; 2 usage or input errors. Nothing is
written unless everything sealed.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.scopeSet = cmd.Flags().Changed("scope")
			return runSeal(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.certs, "cert", nil, "certificate file or URL to seal with (repeat to seal for several clusters); default: fetched from the controller")
	f.BoolVar(&o.fetchCert, "fetch-cert", false, "print the controller's certificate (for --cert) and exit")
	f.StringVar(&o.cluster.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.cluster.context, "context", "", "kubeconfig context")
	f.StringVar(&o.cluster.namespace, "controller-namespace", "writ-system", "namespace of the sealing Service")
	f.StringVar(&o.cluster.name, "controller-name", "writ-sealing", "name of the sealing Service (its first port, as kubeseal uses it)")
	f.StringVarP(&o.format, "format", "o", "json", "output format: json or yaml")
	f.StringVarP(&o.in, "secret-file", "f", "", "input Secret file, or a directory of them (default stdin)")
	f.StringVarP(&o.out, "sealed-secret-file", "w", "", "output file, written atomically, or directory (default stdout)")
	f.Var(&o.scope, "scope", "strict, namespace-wide or cluster-wide (default: the input's sealedsecrets.bitnami.com/* annotations, else strict)")
	f.BoolVar(&o.raw, "raw", false, "seal one raw value from --from-file and print it (with --name, --namespace, --scope)")
	f.StringSliceVar(&o.fromFiles, "from-file", nil, "with --raw: [key=]file holding the value")
	f.StringVar(&o.name, "name", "", "name of the Secret (required with --raw in strict scope)")
	f.StringVarP(&o.ns, "namespace", "n", "", "namespace of the Secret (overrides the input's)")
	f.StringVar(&o.mergeInto, "merge-into", "", "merge the input's values into this SealedSecret file, in place")
	f.BoolVar(&o.allowEmpty, "allow-empty-data", false, "seal a Secret with no data")
	f.BoolVar(&o.validate, "validate", false, "check with the controller that the input SealedSecrets can be unsealed")
	f.BoolVar(&o.reEncrypt, "re-encrypt", false, "have the controller re-seal the input SealedSecrets with its newest key")
	f.BoolVar(&o.recoveryUnseal, "recovery-unseal", false, "unseal the input SealedSecrets offline with --recovery-private-key (disaster recovery; prints plaintext Secrets)")
	f.StringSliceVar(&o.recoveryKeys, "recovery-private-key", nil, "PEM private key, or a backup of the key Secrets (YAML/JSON); repeatable")
	return cmd
}

func runSeal(ctx context.Context, in io.Reader, out, errOut io.Writer, o sealOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.format != "json" && o.format != "yaml" {
		return cli.UsageErrorf("--format %q: use json or yaml", o.format)
	}
	modes := 0
	for _, m := range []bool{o.fetchCert, o.raw, o.validate, o.reEncrypt, o.recoveryUnseal, o.mergeInto != ""} {
		if m {
			modes++
		}
	}
	if modes > 1 {
		return cli.UsageErrorf("--fetch-cert, --raw, --validate, --re-encrypt, --recovery-unseal and --merge-into are separate modes: use one")
	}
	switch {
	case o.validate:
		return validateSealed(ctx, in, out, o)
	case o.reEncrypt:
		return reEncrypt(ctx, in, out, o)
	case o.recoveryUnseal:
		return recoveryUnseal(in, out, o)
	}
	sealers, err := loadSealers(ctx, o)
	if err != nil {
		return err
	}
	switch {
	case o.fetchCert:
		_, err := out.Write(sealing.CertPEM(sealers[0].Cert()))
		return err
	case o.raw:
		return sealRaw(out, sealers, o)
	case o.mergeInto != "":
		return mergeInto(in, errOut, sealers, o)
	}
	if fi, err := os.Stat(o.in); o.in != "" && err == nil && fi.IsDir() {
		return sealDir(out, errOut, sealers, o)
	}
	secrets, err := readInput(in, o.in, sealing.ReadSecrets)
	if err != nil {
		return err
	}
	var objs []any
	perCert := make([][]any, len(sealers))
	for i, s := range sealers {
		sealed, err := sealAll(s, secrets, o)
		if err != nil {
			return err
		}
		perCert[i] = sealed
		objs = append(objs, sealed...)
	}
	if fi, err := os.Stat(o.out); o.out != "" && err == nil && fi.IsDir() {
		return writeEach(errOut, perCert, o)
	}
	return writeOutput(out, o.out, o.format, objs...)
}

// writeEach writes one file per SealedSecret into the directory -w names: <name>.<format>, in a
// subdirectory per certificate when there are several.
func writeEach(errOut io.Writer, perCert [][]any, o sealOptions) error {
	n := 0
	for i, objs := range perCert {
		dir := o.out
		if len(perCert) > 1 {
			dir = filepath.Join(o.out, certName(i, o.certs[i]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return cli.UsageErrorf("%v", err)
			}
		}
		for _, obj := range objs {
			ss := obj.(*ssv1alpha1.SealedSecret)
			var buf bytes.Buffer
			if err := sealing.Encode(&buf, o.format, ss); err != nil {
				return err
			}
			if err := writeAtomic(filepath.Join(dir, ss.Name+"."+o.format), buf.Bytes()); err != nil {
				return err
			}
			n++
		}
	}
	fmt.Fprintf(errOut, "wrote %d SealedSecret files under %s\n", n, o.out)
	return nil
}

// loadSealers opens every --cert, or fetches the controller's certificate.
func loadSealers(ctx context.Context, o sealOptions) ([]*sealing.Sealer, error) {
	if len(o.certs) == 0 {
		pemData, err := fetchCert(ctx, o.cluster)
		if err != nil {
			return nil, err
		}
		s, err := sealerFrom(pemData, "the controller's certificate", o.now())
		if err != nil {
			return nil, err
		}
		return []*sealing.Sealer{s}, nil
	}
	var out []*sealing.Sealer
	for _, c := range o.certs {
		pemData, err := readCert(ctx, c)
		if err != nil {
			return nil, err
		}
		s, err := sealerFrom(pemData, c, o.now())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func sealerFrom(pemData []byte, where string, now time.Time) (*sealing.Sealer, error) {
	certs, err := sealing.ParseCerts(pemData)
	if err != nil {
		return nil, cli.UsageErrorf("%s: %v", where, err)
	}
	s, err := sealing.NewSealer(certs[0], now, rand.Reader)
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("%s: %w", where, err)}
	}
	return s, nil
}

func readCert(ctx context.Context, c string) ([]byte, error) {
	if strings.HasPrefix(c, "http://") || strings.HasPrefix(c, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c, nil)
		if err != nil {
			return nil, cli.UsageErrorf("--cert %s: %v", c, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("fetching the certificate from %s: %w", c, err)}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("fetching the certificate from %s: %s", c, resp.Status)}
		}
		return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	b, err := os.ReadFile(c)
	if err != nil {
		return nil, cli.UsageErrorf("--cert: %v", err)
	}
	return b, nil
}

// readInput reads the input file (stdin for "" or "-") with decode, as a usage error.
func readInput[T any](stdin io.Reader, path string, decode func(io.Reader) ([]T, error)) ([]T, error) {
	r := stdin
	if path != "" && path != "-" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, cli.UsageErrorf("%v", err)
		}
		r = bytes.NewReader(b)
	}
	v, err := decode(r)
	if err != nil {
		return nil, cli.UsageErrorf("%v", err)
	}
	return v, nil
}

// prepare applies --name, --namespace and --scope to a Secret and checks it has data.
func prepare(s *corev1.Secret, o sealOptions) error {
	if o.name != "" {
		s.Name = o.name
	}
	if o.ns != "" {
		s.Namespace = o.ns
	}
	if o.scopeSet {
		s.Annotations = ssv1alpha1.UpdateScopeAnnotations(s.Annotations, o.scope)
	}
	if len(s.Data) == 0 && len(s.StringData) == 0 && !o.allowEmpty {
		return cli.UsageErrorf("Secret %q has no data: pass --allow-empty-data to seal it anyway", s.Name)
	}
	return nil
}

func sealAll(s *sealing.Sealer, secrets []*corev1.Secret, o sealOptions) ([]any, error) {
	out := make([]any, 0, len(secrets))
	for _, sec := range secrets {
		if err := prepare(sec, o); err != nil {
			return nil, err
		}
		ss, err := s.Seal(sec)
		if err != nil {
			return nil, cli.UsageErrorf("Secret %q: %v", sec.Name, err)
		}
		out = append(out, ss)
	}
	return out, nil
}

func sealRaw(out io.Writer, sealers []*sealing.Sealer, o sealOptions) error {
	if len(o.fromFiles) != 1 {
		return cli.UsageErrorf("--raw seals one value: pass exactly one --from-file")
	}
	spec := o.fromFiles[0]
	if _, path, ok := strings.Cut(spec, "="); ok {
		spec = path
	}
	value, err := os.ReadFile(spec)
	if err != nil {
		return cli.UsageErrorf("--from-file: %v", err)
	}
	scope := o.scope
	for _, s := range sealers {
		v, err := s.SealValue(value, o.ns, o.name, scope)
		if err != nil {
			return cli.UsageErrorf("%v", err)
		}
		fmt.Fprintln(out, v)
	}
	return nil
}

// writeOutput writes objs to path atomically, or to out.
func writeOutput(out io.Writer, path, format string, objs ...any) error {
	if path == "" || path == "-" {
		return sealing.Encode(out, format, objs...)
	}
	var buf bytes.Buffer
	if err := sealing.Encode(&buf, format, objs...); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// writeAtomic writes b to a temporary file beside path, syncs it and renames it into place.
func writeAtomic(path string, b []byte) error { return replaceFile(path, b, true) }

func mergeInto(in io.Reader, errOut io.Writer, sealers []*sealing.Sealer, o sealOptions) error {
	if len(sealers) != 1 {
		return cli.UsageErrorf("--merge-into updates one file: pass one --cert")
	}
	b, err := os.ReadFile(o.mergeInto)
	if err != nil {
		return cli.UsageErrorf("--merge-into: %v", err)
	}
	existing, err := sealing.ReadSealedSecrets(bytes.NewReader(b))
	if err != nil || len(existing) != 1 {
		return cli.UsageErrorf("--merge-into %s must hold one SealedSecret: %v", o.mergeInto, err)
	}
	var old *sealing.KeyRing
	if len(o.recoveryKeys) > 0 {
		if old, err = recoveryRing(o.recoveryKeys); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(errOut, "writ seal: without --recovery-private-key every merged value is re-encrypted (Git will show each as changed)")
	}
	secrets, err := readInput(in, o.in, sealing.ReadSecrets)
	if err != nil {
		return err
	}
	if len(secrets) != 1 {
		return cli.UsageErrorf("--merge-into takes one Secret as input, got %d", len(secrets))
	}
	if err := prepare(secrets[0], sealOptions{allowEmpty: o.allowEmpty}); err != nil {
		return err
	}
	merged, err := sealers[0].MergeInto(existing[0], secrets[0], old)
	if err != nil {
		return cli.UsageErrorf("%v", err)
	}
	format := o.format
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		format = "yaml"
	}
	var buf bytes.Buffer
	if err := sealing.Encode(&buf, format, merged); err != nil {
		return err
	}
	return writeAtomic(o.mergeInto, buf.Bytes())
}

func recoveryRing(files []string) (*sealing.KeyRing, error) {
	var keys []*sealing.Key
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, cli.UsageErrorf("--recovery-private-key: %v", err)
		}
		ks, err := sealing.ReadPrivateKeys(b)
		if err != nil {
			return nil, cli.UsageErrorf("--recovery-private-key %s: %v", f, err)
		}
		keys = append(keys, ks...)
	}
	return sealing.NewKeyRing(keys...), nil
}

func recoveryUnseal(in io.Reader, out io.Writer, o sealOptions) error {
	if len(o.recoveryKeys) == 0 {
		return cli.UsageErrorf("--recovery-unseal needs --recovery-private-key")
	}
	ring, err := recoveryRing(o.recoveryKeys)
	if err != nil {
		return err
	}
	sealed, err := readInput(in, o.in, sealing.ReadSealedSecrets)
	if err != nil {
		return err
	}
	var objs []any
	for _, ss := range sealed {
		s, _, err := sealing.Unseal(ss, ring)
		if err != nil {
			return &cli.ExitError{Code: cli.ExitFail, Err: err}
		}
		s.APIVersion, s.Kind = "v1", "Secret"
		s.OwnerReferences = nil
		objs = append(objs, s)
	}
	return writeOutput(out, o.out, o.format, objs...)
}

// certName names the output directory of one certificate in a multi-cluster seal.
func certName(i int, path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if base == "" || base == "." || base == "/" || strings.Contains(path, "://") {
		base = "cert"
	}
	return fmt.Sprintf("%d-%s", i+1, base)
}

var errNothingSealed = errors.New("no Secret files (*.yaml, *.yml, *.json) in the directory")
