// Command writ-controller is Writ's in-cluster manager. See cmd/writ-controller/app.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"writ.dev/writ/cmd/writ-controller/app"
)

func main() {
	os.Exit(app.Main(ctrl.SetupSignalHandler(), os.Args[1:], os.Stderr))
}
