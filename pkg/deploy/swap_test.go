package deploy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestSwapImage(t *testing.T) {
	hello := "10.0.0.1:5000/apps/hello@sha256:" + sha('a')
	tests := []struct {
		name     string
		in       corev1.Container
		image    string
		wantCmd  []string
		wantArgs []string
	}{
		{"placeholder command dropped", corev1.Container{Image: "10.0.0.1:5000/base/busybox:1", Command: []string{"sleep", "1000000"}}, hello, nil, nil},
		{"same repository keeps command", corev1.Container{Image: "10.0.0.1:5000/apps/hello@sha256:" + sha('b'), Command: []string{"/hello"}, Args: []string{"-v"}}, hello, []string{"/hello"}, []string{"-v"}},
		{"other registry, same repository keeps command", corev1.Container{Image: "prod.test/apps/hello:v1", Args: []string{"-v"}}, hello, nil, []string{"-v"}},
		{"no command", corev1.Container{Image: "busybox"}, hello, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			swapImage(&c, tt.image)
			want := corev1.Container{Image: tt.image, Command: tt.wantCmd, Args: tt.wantArgs}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("container (-want +got):\n%s", diff)
			}
		})
	}
}

func sha(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
