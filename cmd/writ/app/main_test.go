package app

import (
	"os"
	"testing"

	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }
