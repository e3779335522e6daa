package declared

import (
	"encoding/json"
	"math"
)

// scalar is a JSON scalar a live value is compared with. Numbers compare by value whatever their
// Go type or JSON spelling; a value of another JSON type, or NaN, never matches.
type scalar struct {
	kind scalarKind
	s    string
	f    float64
	b    bool
}

type scalarKind uint8

const (
	noScalar scalarKind = iota // matches nothing
	stringScalar
	numberScalar
	boolScalar
)

func scalarOf(v any) scalar {
	if f, ok := number(v); ok {
		return scalar{kind: numberScalar, f: f}
	}
	switch x := v.(type) {
	case string:
		return scalar{kind: stringScalar, s: x}
	case bool:
		return scalar{kind: boolScalar, b: x}
	}
	return scalar{}
}

func (a scalar) equal(b scalar) bool {
	if a.kind == noScalar || a.kind != b.kind {
		return false
	}
	switch a.kind {
	case stringScalar:
		return a.s == b.s
	case numberScalar:
		return a.f == b.f
	}
	return a.b == b.b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
