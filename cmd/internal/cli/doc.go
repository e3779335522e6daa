// Package cli holds what Writ's command-line binaries agree on: exit codes (0 ok, 1 a check failed,
// 2 usage), how an error becomes an exit code and a message, and the root command's settings.
// `writ` and its companion `writ-verify` both use it, so `writ verify` behaves the same whichever
// binary answers.
package cli
