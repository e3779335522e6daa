package app

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Every component a flag can enable is composed, once and in the order of Components, and runs
// exactly when its flag is on: enabling a component can never be a silent no-op.
func TestEveryComponentIsComposed(t *testing.T) {
	for _, on := range Components {
		o, err := ParseFlags([]string{"--enable-" + on}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var names, running []string
		for _, p := range o.parts() {
			names = append(names, p.name)
			if p.setup == nil {
				t.Errorf("%s has no setup", p.name)
			}
			if p.on {
				running = append(running, p.name)
			}
		}
		if want := append(slices.Clone(Components), "the webhook certificates"); !slices.Equal(names, want) {
			t.Fatalf("parts %v, want %v", names, want)
		}
		if !slices.Equal(running, []string{on}) {
			t.Errorf("--enable-%s runs %v", on, running)
		}
	}
	o, err := ParseFlags([]string{"--manage-webhook-certs"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range o.parts() {
		if p.on != (p.name == "the webhook certificates") {
			t.Errorf("--manage-webhook-certs: %s on=%v", p.name, p.on)
		}
	}
}

// Each component's options come from its own flags and Writ's namespace, nothing else.
func TestComponentsGetTheirOwnOptions(t *testing.T) {
	o, err := ParseFlags([]string{"--namespace", "gitops", "--reconcile-cache-dir", "/c", "--audit-dir", "/a", "--audit-chain", "east",
		"--audit-checkpoint-interval", "2m", "--audit-export-bind-address", ":1", "--sealing-bind-address", ":2", "--sealing-key-renew-period", "1h",
		"--sealing-key-cutoff-time", "2026-11-22T06:00:00Z", "--sealing-key-ttl", "48h", "--sealing-key-cn", "cn", "--sealing-workers", "3",
		"--sealing-rate-limit", "4", "--sealing-rate-limit-burst", "5", "--webhook-cert-secret", "s", "--webhook-service", "svc",
		"--webhook-configuration", "v", "--mutating-webhook-configuration", "m", "--witness-cache-dir", "/w", "--witness-mode", "Warn"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want any }{
		{o.webhook(), WebhookOptions{Namespace: "gitops", Witness: WitnessOptions{Namespace: "gitops", CacheDir: "/w", Mode: guardv1.WitnessWarn}}},
		{o.reconciler(), ReconcilerOptions{Namespace: "gitops", CacheDir: "/c"}},
		{o.audit(), AuditOptions{Namespace: "gitops", Dir: "/a", Chain: "east", CheckpointInterval: 2 * time.Minute, ExportAddr: ":1"}},
		{o.sealing(), SealingOptions{Namespace: "gitops", Addr: ":2", KeyRenewPeriod: time.Hour, KeyCutoff: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC),
			KeyTTL: 48 * time.Hour, KeyCN: "cn", Workers: 3, RateLimit: 4, RateBurst: 5}},
		{o.grants(), GrantsOptions{Namespace: "gitops"}},
		{o.webhookCerts(), WebhookCertsOptions{Namespace: "gitops", Secret: "s", Service: "svc", ValidatingConfiguration: "v", MutatingConfiguration: "m"}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%T: got %+v, want %+v", tc.got, tc.got, tc.want)
		}
	}
}
