package declared

import (
	"bytes"
	"testing"
)

func TestSliceAt(t *testing.T) {
	b := []byte(`{"a":[1,2],"b":3}`)
	if at, ok := sliceAt(b, b[5:10]); !ok || at != 5 {
		t.Fatalf("sliceAt(b, b[5:10]) = %d, %v", at, ok)
	}
	for name, sub := range map[string][]byte{"empty": b[5:5], "nil": nil, "copy": bytes.Clone(b[5:10]), "capped": b[5:10:10],
		"other": []byte(`[1,2]`)} {
		if at, ok := sliceAt(b, sub); ok {
			t.Errorf("%s: sliceAt = %d, true", name, at)
		}
	}
	if at, ok := sliceAt(b[:8], b[5:10]); ok {
		t.Errorf("a span past the end of b: sliceAt = %d, true", at)
	}
}
