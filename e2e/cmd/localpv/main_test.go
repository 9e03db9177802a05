package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func claim(name, class string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
}

func volume(name, path string, phase corev1.PersistentVolumePhase, ours bool) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}}},
		Status:     corev1.PersistentVolumeStatus{Phase: phase},
	}
	if ours {
		pv.Annotations = map[string]string{"pv.kubernetes.io/provisioned-by": provisionedBy}
	}
	return pv
}

// fakeMounter records which directories are mount points.
type fakeMounter map[string]bool

func (m fakeMounter) BindSelf(path string) error { m[path] = true; return nil }
func (m fakeMounter) Unmount(path string) error  { delete(m, path); return nil }

func TestSync(t *testing.T) {
	dir := t.TempDir()
	released := filepath.Join(dir, "localpv-old")
	if err := os.Mkdir(released, 0o755); err != nil {
		t.Fatal(err)
	}
	objs := []runtime.Object{
		claim("wanted", "slipway-local", corev1.ClaimPending),
		claim("other-class", "standard", corev1.ClaimPending),
		claim("bound", "slipway-local", corev1.ClaimBound),
		volume("localpv-old", released, corev1.VolumeReleased, true),
		volume("someone-elses", filepath.Join(dir, "keep"), corev1.VolumeReleased, false),
		volume("localpv-in-use", filepath.Join(dir, "localpv-in-use"), corev1.VolumeBound, true),
	}
	kc := fake.NewSimpleClientset(objs...)
	mounts := fakeMounter{released: true}
	p := &provisioner{kube: kc, dir: dir, class: "slipway-local", node: "node-1", log: slog.New(slog.NewTextHandler(io.Discard, nil)), mount: mounts}
	ctx := context.Background()
	// Twice: a second pass finds nothing more to do and fails on nothing.
	for range 2 {
		if err := p.sync(ctx); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}

	pvs, err := kc.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pv := range pvs.Items {
		names = append(names, pv.Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"localpv-in-use", "localpv-uid-wanted", "someone-elses"}, names); diff != "" {
		t.Errorf("volumes (-want +got)\n%s", diff)
	}
	pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, "localpv-uid-wanted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := corev1.PersistentVolumeSpec{
		Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		StorageClassName:              "slipway-local",
		ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "ns", Name: "wanted", UID: "uid-wanted"},
		PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(dir, "localpv-uid-wanted")}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}},
		}}}},
	}
	mode := corev1.PersistentVolumeFilesystem
	want.VolumeMode = &mode
	if diff := cmp.Diff(want, pv.Spec); diff != "" {
		t.Errorf("provisioned volume (-want +got)\n%s", diff)
	}
	if fi, err := os.Stat(filepath.Join(dir, "localpv-uid-wanted")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("volume directory: %v, %v; want a 0755 directory", fi, err)
	}
	if _, err := os.Stat(released); !os.IsNotExist(err) {
		t.Errorf("released volume's directory still there (err %v)", err)
	}
	// The new volume and the one in use are mount points; the released one no longer.
	wantMounts := fakeMounter{filepath.Join(dir, "localpv-uid-wanted"): true, filepath.Join(dir, "localpv-in-use"): true}
	if diff := cmp.Diff(wantMounts, mounts); diff != "" {
		t.Errorf("mount points (-want +got)\n%s", diff)
	}
}

// A volume whose path is outside the directory is never removed.
func TestRemoveRefusesForeignPath(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	kc := fake.NewSimpleClientset(volume("localpv-x", other, corev1.VolumeReleased, true))
	p := &provisioner{kube: kc, dir: dir, class: "c", node: "n", log: slog.New(slog.NewTextHandler(io.Discard, nil)), mount: fakeMounter{}}
	if err := p.sync(context.Background()); err == nil {
		t.Error("sync removed a volume outside its directory without an error")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("foreign directory removed: %v", err)
	}
}

func TestIsMountPoint(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/", true},
		{"/proc", true},
		{filepath.Join(t.TempDir(), "not-mounted"), false},
	} {
		got, err := isMountPoint(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("isMountPoint(%s) = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
}
