// Package app holds the commands of the writ CLI. Main runs them with injected arguments and
// streams, so tests call it exactly as the binary does.
//
// Exit codes are shared by every command: 0 success, 1 the check the command performs failed
// (for example a commit did not verify), 2 usage or configuration errors.
package app
