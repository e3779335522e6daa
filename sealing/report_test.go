package sealing_test

import (
	"reflect"
	"testing"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

// TestBuildReport attributes SealedSecrets by their annotation, else by the key the controller
// recorded on the Secret it owns, else as unknown.
func TestBuildReport(t *testing.T) {
	a, b := sealingtest.Keys(t)
	annotated, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "annotated", map[string]string{"k": "v"}))
	kubesealed, _ := sealingtest.Sealer(t, b).Seal(sealingtest.Secret("shop", "kubesealed", map[string]string{"k": "v"}))
	delete(kubesealed.Annotations, sealing.AnnotationKey)
	kubesealed.UID = "u2"
	orphan := kubesealed.DeepCopy()
	orphan.Name = "orphan"
	notOurs := kubesealed.DeepCopy()
	notOurs.Name, notOurs.UID = "not-ours", "u3"
	owned := func(name string, uid string, fp string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: map[string]string{sealing.AnnotationUnsealedWith: fp},
			OwnerReferences: []metav1.OwnerReference{{Kind: "SealedSecret", Name: name, UID: "u2"}}}}
	}
	r := sealing.BuildReport(
		[]sealing.KeyInfo{{Secret: "key-a", Fingerprint: a.Fingerprint, Status: "active", Created: "2026-01-01T00:00:00Z"}, {Secret: "key-b", Fingerprint: b.Fingerprint, Status: "active", Created: "2026-02-01T00:00:00Z"}},
		[]ssv1alpha1.SealedSecret{*annotated, *kubesealed, *orphan, *notOurs},
		map[string]*corev1.Secret{"shop/kubesealed": owned("kubesealed", "u2", b.Fingerprint), "shop/not-ours": owned("not-ours", "u2", a.Fingerprint)})
	if r.Keys[0].Secret != "key-b" || !r.Keys[0].Newest || r.Keys[1].Newest {
		t.Fatalf("order/newest: %+v", r.Keys)
	}
	if !reflect.DeepEqual(r.Keys[0].SealedSecrets, []string{"shop/kubesealed"}) || !reflect.DeepEqual(r.Keys[1].SealedSecrets, []string{"shop/annotated"}) {
		t.Errorf("attribution: %+v", r.Keys)
	}
	if !reflect.DeepEqual(r.Unknown, []string{"shop/not-ours", "shop/orphan"}) {
		t.Errorf("unknown: %v (a Secret another SealedSecret owns is no evidence)", r.Unknown)
	}
}
