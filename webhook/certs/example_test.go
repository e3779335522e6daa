package certs_test

import (
	"fmt"

	"writ.dev/writ/webhook/certs"
)

func ExampleDNSNames() {
	for _, n := range certs.DNSNames("writ-webhook", "writ-system") {
		fmt.Println(n)
	}
	// Output:
	// writ-webhook.writ-system.svc
	// writ-webhook.writ-system.svc.cluster.local
	// writ-webhook.writ-system
	// writ-webhook
}
