package harness

import (
	"context"
	"errors"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// HostIP returns an IPv4 address of this machine that is not loopback or link-local: the
// apiserver refuses to proxy to those, and its validation refuses them in EndpointSlices.
func HostIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP.To4()
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		return ip.String(), nil
	}
	return "", errors.New("no non-loopback IPv4 address on this machine: the API server's service proxy cannot reach a local process without one")
}

// ExposeService makes a local server listening on HostIP():port reachable through the
// apiserver's service proxy as Service namespace/name with one port portName. The proxy only
// forwards to endpoints that are a Pod's IP, so this writes what a kubelet and the (absent)
// controller manager would: a Pod named name whose status has HostIP() as its IP, a Service
// without selector, and an EndpointSlice pointing at the Pod.
func (e *Env) ExposeService(ctx context.Context, namespace, name, portName string, port int) error {
	ip, err := HostIP()
	if err != nil {
		return err
	}
	if err := e.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	p := int32(port)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "local", Image: "local.invalid/process"}}}}
	if err := e.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("exposing %s/%s: %w", namespace, name, err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: ip,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := e.Client.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("giving Pod %s/%s the address %s: %w", namespace, name, ip, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: p, TargetPort: intstr.FromInt32(p)}}}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: name, UID: pod.UID}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(p), Protocol: ptr.To(corev1.ProtocolTCP)}}}
	for _, o := range []client.Object{svc, slice} {
		if err := e.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("exposing %s/%s: %w", namespace, o.GetName(), err)
		}
	}
	return nil
}
