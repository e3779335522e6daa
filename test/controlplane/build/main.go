// Command build builds the integration tests' control plane (kube-apiserver and etcd) into the
// cache if it is not there yet, and prints its directory. See package controlplane.
package main

import (
	"fmt"
	"os"

	"writ.dev/writ/test/controlplane"
)

func main() {
	dir, err := controlplane.Build(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
