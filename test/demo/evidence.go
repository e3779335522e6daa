package main

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/evidence"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/sealing"
)

// sealedSecret is step 7: a Secret sealed with `writ seal`, committed, applied and unsealed.
func (d *demo) sealedSecret(ctx context.Context) error {
	d.s.step("A secret sealed with `writ seal` is committed, applied and unsealed into a Secret")
	d.secretValue = randomHex(24)
	dir := filepath.Join(d.o.workDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	plain := filepath.Join(dir, "payment-api.yaml")
	secret := corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "payment-api"}, Data: map[string][]byte{"api-key": []byte(d.secretValue)}}
	b, err := yaml.Marshal(&secret)
	if err != nil {
		return err
	}
	if err := os.WriteFile(plain, b, 0o600); err != nil {
		return err
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(d.secretValue)))
	d.s.say("Alice has an API key for the payment provider (%s, never committed, not shown here;", plain)
	d.s.say("its digest is %s). She seals it with the cluster's public key, fetched from", digest[:19]+"...")
	d.s.say("writ-controller through the apiserver's service proxy:")
	sealedPath := filepath.Join("deploy", "payment-api-sealed.yaml")
	args := []string{"seal", "--kubeconfig", d.admin, "--controller-namespace", writNS, "--controller-name", "writ-sealing", "-o", "yaml", "-f", plain, "-w", sealedPath}
	d.s.cmd("writ %s", strings.Join(args, " "))
	out, code, err := d.writ(ctx, d.repo.dir, nil, args...)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		d.s.evidence("%s", out)
	}
	if code != 0 {
		return fmt.Errorf("writ seal failed (exit %d): %s", code, out)
	}
	raw, err := os.ReadFile(filepath.Join(d.repo.dir, sealedPath))
	if err != nil {
		return err
	}
	if strings.Contains(string(raw), d.secretValue) {
		return fmt.Errorf("the sealed file contains the plaintext")
	}
	var ss ssv1alpha1.SealedSecret
	if err := yaml.Unmarshal(raw, &ss); err != nil {
		return fmt.Errorf("%s: %w", sealedPath, err)
	}
	d.s.cmd("head %s", sealedPath)
	d.s.evidence("kind: %s\nmetadata: {name: %s, namespace: %s, annotations: {%s: %s}}\nspec.encryptedData.api-key: %.24s... (%d characters of ciphertext)",
		ss.Kind, ss.Name, ss.Namespace, sealing.AnnotationKey, ss.Annotations[sealing.AnnotationKey], ss.Spec.EncryptedData["api-key"], len(ss.Spec.EncryptedData["api-key"]))
	commit, typed, err := d.repo.commit(&d.alice, true, "shop: payment provider API key (sealed)", nil)
	if err != nil {
		return err
	}
	d.s.cmd("git add %s && %s && git push", sealedPath, typed)

	var s reconcilev1.Sync
	if err := d.until(ctx, "the sealed secret's commit applied", 2*time.Minute, func() (bool, string) {
		state := d.syncState(ctx, &s)
		return s.Status.LastAppliedCommit == commit && strings.HasPrefix(state, "True"), state
	}); err != nil {
		return err
	}
	d.good = commit
	d.s.evidence("sync shop: Ready %s", d.syncState(ctx, &s))
	var got corev1.Secret
	if err := d.until(ctx, "the Secret unsealed", time.Minute, func() (bool, string) {
		err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "payment-api"}, &got)
		return err == nil, fmt.Sprint(err)
	}); err != nil {
		return err
	}
	owner := "none"
	if len(got.OwnerReferences) > 0 {
		owner = got.OwnerReferences[0].Kind + "/" + got.OwnerReferences[0].Name
	}
	gotDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(got.Data["api-key"]))
	d.s.cmd("kubectl get secret payment-api -n shop -o jsonpath='{.data.api-key}' | base64 -d | sha256sum")
	d.s.evidence("%s   (owner %s; the same digest as the value Alice sealed)", gotDigest, owner)
	if gotDigest != digest {
		return fmt.Errorf("the unsealed Secret holds another value (digest %s, sealed %s)", gotDigest, digest)
	}
	var live ssv1alpha1.SealedSecret
	if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "payment-api"}, &live); err == nil && live.Status != nil {
		for _, c := range live.Status.Conditions {
			d.s.evidence("%s", strings.TrimSpace(fmt.Sprintf("sealedsecret shop/payment-api: %s=%s %s", c.Type, c.Status, c.Message)))
		}
	}
	return nil
}

// auditEvidence is step 8: the evidence bundle exported from the cluster and verified offline.
func (d *demo) auditEvidence(ctx context.Context) error {
	d.s.step("`writ audit export` writes the evidence bundle; `writ audit verify` checks it")
	// Everything the steps above recorded reaches the store before the export.
	if err := d.until(ctx, "every AuditEvent ingested", time.Minute, func() (bool, string) {
		var l auditv1.AuditEventList
		if err := d.env.Client.List(ctx, &l, client.InNamespace(writNS)); err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d AuditEvents waiting", len(l.Items))
	}); err != nil {
		return err
	}
	bundle := filepath.Join(d.o.workDir, "evidence.zip")
	from, to := d.start.Format(time.RFC3339), time.Now().UTC().Add(time.Minute).Truncate(time.Second).Format(time.RFC3339)
	d.s.say("The auditor's export goes through the apiserver's service proxy to writ-controller, which")
	d.s.say("builds and signs the bundle from its hash-chained store; Kubernetes RBAC decides who may export.")
	args := []string{"audit", "export", "--kubeconfig", d.admin, "--from", from, "--to", to, "--out", bundle}
	d.s.cmd("writ %s", strings.Join(args, " "))
	out, code, err := d.writ(ctx, "", nil, args...)
	if err != nil {
		return err
	}
	d.s.evidence("%s", lastLines(out))
	if code != 0 {
		return fmt.Errorf("writ audit export failed (exit %d): %s", code, out)
	}

	var cm corev1.ConfigMap
	if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: writNS, Name: auditcontroller.PublicConfigMap}, &cm); err != nil {
		return err
	}
	pub := filepath.Join(d.o.workDir, "audit.pub")
	if err := os.WriteFile(pub, []byte(cm.Data[auditcontroller.PublicKeyField]), 0o644); err != nil {
		return err
	}
	d.s.cmd("kubectl get configmap %s -n writ-system -o jsonpath='{.data.audit\\.pub}' > %s", auditcontroller.PublicConfigMap, pub)
	d.s.cmd("writ audit verify %s --public-key %s", bundle, pub)
	out, code, err = d.writ(ctx, "", nil, "audit", "verify", bundle, "--public-key", pub)
	if err != nil {
		return err
	}
	d.s.evidence("%s", out)
	if code != 0 || !strings.HasPrefix(out, "OK ") {
		return fmt.Errorf("writ audit verify did not say OK (exit %d)", code)
	}

	events, report, err := openBundle(bundle, filepath.Join(d.o.workDir, "evidence"))
	if err != nil {
		return err
	}
	d.s.say("What the bundle's events.jsonl holds about this walkthrough:")
	for _, e := range events {
		switch e.Kind {
		case audit.CommitRejected, audit.MutationDenied, audit.BreakGlassRequested, audit.BreakGlassApproved, audit.BreakGlassUsed, audit.DriftHealed:
			d.s.evidence("#%d %s", e.Seq, describeRecord(e))
		}
	}
	d.s.say("The HTML report for the auditor (open it in a browser):")
	d.s.evidence("file://%s", report)
	page, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	d.s.say("Its drift table names who changed each object, from the guard's record of the write the drift came from:")
	for _, row := range driftRows(string(page)) {
		d.s.evidence("%s", row)
	}
	return nil
}

// driftRows are the rows of the report's drift table as text: object, fields, changed by.
func driftRows(page string) []string {
	at := strings.Index(page, `<section id="drift">`)
	if at < 0 {
		return nil
	}
	section := page[at:]
	section = section[:strings.Index(section, "</section>")]
	var rows []string
	for _, row := range strings.Split(section, "<tr><td>")[1:] {
		cells := strings.Split(row, "</td><td>")
		if len(cells) < 3 {
			continue
		}
		text := func(s string) string { return html.UnescapeString(tags.ReplaceAllString(s, "")) }
		rows = append(rows, text(cells[0])+"  "+text(cells[1])+"  changed by "+text(cells[2]))
	}
	return rows
}

var tags = regexp.MustCompile(`<[^>]*>`)

// openBundle reads the bundle's events and extracts its HTML report into dir.
func openBundle(path, dir string) ([]audit.Event, string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, "", err
	}
	defer zr.Close()
	var events []audit.Event
	report := ""
	for _, f := range zr.File {
		switch f.Name {
		case evidence.FileEvents:
			rc, err := f.Open()
			if err != nil {
				return nil, "", err
			}
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			for sc.Scan() {
				var e audit.Event
				if err := audit.DecodeEvent(sc.Bytes(), &e); err != nil {
					rc.Close()
					return nil, "", fmt.Errorf("%s: %w", evidence.FileEvents, err)
				}
				events = append(events, e)
			}
			rc.Close()
			if err := sc.Err(); err != nil {
				return nil, "", err
			}
		case evidence.FileReport:
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, "", err
			}
			report = filepath.Join(dir, evidence.FileReport)
			if err := extract(f, report); err != nil {
				return nil, "", err
			}
		}
	}
	if report == "" {
		return nil, "", fmt.Errorf("%s has no %s", path, evidence.FileReport)
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	return events, report, nil
}

func extract(f *zip.File, to string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, rc); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// lastLines drops progress lines (carriage-return updates) from a command's output.
func lastLines(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
