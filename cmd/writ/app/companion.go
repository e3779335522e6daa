package app

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"writ.dev/writ/cmd/internal/cli"
)

// newVerifyCommand is `writ verify`, which runs the companion binary writ-verify: verification
// links Sigstore, go-git and OpenPGP, whose start-up cost every other command (writ seal above
// all, which runs once per Secret in scripts) would otherwise pay.
func newVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify --policy FILE [--repo DIR] [--from REV] [--to REV] [--last-verified REV] [-o table|json]",
		Short: "Verify the signatures of Git commits against a TrustPolicy",
		Long: `Verify checks every commit in scope against a TrustPolicy. It runs writ-verify, which is
installed beside writ (make build, or go install writ.dev/writ/cmd/...); 'writ verify --help'
shows its flags.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompanion(cmd, "writ-verify", args)
		},
	}
}

// runCompanion runs the companion binary name with args and exits with its exit code. From the
// real process (the standard streams) it replaces writ with the companion, so signals and exit
// codes are the companion's own; otherwise (tests, and Windows) it runs it as a child on cmd's
// streams.
func runCompanion(cmd *cobra.Command, name string, args []string) error {
	path, err := companionPath(name)
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" && // where a process cannot replace itself: run it as a child
		cmd.InOrStdin() == os.Stdin && cmd.OutOrStdout() == os.Stdout && cmd.ErrOrStderr() == os.Stderr {
		err := syscall.Exec(path, append([]string{path}, args...), os.Environ())
		return cli.Failf("running %s: %v", path, err)
	}
	c := exec.Command(path, args...)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	err = c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.Exited():
		return &cli.ExitError{Code: ee.ExitCode()} // it has printed its own error
	default:
		return cli.Failf("running %s: %v", path, err)
	}
}

// companionPath finds a companion binary: beside the running writ first (so a pair installed
// together stays together), then on PATH.
func companionPath(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			file := name
			if runtime.GOOS == "windows" {
				file += ".exe"
			}
			p := filepath.Join(filepath.Dir(self), file)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
				return p, nil
			}
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", cli.UsageErrorf("%s is not installed: writ verify runs it, from beside writ or from PATH; install both with 'make build' (bin/) or 'go install writ.dev/writ/cmd/...'", name)
	}
	return p, nil
}
