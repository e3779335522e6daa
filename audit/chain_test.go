package audit

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func chain(t *testing.T, n int) []Event {
	t.Helper()
	var out []Event
	seq, prev := uint64(0), ""
	for i := 0; i < n; i++ {
		e, err := Link(Event{Kind: MutationDenied, Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Reason: "r"}, seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		seq, prev = e.Seq, e.Hash
	}
	return out
}

func verifyAll(events []Event) error {
	v := NewChainVerifier(0, "")
	for _, e := range events {
		if err := v.Next(e); err != nil {
			return err
		}
	}
	return nil
}

func TestChainDetectsTampering(t *testing.T) {
	good := chain(t, 5)
	if err := verifyAll(good); err != nil {
		t.Fatal(err)
	}
	mod := func(f func([]Event) []Event) []Event { return f(append([]Event(nil), good...)) }
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"edited reason", mod(func(e []Event) []Event { e[2].Reason = "nothing happened"; return e }), "record 3 was modified"},
		{"deleted record", mod(func(e []Event) []Event { return append(e[:2], e[3:]...) }), "records 3 to 3 are missing"},
		{"reordered", mod(func(e []Event) []Event { e[1], e[2] = e[2], e[1]; return e }), "records 2 to 2 are missing"},
		{"repeated", mod(func(e []Event) []Event { return append(e[:3], e[2:]...) }), "out of order or repeated"},
		{"rehashed edit", mod(func(e []Event) []Event {
			e[2].Reason = "x"
			e[2].Hash, _ = ComputeHash(e[2])
			return e
		}), "record 4 does not chain to record 3"},
	}
	for _, tt := range tests {
		err := verifyAll(tt.events)
		if !errors.Is(err, ErrChain) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := SignCheckpoint(priv, 5, "abc", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := c.Verify(pub); err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	for name, bad := range map[string]Checkpoint{
		"moved head": {Seq: c.Seq, Head: "abd", Time: c.Time, KeyID: c.KeyID, Signature: c.Signature},
		"later seq":  {Seq: 6, Head: c.Head, Time: c.Time, KeyID: c.KeyID, Signature: c.Signature},
		"bad hex":    {Seq: c.Seq, Head: c.Head, Time: c.Time, KeyID: c.KeyID, Signature: "zz"},
	} {
		if err := bad.Verify(pub); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := c.Verify(other); !errors.Is(err, ErrCheckpoint) {
		t.Error("verified with another key")
	}
}
