package harness

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// As returns a connection that impersonates user with groups. The admin's credentials make the
// request, so the apiserver authorises the impersonated identity itself: grant it RBAC (Grant)
// before it can do anything, since authorization runs before admission.
func (e *Env) As(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ClientAs returns a client for As(user, groups...).
func (e *Env) ClientAs(user string, groups ...string) (client.Client, error) {
	return client.New(e.As(user, groups...), client.Options{Scheme: e.Scheme})
}

// ServiceAccount creates namespace and service account if missing and returns a connection that
// authenticates as it with a real token from the TokenRequest API.
func (e *Env) ServiceAccount(ctx context.Context, namespace, name string) (*rest.Config, error) {
	if err := e.EnsureNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := e.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	expiry := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for %s/%s: %w", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(e.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg, nil
}

// EnsureNamespace creates a namespace if it does not exist.
func (e *Env) EnsureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// User, Group and ServiceAccountSubject name RBAC subjects for Grant.
func User(name string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: name} }

// Group names an RBAC group subject.
func Group(name string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: name} }

// ServiceAccountSubject names a service account subject.
func ServiceAccountSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// Grant binds clusterRole to subject cluster-wide. It is idempotent. The control plane runs no
// kube-controller-manager, so the aggregated roles (admin, edit, view) have no rules: use
// "cluster-admin" or a ClusterRole the test creates.
func (e *Env) Grant(ctx context.Context, subject rbacv1.Subject, clusterRole string) error {
	if subject.Kind != rbacv1.ServiceAccountKind {
		subject.APIGroup = rbacv1.GroupName
	}
	name := strings.ToLower(fmt.Sprintf("writ-test:%s:%s:%s:%s", clusterRole, subject.Kind, subject.Namespace, subject.Name))
	name = strings.NewReplacer(" ", "-", "/", "-").Replace(name)
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{subject},
	}
	if err := e.Client.Create(ctx, crb); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding %s to %s %q: %w", clusterRole, subject.Kind, subject.Name, err)
	}
	return nil
}

// KubeConfig returns a kubeconfig for a new certificate-authenticated user with groups (for
// example "system:masters" for an admin), for programs such as writ-controller run beside the
// tests.
func (e *Env) KubeConfig(user string, groups ...string) ([]byte, error) {
	u, err := e.env.ControlPlane.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", user, err)
	}
	return u.KubeConfig()
}
