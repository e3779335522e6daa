package app

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSealingFlags(t *testing.T) {
	o, err := ParseFlags([]string{"--enable-sealing", "--sealing-bind-address", "127.0.0.1:9000", "--sealing-key-renew-period", "168h",
		"--sealing-key-cutoff-time", "Sun, 22 Nov 2026 06:00:00 +0000", "--sealing-workers", "8", "--sealing-rate-limit", "5", "--sealing-rate-limit-burst", "10"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	if !o.Enabled[ComponentSealing] || o.SealingAddr != "127.0.0.1:9000" || o.SealingKeyRenewPeriod != 168*time.Hour ||
		!o.SealingKeyCutoff.Equal(want) || o.SealingWorkers != 8 || o.SealingRateLimit != 5 || o.SealingRateBurst != 10 {
		t.Fatalf("sealing flags not parsed: %+v", o)
	}
	if o, err := ParseFlags([]string{"--sealing-key-cutoff-time", "2026-11-22T06:00:00Z"}, &bytes.Buffer{}); err != nil || !o.SealingKeyCutoff.Equal(want) {
		t.Fatalf("RFC 3339 cutoff: %v %v", o.SealingKeyCutoff, err)
	}
	d := DefaultOptions()
	if d.SealingKeyRenewPeriod != 30*24*time.Hour || d.SealingRateLimit != 2 || d.SealingRateBurst != 2 {
		t.Fatalf("defaults %+v", d)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sealing-key-cutoff-time", "tomorrow"}, "neither RFC 3339"},
		{[]string{"--sealing-key-renew-period", "-1h"}, "must not be negative"},
		{[]string{"--sealing-key-ttl", "1m"}, "too short"},
		{[]string{"--sealing-workers", "0"}, "at least 1"},
		{[]string{"--sealing-rate-limit", "0"}, "must be positive"},
		{[]string{"--sealing-bind-address", "nowhere"}, "--sealing-bind-address"},
	} {
		if _, err := ParseFlags(tc.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
