package declared_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/reconcile/declared"
	"writ.dev/writ/test/harness"
)

var update = flag.Bool("update", false, "write testdata/deployment-20k.live.json from the test control plane")

// liveFixture is what the apiserver stored for benchDeployment (with the sidecar and status
// another manager wrote), as an AdmissionReview carries it: written by TestBenchFixture -update.
const liveFixture = "testdata/deployment-20k.live.json"

// benchDeployment is the Git side of the benchmarks: a Deployment of three containers with
// many environment variables, ports, probes, mounts and volumes (about 20 KB as stored).
func benchDeployment() string {
	var b strings.Builder
	b.WriteString(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: big
  namespace: bench
  labels: {app: big, app.kubernetes.io/part-of: bench, writ.dev/managed: writ-system.bench}
  annotations: {writ.dev/commit: 0123456789abcdef0123456789abcdef01234567, writ.dev/source: "https://git.example.com/bench//apps"}
spec:
  replicas: 4
  selector: {matchLabels: {app: big}}
  template:
    metadata:
      labels: {app: big, tier: backend}
    spec:
      serviceAccountName: big
      securityContext: {runAsNonRoot: true, runAsUser: 10001}
      containers:
`)
	for c, name := range []string{"app", "worker", "exporter"} {
		fmt.Fprintf(&b, `      - name: %s
        image: registry.example.com/bench/%s:1.2.%d
        args: [--config=/etc/%s/config.yaml, --log-level=info]
        ports:
        - {name: http-%d, containerPort: %d}
        - {name: metrics-%d, containerPort: %d}
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: 1000m, memory: 512Mi}
        readinessProbe: {httpGet: {path: /ready, port: %d}, periodSeconds: 5}
        livenessProbe: {httpGet: {path: /live, port: %d}, initialDelaySeconds: 10}
        volumeMounts:
        - {name: config-%s, mountPath: /etc/%s, readOnly: true}
        - {name: cache-%s, mountPath: /var/cache/%s}
        env:
`, name, name, c, name, c, 8080+c, c, 9090+c, 8080+c, 8080+c, name, name, name, name)
		for i := range 30 {
			fmt.Fprintf(&b, "        - {name: %s_SETTING_%02d, value: \"value-%02d-for-%s\"}\n", strings.ToUpper(name), i, i, name)
		}
	}
	b.WriteString("      volumes:\n")
	for _, name := range []string{"app", "worker", "exporter"} {
		fmt.Fprintf(&b, "      - {name: config-%s, configMap: {name: %s-config}}\n      - {name: cache-%s, emptyDir: {sizeLimit: 1Gi}}\n", name, name, name)
	}
	return b.String()
}

// TestBenchFixture checks that the committed live fixture matches benchDeployment (so the
// benchmarks measure a match), and with -update writes it from the control plane: Writ's
// server-side apply, another manager's sidecar, a status.
func TestBenchFixture(t *testing.T) {
	want := compile(t, benchDeployment())
	if *update {
		harness.Require(t, env)
		writeFixture(t)
	}
	raw, err := os.ReadFile(liveFixture)
	if err != nil {
		t.Fatal(err)
	}
	var live map[string]any
	if err := json.Unmarshal(raw, &live); err != nil {
		t.Fatal(err)
	}
	if d := want.Diff(live); len(d) != 0 {
		t.Fatalf("the fixture differs from benchDeployment at %q; run go test -run TestBenchFixture -update", d)
	}
	if path, differs, err := want.FirstDiffJSON(raw); differs || err != nil {
		t.Fatalf("FirstDiffJSON = %q, %v, %v", path, differs, err)
	}
	if len(raw) < 18<<10 || len(raw) > 24<<10 {
		t.Fatalf("the fixture has %d bytes, want about 20 KB", len(raw))
	}
}

func writeFixture(t *testing.T) {
	ctx := context.Background()
	apply(t, ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "bench"}}}, false)
	apply(t, ctx, obj(t, benchDeployment()), false)
	sidecar := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: big, namespace: bench}
spec:
  template:
    spec:
      containers:
      - name: mesh-proxy
        image: registry.example.com/mesh/proxy:1.20
        args: [proxy, sidecar, --concurrency=2]
        ports: [{name: mesh, containerPort: 15001}]
        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}`)
	if err := env.Client.Patch(ctx, sidecar, client.Apply, client.FieldOwner("mesh-injector"), client.ForceOwnership); err != nil { //nolint:staticcheck // unstructured apply
		t.Fatal(err)
	}
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(sidecar.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bench", Name: "big"}, cur); err != nil {
		t.Fatal(err)
	}
	cur.Object["status"] = map[string]any{"observedGeneration": cur.GetGeneration(), "replicas": int64(4), "readyReplicas": int64(4),
		"updatedReplicas": int64(4), "availableReplicas": int64(4), "conditions": []any{
			map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": `ReplicaSet "big-7d9c6b5f4" has successfully progressed.`}}}
	if err := env.Client.Status().Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	// Typed, so that the keys come in the order the apiserver writes them ("name" first).
	var stored appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bench", Name: "big"}, &stored); err != nil {
		t.Fatal(err)
	}
	stored.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	raw, err := json.Marshal(&stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(liveFixture, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture returns the compiled benchDeployment and the live fixture's JSON.
func fixture(b testing.TB) (*declared.Fields, []byte) {
	raw, err := os.ReadFile(liveFixture)
	if err != nil {
		b.Fatal(err)
	}
	return compile(b, benchDeployment()), raw
}

// BenchmarkFirstDiffJSON measures the admission check on a ~20 KB Deployment as the apiserver
// stores it (managedFields, status, a sidecar): a match, and a mismatch (one image changed), with
// FirstDiffJSON (every byte validated) and FirstDiffValidJSON (valid-*: input already validated,
// as at admission, undeclared subtrees only matched for brackets and strings) and
// FirstDiffValidJSONRead (read-*: the managedFields list already found, as the guard has it).
func BenchmarkFirstDiffJSON(b *testing.B) {
	want, raw := fixture(b)
	bad := bytes.Replace(raw, []byte("bench/worker:1.2.1"), []byte("bench/worker:6.6.6"), 1)
	if bytes.Equal(bad, raw) {
		b.Fatal("no image to change in the fixture")
	}
	for _, c := range []struct {
		name    string
		raw     []byte
		differs bool
		diff    func([]byte) (string, bool, error)
	}{
		{"match", raw, false, want.FirstDiffJSON}, {"mismatch", bad, true, want.FirstDiffJSON},
		{"valid-match", raw, false, want.FirstDiffValidJSON}, {"valid-mismatch", bad, true, want.FirstDiffValidJSON},
		{"read-match", raw, false, readManaged(b, want, raw)}, {"read-mismatch", bad, true, readManaged(b, want, bad)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, differs, err := c.diff(c.raw); differs != c.differs || err != nil {
					b.Fatal(differs, err)
				}
			}
		})
	}
}

// readManaged is FirstDiffValidJSONRead of raw with its managedFields read, as the guard has them.
func readManaged(b *testing.B, want *declared.Fields, raw []byte) func([]byte) (string, bool, error) {
	read := managedFieldsOf(b, raw)
	return func(live []byte) (string, bool, error) { return want.FirstDiffValidJSONRead(live, read) }
}

// BenchmarkCompile measures compiling the ~20 KB Deployment (its typed round trip included),
// once per desired object and commit.
func BenchmarkCompile(b *testing.B) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(benchDeployment()), &u.Object); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := declared.Compile(u); err != nil {
			b.Fatal(err)
		}
	}
}
