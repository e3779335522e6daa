package sealing_test

import (
	"crypto/rand"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/sealing"
)

// Seal a Secret with a cluster's certificate; only a ring holding the private key opens it.
func ExampleSealer_Seal() {
	key, _ := sealing.NewKey(rand.Reader, 2048, time.Now(), 24*time.Hour, "example") // the controller makes RSA-4096 keys
	s, err := sealing.NewSealer(key.Cert, time.Now(), rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	ss, _ := s.Seal(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, StringData: map[string]string{"password": "hunter2"}})
	fmt.Println(ss.Annotations[sealing.AnnotationKey] == key.Fingerprint)

	secret, _, err := sealing.Unseal(ss, sealing.NewKeyRing(key))
	fmt.Println(string(secret.Data["password"]), err)
	// Output:
	// true
	// hunter2 <nil>
}
