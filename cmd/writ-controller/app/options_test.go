package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

func TestParseFlags(t *testing.T) {
	o, err := ParseFlags([]string{"--enable-webhook", "--leader-elect", "--namespace", "gitops", "--metrics-bind-address", "127.0.0.1:9090"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Enabled[ComponentWebhook] || o.Enabled[ComponentSealing] || !o.LeaderElect {
		t.Fatalf("components/leader election not parsed: %+v", o)
	}
	if o.WitnessMode != guardv1.WitnessEnforce || o.WitnessCacheDir != "" {
		t.Fatalf("the witness's defaults: mode %q (want Enforce), cache %q (want a temporary directory)", o.WitnessMode, o.WitnessCacheDir)
	}
	if o.LeaderElectionNamespace != "gitops" || o.MetricsAddr != "127.0.0.1:9090" {
		t.Fatalf("unexpected %+v", o)
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-bind-address", "8080"}, "--metrics-bind-address"},
		{[]string{"--health-probe-bind-address", "0"}, "cannot be disabled"},
		{[]string{"--namespace", " "}, "--namespace"},
		{[]string{"--graceful-shutdown-timeout", "0s"}, "must be positive"},
		{[]string{"stray"}, "unexpected arguments"},
		{[]string{"--enable-everything"}, "flag provided but not defined"},
		{[]string{"--witness-mode", "enforce"}, `--witness-mode "enforce" is not one of Enforce, Warn and Off`},
		{[]string{"--reconcile-cache-dir", "/c", "--witness-cache-dir", "/c/sources/"}, "is the reconciler's source cache"},
	} {
		var out bytes.Buffer
		_, err := ParseFlags(tt.args, &out)
		if err == nil || !strings.Contains(err.Error()+out.String(), tt.want) {
			t.Errorf("%v: err %v, output %q; want %q", tt.args, err, out.String(), tt.want)
		}
	}
}

func TestHelpExitsZeroAndListsComponents(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range Components {
		if !strings.Contains(out.String(), "-enable-"+c) {
			t.Errorf("help does not mention --enable-%s:\n%s", c, out.String())
		}
	}
}
