package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"writ.dev/writ/cmd/internal/cli"
	"writ.dev/writ/provenance"
	"writ.dev/writ/provenance/api/v1alpha1"
)

type verifyOptions struct {
	policy, repo, from, to, lastVerified, output string
}

// NewCommand returns the verify command writing to the given streams: the root command of
// writ-verify, which `writ verify` runs.
func NewCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	o := verifyOptions{}
	cmd := &cobra.Command{
		Use:                   usage,
		DisableFlagsInUseLine: true, // the usage line lists them
		Short:                 "Verify the signatures of Git commits against a TrustPolicy",
		Long: `Verify checks every commit in scope against a TrustPolicy: the target commit (mode Head),
every commit after --from up to --to (mode Range), or a signed tag and its commit (mode Tag, --to
names the tag). The policy file may be written by hand or be the output of
'kubectl get trustpolicy NAME -o yaml', unchanged.

--repo may name a work tree (or any directory in one), a linked worktree or a bare repository.
Warnings about the policy (keys whose signatures are always refused, revocations that match no
key) are printed on stderr and change nothing.

An empty range verifies nothing: when --to is the base itself (or, with --last-verified, one of
its ancestors, already verified with it) it says so and exits 0; when --to is an ancestor of a
base given by --from or the policy's range.base, no commit after the base leads to it, so it is
an error (exit 2): the arguments are probably swapped.

Exit codes: 0 every commit in scope verifies; 1 at least one does not, or the target is a
rollback, or (Tag mode) the tag is lightweight or unsigned (each failure is listed with its
reason); 2 usage, policy or repository errors.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd.OutOrStdout(), cmd.ErrOrStderr(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.policy, "policy", "", "TrustPolicy file (YAML or JSON) (required)")
	f.StringVar(&o.repo, "repo", ".", "Git repository")
	f.StringVar(&o.from, "from", "", "Range mode: verify the commits after this revision (default: the policy's range.base, else all history)")
	f.StringVar(&o.to, "to", "HEAD", "revision to verify: a branch or commit; in Tag mode, the tag")
	f.StringVar(&o.lastVerified, "last-verified", "", "the last verified target: --to must descend from it unless the policy allows rollback")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	f.BoolP("help", "h", false, "help for writ verify") // cobra's default would say "help for writ"
	return cli.Root(cmd, in, out, errOut)
}

// usage is the command's usage line, which `writ verify` shows too.
const usage = "writ verify --policy FILE [--repo DIR] [--from REV] [--to REV] [--last-verified REV] [-o table|json]"

// Main runs writ-verify with args (without the program name) and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	return cli.Run(NewCommand(in, out, errOut), "writ", args, errOut)
}

func runVerify(out, errOut io.Writer, o verifyOptions) error {
	if o.policy == "" {
		return cli.UsageErrorf("--policy is required: the TrustPolicy file to verify against")
	}
	if o.output != "table" && o.output != "json" {
		return cli.UsageErrorf("unknown output format %q: use -o table or -o json", o.output)
	}
	data, err := os.ReadFile(o.policy)
	if err != nil {
		return cli.UsageErrorf("reading the policy: %v", err)
	}
	tp, err := provenance.LoadPolicy(data)
	if err != nil {
		return cli.UsageErrorf("%s: %v", o.policy, err)
	}
	v, err := provenance.Compile(tp.Spec)
	if err != nil {
		return cli.UsageErrorf("%s: %v", o.policy, err)
	}
	for _, w := range v.Warnings() {
		fmt.Fprintf(errOut, "warning: %s: %s\n", o.policy, w)
	}
	if o.from != "" && v.Mode() != v1alpha1.ModeRange {
		return cli.UsageErrorf("--from applies to Range mode, but the policy's mode is %s", v.Mode())
	}
	repo, err := provenance.OpenRepository(o.repo)
	if err != nil {
		return cli.UsageErrorf("%v", err)
	}
	rep, err := v.Verify(context.Background(), repo, provenance.Request{Target: o.to, Base: o.from, LastVerified: o.lastVerified})
	if err != nil {
		if errors.Is(err, provenance.ErrRevision) {
			return cli.UsageErrorf("%v", err)
		}
		return err
	}
	empty, err := emptyRange(rep, o)
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTable(out, rep)
	}
	if empty != "" {
		fmt.Fprintf(errOut, "nothing to verify: %s\n", empty)
	}
	failures := rep.Failures()
	if rep.Rollback != nil {
		fmt.Fprintf(errOut, "REJECTED %s: %v\n", short(rep.Target), rep.Rollback)
	}
	for _, f := range failures {
		fmt.Fprintf(errOut, "REJECTED %s %s: %s\n", f.Type, short(f.Commit), f.Reason)
	}
	if !rep.Verified() {
		n := len(failures)
		if rep.Rollback != nil {
			n++
		}
		return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("%d of %d checks failed", n, len(rep.Commits)+btoi(rep.Tag != nil)+btoi(rep.Rollback != nil))}
	}
	return nil
}

// emptyRange explains a Range-mode report with no commit in scope, or returns a usage error when
// the target is an ancestor of a base the caller chose (--from, or the policy's range.base):
// nothing after the base leads to the target, so nothing would be verified, and the arguments are
// most likely swapped. An ancestor of the last verified commit was verified with it.
func emptyRange(rep *provenance.Report, o verifyOptions) (string, error) {
	if rep.Mode != v1alpha1.ModeRange || len(rep.Commits) > 0 || rep.Base == "" || rep.Rollback != nil {
		return "", nil
	}
	if rep.Target == rep.Base {
		return fmt.Sprintf("%s is the base itself, so no commit is in scope", short(rep.Target)), nil
	}
	if o.from == "" && o.lastVerified != "" {
		return fmt.Sprintf("%s is an ancestor of the last verified commit %s and was verified with it", short(rep.Target), short(rep.Base)), nil
	}
	from := "--from " + o.from
	if o.from == "" {
		from = "the policy's range.base"
	}
	return "", cli.UsageErrorf("--to %s (%s) is an ancestor of %s (%s): no commit after the base leads to it, so nothing would be verified; pass a base that --to descends from (are --from and --to swapped?)",
		o.to, short(rep.Target), from, short(rep.Base))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func printTable(out io.Writer, rep *provenance.Report) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tOBJECT\tMETHOD\tSIGNER\tSIGNED\tSUBJECT")
	rows := rep.Commits
	if rep.Tag != nil {
		rows = append([]provenance.Result{*rep.Tag}, rows...)
	}
	for _, r := range rows {
		signer := ""
		if r.Method != "" {
			signer = r.Signer.ID()
		}
		when := ""
		if !r.SigningTime.IsZero() {
			when = r.SigningTime.UTC().Format(time.RFC3339)
		}
		verdict := strings.ToUpper(string(r.Verdict))
		if r.Verdict == provenance.Rejected {
			verdict += " (" + r.ReasonCode + ")"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", verdict, r.Type, short(r.Commit), orDash(string(r.Method)), orDash(signer), orDash(when), r.Subject)
	}
	tw.Flush()
	fmt.Fprintf(out, "%d commit(s) in scope, mode %s, target %s", len(rep.Commits), rep.Mode, short(rep.Target))
	if rep.Base != "" {
		fmt.Fprintf(out, ", after base %s", short(rep.Base))
	}
	fmt.Fprintln(out)
	if rep.Rollback != nil {
		fmt.Fprintf(out, "ROLLBACK (%s): %v\n", provenance.ReasonCode(rep.Rollback), rep.Rollback)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
