package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/auditkey"
	"writ.dev/writ/audit/evidence"
)

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export and verify SOC 2 evidence from Writ's audit trail",
	}
	cmd.AddCommand(newAuditExportCommand(), newAuditVerifyCommand(), newAuditKeygenCommand())
	return cmd
}

type exportOptions struct {
	from, to, out, key, store, postgres, chain string
	cluster                                    clusterOptions
}

func newAuditExportCommand() *cobra.Command {
	o := exportOptions{}
	cmd := &cobra.Command{
		Use:   "export --from DATE --to DATE --out FILE [--store DIR --key FILE | --postgres DSN --key FILE]",
		Short: "Write an evidence bundle for a period",
		Long: `Export writes the audit records of a period as an evidence bundle (a zip): events.jsonl,
events.csv, report.html, the signed checkpoints, and a manifest of digests signed with the audit
key. DATE is RFC 3339 (2026-10-01T00:00:00Z) or a day (2026-10-01, midnight UTC); --to is
exclusive. The bundle is written to a temporary file and renamed into place when complete.

Without --store or --postgres it exports from the cluster: writ-controller builds and signs the
bundle and writ fetches it through the API server's service proxy with your kubeconfig, so
Kubernetes RBAC (get on services/proxy for the controller's service) decides who may export. The
bundle is verified before it is written.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExport(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "start of the period (inclusive)")
	f.StringVar(&o.to, "to", "", "end of the period (exclusive)")
	f.StringVar(&o.out, "out", "", "bundle file to write")
	f.StringVar(&o.key, "key", "", "the audit signing key (PEM), from the audit key Secret or `writ audit keygen`")
	f.StringVar(&o.store, "store", "", "the embedded store's directory (offline export)")
	f.StringVar(&o.postgres, "postgres", "", "a PostgreSQL DSN (offline export from the PostgreSQL store)")
	f.StringVar(&o.chain, "chain", "default", "with --postgres: the cluster's chain in a shared store (writ-controller --audit-chain)")
	o.cluster.bind(f)
	return cmd
}

func parseDate(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, cli.UsageErrorf("%s is required (RFC 3339 or YYYY-MM-DD)", flag)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, cli.UsageErrorf("%s %q is not a date: use RFC 3339 (2026-10-01T00:00:00Z) or YYYY-MM-DD", flag, s)
}

func runExport(ctx context.Context, out, errOut io.Writer, o exportOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	from, err := parseDate("--from", o.from)
	if err != nil {
		return err
	}
	to, err := parseDate("--to", o.to)
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return cli.UsageErrorf("--from %s must be before --to %s", o.from, o.to)
	}
	if o.out == "" {
		return cli.UsageErrorf("--out is required: the bundle file to write")
	}
	if o.store == "" && o.postgres == "" {
		if o.key != "" {
			return cli.UsageErrorf("--key is for offline exports (--store, --postgres): the cluster signs its own bundles")
		}
		return exportFromCluster(ctx, out, errOut, o.cluster, from, to, o.out)
	}
	if o.key == "" {
		return cli.UsageErrorf("--key is required: the audit signing key signs the bundle")
	}
	kb, err := os.ReadFile(o.key)
	if err != nil {
		return cli.UsageErrorf("reading --key: %v", err)
	}
	key, err := auditkey.ParsePrivate(kb)
	if err != nil {
		return cli.UsageErrorf("--key %s: %v", o.key, err)
	}
	if o.store != "" && o.postgres != "" {
		return cli.UsageErrorf("give one of --store and --postgres, not both")
	}
	store, kind, err := openExportStore(ctx, o)
	if err != nil {
		return cli.UsageErrorf("opening the %s: %v", kind, err)
	}
	defer store.Close()
	return writeBundle(ctx, out, errOut, store, key, from, to, o.out)
}

// writeBundle exports to a temporary file beside path and renames it into place.
func writeBundle(ctx context.Context, out, errOut io.Writer, store audit.Store, key ed25519.PrivateKey, from, to time.Time, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return cli.UsageErrorf("cannot write next to %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	start := time.Now()
	sum, err := evidence.Export(ctx, store, tmp, evidence.ExportOptions{From: from, To: to, Key: key,
		Progress: func(n uint64) { fmt.Fprintf(errOut, "\rexported %d records", n) }})
	fmt.Fprintln(errOut)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := commitTemp(tmp, path); err != nil {
		return err
	}
	m := sum.Manifest
	inPeriod := 0
	for _, n := range m.Counts {
		inPeriod += n
	}
	fmt.Fprintf(out, "wrote %s: %d records in the period (seq %d-%d), %d in the bundle, signed by audit key %s, in %s\n",
		path, inPeriod, m.PeriodFirstSeq, m.PeriodLastSeq, sum.Records, m.KeyID, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "report: unzip %s %s and open it in a browser\n", path, evidence.FileReport)
	return nil
}

// commitTemp makes a fully written temporary file durable and renames it to path.
func commitTemp(tmp *os.File, path string) error {
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newAuditVerifyCommand() *cobra.Command {
	var pubFile string
	cmd := &cobra.Command{
		Use:   "verify FILE [--public-key FILE]",
		Short: "Verify an evidence bundle offline",
		Long: `Verify checks a bundle without the cluster: every record's hash link from the anchoring
signed checkpoint, that no record is missing in the period, every checkpoint signature, every file
digest and the manifest signature. On tampering it names the first bad record and what is wrong.
Pass --public-key (the key the cluster publishes in its audit ConfigMap) to pin the signer.

Exit codes: 0 intact; 1 tampered or incomplete; 2 usage errors or not a bundle.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cli.UsageErrorf("verify takes one bundle file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditVerify(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], pubFile)
		},
	}
	cmd.Flags().StringVar(&pubFile, "public-key", "", "the expected audit public key (PEM or hex)")
	return cmd
}

func runAuditVerify(out, errOut io.Writer, path, pubFile string) error {
	var o evidence.VerifyOptions
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return cli.UsageErrorf("reading --public-key: %v", err)
		}
		if o.PublicKey, err = auditkey.ParsePublic(b); err != nil {
			return cli.UsageErrorf("--public-key %s: %v", pubFile, err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return cli.UsageErrorf("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return cli.UsageErrorf("%v", err)
	}
	res, err := evidence.Verify(f, fi.Size(), o)
	if err != nil && !errors.Is(err, evidence.ErrTampered) {
		return cli.UsageErrorf("%s: %v", path, err)
	}
	if err != nil {
		fmt.Fprintf(out, "TAMPERED %s\n", path)
		for _, p := range res.Problems {
			fmt.Fprintf(out, "  - %s\n", p)
		}
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("%s failed verification: %s", path, res.Problems[0])}
	}
	m := res.Manifest
	fmt.Fprintf(out, "OK %s\n", path)
	fmt.Fprintf(out, "  period      %s to %s\n", m.From.Format(time.RFC3339), m.To.Format(time.RFC3339))
	fmt.Fprintf(out, "  records     %d verified (seq %d-%d), chained from checkpoint %d\n", res.Records, m.FirstSeq, m.LastSeq, m.AnchorSeq)
	fmt.Fprintf(out, "  checkpoints %d, signed by audit key %s\n", res.Checkpoints, m.KeyID)
	var kinds []string
	for k, n := range m.Counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(out, "  in period   %s\n", strings.Join(kinds, " "))
	if pubFile == "" {
		fmt.Fprintf(out, "  note        compare key %s with the key the cluster publishes, or pass --public-key\n", m.KeyID)
	}
	return nil
}

func newAuditKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create an audit signing key (ed25519, PEM) for offline stores",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return cli.UsageErrorf("--out is required: where to write the private key")
			}
			k, err := auditkey.Generate(nil)
			if err != nil {
				return err
			}
			priv, err := auditkey.MarshalPrivate(k)
			if err != nil {
				return err
			}
			pub, err := auditkey.MarshalPublic(k.Public().(ed25519.PublicKey))
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return cli.UsageErrorf("%v (keygen never overwrites a key)", err)
			}
			if _, err := f.Write(priv); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(out+".pub", pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, mode 0600) and %s.pub; key id %s\n", out, out, audit.KeyID(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to create")
	return cmd
}
