// Command writ is Writ's command-line tool. See cmd/writ/app for its commands.
package main

import (
	"os"

	"writ.dev/writ/cmd/writ/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
