package charts_test

import (
	"bytes"
	"sort"
	"strings"
	"testing"
)

// The schema rejects wrong values and says which.
func TestSchemaRejectsWrongValues(t *testing.T) {
	c := loadChart(t)
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{set("webhook.tls.mode", "vault"), "mode"},
		{set("webhook.failurePolicy", "fail"), "failurePolicy"},
		{set("webhook.timeoutSeconds", 60), "timeoutSeconds"},
		{set("webhook.replicas", 0), "replicas"},
		{set("webhok.replicas", 2), "webhok"},
		{set("audit.postgres.enabled", true), "existingSecret"},
		{set("audit.checkpointInterval", "every minute"), "checkpointInterval"},
		{set("guardFallback.agents", []any{"*"}), "agents"},
		{set("guardFallback.exempt", []any{"system:serviceaccount:kube-system:x"}), "exempt"},
		{set("image.digest", "latest"), "digest"},
		{set("webhook.podAntiAffinity", "always"), "podAntiAffinity"},
		{set("webhook.witnessMode", "enforce"), "witnessMode"},
		{set("webhook.witnessSecretNamespaces", []any{"Shop"}), "witnessSecretNamespaces"},
		{set("webhook.matchConditions", []any{map[string]any{"name": "not-the-apiserver", "expression": "true"}}), "matchConditions"},
		{set("webhook.matchConditions", []any{map[string]any{"name": "not-a-node", "expression": "true"}}), "matchConditions"},
		{set("webhook.tls.certManager.issuerRef", map[string]any{"kind": "ClusterIssuer"}), "name"},
	} {
		_, err := renderChart(c, "writ-system", tc.values)
		if err == nil {
			t.Errorf("%v: accepted", tc.values)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error does not name %q:\n%v", tc.values, tc.want, err)
		}
	}
}

// Every value in values.yaml is in the schema and documented in the README's table.
func TestEveryValueIsDocumented(t *testing.T) {
	c := loadChart(t)
	readme, err := readREADME()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range leafPaths("", c.Values) {
		if !bytes.Contains(readme, []byte("`"+path+"`")) {
			t.Errorf("value %s is not in the README's table of chart values", path)
		}
	}
}

// leafPaths lists the dotted paths of values, stopping at lists and at maps that are values
// themselves (empty ones, resources, selectors).
func leafPaths(prefix string, v map[string]any) []string {
	var out []string
	for k, x := range v {
		p := strings.TrimPrefix(prefix+"."+k, ".")
		m, ok := x.(map[string]any)
		if ok && len(m) > 0 && !opaque[p] {
			out = append(out, leafPaths(p, m)...)
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// opaque values are maps documented as one value.
var opaque = map[string]bool{
	"webhook.resources": true, "controller.resources": true, "reconciler.resources": true,
}
