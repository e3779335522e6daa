// Command writ-verify is `writ verify`, in a binary of its own; `writ verify` runs it. See
// cmd/writ-verify/app.
package main

import (
	"os"

	"writ.dev/writ/cmd/writ-verify/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
