package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that exits with ExitUsage.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// NewCommand returns the root `writ` command writing to the given streams.
func NewCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "writ",
		Short:         "Writ makes Git the only way to change a Kubernetes cluster, and proves it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: err}
	})
	root.AddCommand(newVersionCommand(), newVerifyCommand(), newAuditCommand(), newSealCommand(), newKeysCommand())
	wrapRunE(root)
	return root
}

// wrapRunE makes every error a command's RunE returns without an exit code an ExitFail error, so
// that the plain errors left are cobra's own parsing errors, which are usage errors.
func wrapRunE(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ee *exitError
			if err != nil && !errors.As(err, &ee) {
				return &exitError{code: ExitFail, err: err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
}

// Main runs the CLI with args (without the program name) and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	cmd := NewCommand(in, out, errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(errOut, "writ:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitUsage // cobra's unknown command, flag and argument errors
}

func contextBackground() context.Context { return context.Background() }
