package charts_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/cmd/writ-controller/app"
)

// Every Deployment's arguments are accepted by writ-controller's own flag parsing, and its ports
// are the ones the flags bind.
func TestDeploymentArgsParse(t *testing.T) {
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, c.namespace, c.values)
			for _, d := range r.objects {
				if d.GetKind() != "Deployment" {
					continue
				}
				ct := containers(t, d)[0]
				o, err := app.ParseFlags(args(ct), &bytes.Buffer{})
				if err != nil {
					t.Errorf("%s: writ-controller refuses %v: %v", d.GetName(), args(ct), err)
					continue
				}
				enabled := 0
				for _, on := range o.Enabled {
					if on {
						enabled++
					}
				}
				if enabled == 0 && !o.ManageWebhookCerts {
					t.Errorf("%s runs no component", d.GetName())
				}
				want := map[string]string{"metrics": o.MetricsAddr, "probes": o.ProbeAddr}
				if o.Enabled[app.ComponentWebhook] {
					want["webhook"] = fmt.Sprintf(":%d", o.WebhookPort)
				}
				if o.Enabled[app.ComponentAudit] {
					want["audit"] = o.AuditExportAddr
				}
				if o.Enabled[app.ComponentSealing] {
					want["sealing"] = o.SealingAddr
				}
				ports, _, _ := unstructured.NestedSlice(ct, "ports")
				got := map[string]string{}
				for _, p := range ports {
					m := p.(map[string]any)
					got[m["name"].(string)] = fmt.Sprintf(":%v", m["containerPort"])
				}
				mounts := map[string]bool{}
				vm, _, _ := unstructured.NestedSlice(ct, "volumeMounts")
				for _, m := range vm {
					mounts[m.(map[string]any)["mountPath"].(string)] = true
				}
				if o.Enabled[app.ComponentWebhook] && !mounts[o.WebhookCertDir] {
					t.Errorf("%s: --webhook-cert-dir %s is not mounted", d.GetName(), o.WebhookCertDir)
				}
				if o.Enabled[app.ComponentWebhook] && (o.WitnessCacheDir == "" || !mounts[o.WitnessCacheDir]) {
					t.Errorf("%s: --witness-cache-dir %q is not a mounted volume (the root filesystem is read-only)", d.GetName(), o.WitnessCacheDir)
				}
				if o.Enabled[app.ComponentAudit] && !mounts[o.AuditDir] {
					t.Errorf("%s: --audit-dir %s is not mounted", d.GetName(), o.AuditDir)
				}
				if o.Enabled[app.ComponentReconciler] && !mounts[o.ReconcileCacheDir] {
					t.Errorf("%s: --reconcile-cache-dir %s is not mounted", d.GetName(), o.ReconcileCacheDir)
				}
				for name, addr := range want {
					if got[name] == "" || !strings.HasSuffix(addr, got[name]) {
						t.Errorf("%s: port %s is %q in the pod, the flags bind %q", d.GetName(), name, got[name], addr)
					}
				}
			}
		})
	}
}
