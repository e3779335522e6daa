package declared_test

import (
	"encoding/base64"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/reconcile/declared"
)

func obj(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

const gitDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {writ.dev/managed: writ-system.shop}, annotations: {}, creationTimestamp: null}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: false
      automountServiceAccountToken: false
      containers:
      - name: web
        image: nginx:1.27
        args: [--port, "8080"]
        resources: {limits: {cpu: 1000m, memory: 128Mi}}
`

// liveDeployment is gitDeployment as the apiserver stores it: defaulted, canonical, with fields
// of other managers.
const liveDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {writ.dev/managed: writ-system.shop}, uid: x, resourceVersion: "7", generation: 1}
spec:
  replicas: 5
  progressDeadlineSeconds: 600
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      dnsPolicy: ClusterFirst
      containers:
      - name: web
        image: nginx:1.27
        args: [--port, "8080"]
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        resources: {limits: {cpu: "1", memory: 128Mi}}
      - name: sidecar
        image: other
status: {replicas: 5}
`

// compile compiles the manifest doc, failing t if it cannot.
func compile(t testing.TB, doc string) *declared.Fields {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	f, err := declared.Compile(u)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDiff(t *testing.T) {
	set := func(doc string, path []string, v any) string {
		u := obj(t, doc)
		if v == nil {
			unstructured.RemoveNestedField(u.Object, path...)
		} else if err := unstructured.SetNestedField(u.Object, v, path...); err != nil {
			t.Fatal(err)
		}
		b, _ := yaml.Marshal(u.Object)
		return string(b)
	}
	container := func(doc, field string, v any) string {
		u := obj(t, doc)
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if v == nil {
			delete(cs[0].(map[string]any), field)
		} else {
			cs[0].(map[string]any)[field] = v
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
		b, _ := yaml.Marshal(u.Object)
		return string(b)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name       string
		git, live  string
		wantFields []string
	}{
		{"defaults, canonical quantities and other managers' fields are not drift", gitDeployment, liveDeployment, nil},
		{"a mutated image", gitDeployment, container(liveDeployment, "image", "evil:latest"), []string{".spec.template.spec.containers[name=web].image"}},
		{"a removed container", gitDeployment, set(liveDeployment, []string{"spec", "template", "spec", "containers"}, []any{map[string]any{"name": "sidecar"}}),
			[]string{".spec.template.spec.containers[name=web]"}},
		{"a changed argument list", gitDeployment, container(liveDeployment, "args", []any{"--port", "9090"}), []string{".spec.template.spec.containers[name=web].args[1]"}},
		{"a quantity changed in value", gitDeployment, container(liveDeployment, "resources", map[string]any{"limits": map[string]any{"cpu": "2", "memory": "128Mi"}}),
			[]string{".spec.template.spec.containers[name=web].resources.limits.cpu"}},
		{"a false the type omits, set true", gitDeployment, set(liveDeployment, []string{"spec", "template", "spec", "hostNetwork"}, true), []string{".spec.template.spec.hostNetwork"}},
		{"a declared false removed", gitDeployment, set(liveDeployment, []string{"spec", "template", "spec", "automountServiceAccountToken"}, nil),
			[]string{".spec.template.spec.automountServiceAccountToken"}},
		{"the tracking label removed", gitDeployment, set(liveDeployment, []string{"metadata", "labels"}, nil), []string{".metadata.labels"}},
		{"a ConfigMap value", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {mode: safe, cpu: '1000m'}",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {mode: unsafe, cpu: '1', other: x}", []string{".data.cpu", ".data.mode"}},
		{"a Secret's stringData is stored in data", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: x}\ndata: {b: " + b64("y") + "}",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\ndata: {a: " + b64("x") + ", b: " + b64("y") + "}", nil},
		{"a Secret's value changed", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: x}",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: " + b64("z") + "}", []string{".data.a"}},
		{"unnamed list elements match by position, with defaults", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 8080}]}",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80, protocol: TCP, targetPort: 8080}]}", nil},
		{"a Service's ports are a list-map by port and protocol: another port added", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}, {port: 81}]}", nil},
		{"a Service's ports in another order, protocol defaulted", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 8080}, {port: 443, protocol: TCP}]}",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 443, protocol: TCP, targetPort: 443}, {port: 80, protocol: TCP, targetPort: 8080}]}", nil},
		{"a Service port's protocol changed is another port", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 53}]}",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 53, protocol: UDP}]}", []string{".spec.ports[port=53,protocol=TCP]"}},
		{"a Service port's target changed", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 8080}]}",
			"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, protocol: TCP, targetPort: 9090}]}", []string{".spec.ports[port=80,protocol=TCP].targetPort"}},
		{"container ports by containerPort and protocol, a sidecar's env and ports added", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, ports: [{containerPort: 8080}], env: [{name: A, value: '1'}]}]}",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, ports: [{containerPort: 9090, protocol: TCP}, {containerPort: 8080, protocol: TCP}], env: [{name: INJECTED, value: y}, {name: A, value: '1'}]}]}", nil},
		{"a container port moved to UDP", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, ports: [{containerPort: 8080, name: http}]}]}",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, ports: [{containerPort: 8080, name: http, protocol: UDP}]}]}",
			[]string{".spec.containers[name=web].ports[containerPort=8080,protocol=TCP]"}},
		{"volume mounts by mountPath: one volume mounted twice, in another order", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, volumeMounts: [{name: v, mountPath: /a, subPath: a}, {name: v, mountPath: /b, subPath: b}]}]}",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, volumeMounts: [{name: token, mountPath: /var/run/secrets}, {name: v, mountPath: /b, subPath: b}, {name: v, mountPath: /a, subPath: a}]}]}", nil},
		{"a volume mount's subPath changed", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, volumeMounts: [{name: v, mountPath: /a, subPath: a}]}]}",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x, volumeMounts: [{name: v, mountPath: /a, subPath: etc}]}]}", []string{".spec.containers[name=web].volumeMounts[mountPath=/a].subPath"}},
		{"tolerations are atomic: one added", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x}], tolerations: [{key: a, operator: Exists}]}",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: web, image: x}], tolerations: [{key: a, operator: Exists}, {operator: Exists}]}", []string{".spec.tolerations"}},
		{"a RoleBinding's subjects are atomic, though named: one added", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: r}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: a, namespace: n}]",
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: r}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: a, namespace: n}, {kind: User, name: mallory}]", []string{".subjects"}},
		{"a custom resource's named list keeps matching by name", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {parts: [{name: a, size: 1}]}",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {parts: [{name: b, size: 2}, {name: a, size: 1}]}", nil},
		{"a custom resource, numbers by value", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, tags: [a]}",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3.0, tags: [a], extra: 1}", nil},
		{"a custom resource changed", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, mode: \"\"}",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 4}", []string{".spec.mode", ".spec.size"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkAgree(t, c.name, compile(t, c.git), obj(t, c.live).Object)
			if !reflect.DeepEqual(got, c.wantFields) {
				t.Errorf("drifted fields %q, want %q", got, c.wantFields)
			}
		})
	}
}

// BenchmarkDiff measures the comparison every drift check and every apply makes per object (a
// Deployment, compiled once), without the apiserver.
func BenchmarkDiff(b *testing.B) {
	f := compile(b, gitDeployment)
	live := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(liveDeployment), &live.Object); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := f.Diff(live.Object); len(d) != 0 {
			b.Fatal(d)
		}
	}
}
