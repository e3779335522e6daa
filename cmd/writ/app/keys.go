package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"writ.dev/writ/sealing"
)

func newKeysCommand() *cobra.Command {
	var c clusterOptions
	var output string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Report on and retire the cluster's sealing keys",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&c.context, "context", "", "kubeconfig context")
	pf.StringVar(&c.namespace, "controller-namespace", "writ-system", "namespace of writ-controller, which holds the key Secrets")
	report := &cobra.Command{
		Use:   "report [-o table|json]",
		Short: "List the sealing keys and, per key, the SealedSecrets still sealed with it",
		Long: `Report lists every sealing key (its Secret, fingerprint, status, creation) and the SealedSecrets
that still need it, from the sealing.writ.dev/key annotation writ seal writes or, for SealedSecrets
sealed by kubeseal, from the keys writ-controller recorded when it unsealed them. SealedSecrets whose
key cannot be told are listed as unknown. No private key material is read into the output.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := keysClient(c)
			if err != nil {
				return err
			}
			r, err := keyReport(cmd.Context(), rc, c)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), r, output)
		},
	}
	report.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	retire := &cobra.Command{
		Use:   "retire SECRET|FINGERPRINT",
		Short: "Delete a sealing key once nothing is sealed with it",
		Long: `Retire deletes a key Secret, and refuses while any SealedSecret is still sealed with that key, while
any SealedSecret's key is unknown (see writ keys report), or if it is the newest key (which seals).
Re-seal what depends on it first (writ seal --re-encrypt), and keep a backup of the key.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cli.UsageErrorf("retire takes one key: its Secret name or fingerprint")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return retireKey(cmd.Context(), cmd.OutOrStdout(), c, args[0])
		},
	}
	cmd.AddCommand(report, retire)
	return cmd
}

func keyReport(ctx context.Context, rc *rest.RESTClient, c clusterOptions) (sealing.Report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var keySecrets corev1.SecretList
	if err := rc.Get().Namespace(c.namespace).Resource("secrets").Param("labelSelector", sealing.KeyLabel).Do(ctx).Into(&keySecrets); err != nil {
		return sealing.Report{}, cli.Failf("listing the key Secrets in %s: %w", c.namespace, err)
	}
	var keys []sealing.KeyInfo
	for i := range keySecrets.Items {
		k, err := sealing.KeyInfoFromSecret(&keySecrets.Items[i])
		if err != nil {
			return sealing.Report{}, cli.Failf("key Secret %s: %w", keySecrets.Items[i].Name, err)
		}
		keys = append(keys, k)
	}
	var sealed ssv1alpha1.SealedSecretList
	if err := rc.Get().AbsPath("/apis", ssv1alpha1.SchemeGroupVersion.Group, ssv1alpha1.SchemeGroupVersion.Version, "sealedsecrets").Do(ctx).Into(&sealed); err != nil {
		return sealing.Report{}, cli.Failf("listing SealedSecrets: %w", err)
	}
	unsealed := map[string]*corev1.Secret{}
	for i := range sealed.Items {
		ss := &sealed.Items[i]
		if len(sealing.KeyFingerprints(ss)) == len(ss.Spec.EncryptedData) && len(ss.Spec.EncryptedData) > 0 {
			continue
		}
		s := &corev1.Secret{}
		if err := rc.Get().Namespace(ss.Namespace).Resource("secrets").Name(ss.Name).Do(ctx).Into(s); err == nil {
			unsealed[ss.Namespace+"/"+ss.Name] = s
		}
	}
	return sealing.BuildReport(keys, sealed.Items, unsealed), nil
}

// keysClient reaches the API server for the key Secrets and the SealedSecrets.
func keysClient(c clusterOptions) (*rest.RESTClient, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, cli.UsageErrorf("no cluster: %v", err)
	}
	return coreClient(cfg)
}

func printReport(w io.Writer, r sealing.Report, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "table":
	default:
		return cli.UsageErrorf("--output %q: use table or json", output)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECRET\tFINGERPRINT\tSTATUS\tCREATED\tSEALED\tSEALEDSECRETS")
	for _, k := range r.Keys {
		status := k.Status
		if k.Newest {
			status += ",newest"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", k.Secret, k.Fingerprint, status, k.Created, len(k.SealedSecrets), strings.Join(k.SealedSecrets, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintf(w, "\n%d SealedSecrets sealed with an unknown key (no sealing.writ.dev/key annotation, not unsealed by writ-controller yet): %s\n", len(r.Unknown), strings.Join(r.Unknown, " "))
	}
	return nil
}

func retireKey(ctx context.Context, out io.Writer, c clusterOptions, which string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	rc, err := keysClient(c)
	if err != nil {
		return err
	}
	r, err := keyReport(ctx, rc, c)
	if err != nil {
		return err
	}
	var key *sealing.KeyInfo
	for i := range r.Keys {
		if r.Keys[i].Secret == which || r.Keys[i].Fingerprint == which {
			key = &r.Keys[i]
		}
	}
	switch {
	case key == nil:
		return cli.UsageErrorf("no sealing key %q in %s: writ keys report lists them", which, c.namespace)
	case key.Newest:
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("refusing to retire %s: it is the newest key, which seals; wait for the next renewal", key.Secret)}
	case len(key.SealedSecrets) > 0:
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("refusing to retire %s: %d SealedSecrets are still sealed with it (%s); re-seal them first (writ seal --re-encrypt)", key.Secret, len(key.SealedSecrets), strings.Join(key.SealedSecrets, " "))}
	case len(r.Unknown) > 0:
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("refusing to retire %s: the key of %d SealedSecrets is unknown (%s); re-seal them with writ seal, or let writ-controller unseal them first", key.Secret, len(r.Unknown), strings.Join(r.Unknown, " "))}
	}
	if err := rc.Delete().Namespace(c.namespace).Resource("secrets").Name(key.Secret).Do(ctx).Error(); err != nil {
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("deleting key Secret %s/%s: %w", c.namespace, key.Secret, err)}
	}
	fmt.Fprintf(out, "retired sealing key %s (%s): nothing was sealed with it\n", key.Secret, key.Fingerprint)
	return nil
}
