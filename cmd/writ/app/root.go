package app

import (
	"io"

	"github.com/spf13/cobra"

	"writ.dev/writ/cmd/internal/cli"
)

// Exit codes.
const (
	ExitOK    = cli.ExitOK
	ExitFail  = cli.ExitFail
	ExitUsage = cli.ExitUsage
)

// NewCommand returns the root `writ` command writing to the given streams.
func NewCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "writ",
		Short: "Writ makes Git the only way to change a Kubernetes cluster, and proves it",
	}
	root.AddCommand(newVersionCommand(), newVerifyCommand(), newAuditCommand(), newSealCommand(), newKeysCommand())
	return cli.Root(root, in, out, errOut)
}

// Main runs the CLI with args (without the program name) and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	return cli.Run(NewCommand(in, out, errOut), "writ", args, errOut)
}
