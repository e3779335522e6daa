// Package version reports which build of Writ is running. The Makefile sets Version and Commit
// with -ldflags; a plain `go build` falls back to the module build information.
package version
