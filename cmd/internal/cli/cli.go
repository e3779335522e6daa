package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and something it checked failed
	ExitUsage = 2 // bad flags, arguments or input files
)

// ExitError carries a specific exit code out of a command. An ExitError with a nil Err exits
// without a message: the command has said what went wrong already.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageErrorf returns an error that exits with ExitUsage.
func UsageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Failf returns an error that exits with ExitFail.
func Failf(format string, args ...any) error {
	return &ExitError{Code: ExitFail, Err: fmt.Errorf(format, args...)}
}

// NoArgs rejects positional arguments as a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return UsageErrorf("%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

// Root configures root to write to the given streams, to leave printing errors to Run, and to
// treat flag errors as usage errors.
func Root(root *cobra.Command, in io.Reader, out, errOut io.Writer) *cobra.Command {
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: err}
	})
	wrapRunE(root)
	return root
}

// wrapRunE makes every error a command's RunE returns without an exit code an ExitFail error, so
// that the plain errors left are cobra's own parsing errors, which are usage errors.
func wrapRunE(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ee *ExitError
			if err != nil && !errors.As(err, &ee) {
				return &ExitError{Code: ExitFail, Err: err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
}

// Run executes root with args (without the program name), prints its error as "name: error" on
// errOut, and returns the process exit code.
func Run(root *cobra.Command, name string, args []string, errOut io.Writer) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(errOut, name+":", err)
		}
		return ee.Code
	}
	fmt.Fprintln(errOut, name+":", err)
	return ExitUsage // cobra's unknown command, flag and argument errors
}
