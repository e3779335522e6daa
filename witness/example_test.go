package witness_test

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/witness"
)

// The witness publishes what a verified commit declares, then judges an agent's writes against it.
func ExampleIndex_Check() {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "shop"},
		"data":     map[string]any{"mode": "safe"},
	}}
	sync := types.NamespacedName{Namespace: "writ-system", Name: "shop"}
	var x witness.Index
	if err := x.Publish(sync, "9fceb02d0ae598e95dc970b74767f19372d61af8", []*unstructured.Unstructured{cm}); err != nil {
		panic(err)
	}
	key := witness.Key{Kind: "ConfigMap", Namespace: "shop", Name: "settings"}
	// As the apiserver stores them: managedFields say which fields each write set.
	const applied = `"managedFields":[{"manager":"writ","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:mode":{}}}}]`
	const labelled = `"labels":{"team":"x"},"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:team":{}}}}}]`
	for _, raw := range []string{
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop","uid":"1",` + applied + `},"data":{"mode":"safe"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop","uid":"1",` + applied + `},"data":{"mode":"open"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop","uid":"1",` + labelled + `},"data":{"mode":"safe"}}`,
	} {
		fmt.Println(x.Check(witness.Write{Operation: witness.Update, Object: key, Sync: sync, Raw: []byte(raw)}).Message())
	}
	// Output:
	// witness: allowed UPDATE of ConfigMap shop/settings: it is what commit 9fceb02d0ae598e95dc970b74767f19372d61af8 of Sync writ-system/shop declares
	// witness: denied UPDATE of ConfigMap shop/settings: field .data.mode differs from what commit 9fceb02d0ae598e95dc970b74767f19372d61af8 of Sync writ-system/shop declares; the agent's identity was used for a change no verified commit declares
	// witness: denied UPDATE of ConfigMap shop/settings: the write sets field .metadata.labels.team (field manager "kubectl"), which commit 9fceb02d0ae598e95dc970b74767f19372d61af8 of Sync writ-system/shop does not declare (every field the agent's write sets must be one a verified commit declares); the agent's identity was used for a change no verified commit declares
}
