// Command localpv provisions `local` PersistentVolumes on the local stack's
// single node, for claims of one storage class.
//
// The stack's default class (the controller-manager's host-path
// provisioner) makes root-owned 0750 directories, and the kubelet never
// applies a pod's fsGroup to hostPath volumes, so a non-root pod cannot
// write to them. A `local` volume is different: the kubelet changes its
// ownership to the pod's fsGroup on mount, as it does for production CSI
// volumes, but only when the volume's path is a mount point of its own
// (with no other mount of the same source); so each directory is bind
// mounted onto itself. The directories start as a fresh filesystem does
// (root, 0755), so a pod without the right fsGroup fails here as it would
// in production.
//
// It lists claims and volumes once a second rather than watching: the loop
// is simple and survives apiserver restarts, which the e2e suite performs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const provisionedBy = "slipway.dev/localpv"

type provisioner struct {
	kube  kubernetes.Interface
	dir   string
	class string
	node  string
	log   *slog.Logger
	mount mounter
}

// mounter makes a directory a mount point of its own and undoes it.
type mounter interface {
	BindSelf(path string) error
	Unmount(path string) error
}

// bindMounter is the real mounter (needs root).
type bindMounter struct{}

func (bindMounter) BindSelf(path string) error {
	mounted, err := isMountPoint(path)
	if err != nil || mounted {
		return err
	}
	if err := syscall.Mount(path, path, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mounting %s: %w", path, err)
	}
	return nil
}

func (bindMounter) Unmount(path string) error {
	mounted, err := isMountPoint(path)
	if err != nil || !mounted {
		return err
	}
	if err := syscall.Unmount(path, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	return nil
}

// isMountPoint reports whether path is the mount point of an entry of
// /proc/self/mountinfo (field 5).
func isMountPoint(path string) (bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("reading mountinfo: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true, nil
		}
	}
	return false, nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	dir := flag.String("dir", "/var/lib/slipway-localpv", "directory holding one subdirectory per volume")
	class := flag.String("storage-class", "slipway-local", "storage class whose claims this provisions")
	node := flag.String("node", "", "name of the node the volumes live on (required)")
	interval := flag.Duration("interval", time.Second, "how often claims and volumes are listed")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *node == "" {
		fmt.Fprintln(os.Stderr, "localpv: --node is required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localpv: kubeconfig: %v\n", err)
		os.Exit(1)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localpv: client: %v\n", err)
		os.Exit(1)
	}
	p := &provisioner{kube: kc, dir: *dir, class: *class, node: *node, log: log, mount: bindMounter{}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("provisioning", "class", *class, "dir", *dir, "node", *node)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		if err := p.sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sync failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sync provisions a volume for every pending claim of the class and
// deletes the released volumes it made.
func (p *provisioner) sync(ctx context.Context) error {
	claims, err := p.kube.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing claims: %w", err)
	}
	var errs []error
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != p.class ||
			c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	vols, err := p.kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing volumes: %w", err))...)
	}
	for i := range vols.Items {
		v := &vols.Items[i]
		if v.Annotations["pv.kubernetes.io/provisioned-by"] != provisionedBy {
			continue
		}
		switch v.Status.Phase {
		case corev1.VolumeReleased, corev1.VolumeFailed:
			if err := p.remove(ctx, v); err != nil {
				errs = append(errs, err)
			}
		default:
			// Mounts do not survive a host restart; the data does.
			if v.Spec.Local == nil {
				continue
			}
			if err := p.mount.BindSelf(v.Spec.Local.Path); err != nil {
				errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (p *provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	name := "localpv-" + string(c.UID)
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("claim %s/%s: %w", c.Namespace, c.Name, err)
	}
	if err := p.mount.BindSelf(path); err != nil {
		return fmt.Errorf("claim %s/%s: %w", c.Namespace, c.Name, err)
	}
	mode := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionedBy},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.class,
			VolumeMode:                    &mode,
			// Pre-bound: the claim gets exactly this volume.
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{p.node},
				}}}},
			}},
		},
	}
	_, err := p.kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil
	case err != nil:
		return fmt.Errorf("creating volume for claim %s/%s: %w", c.Namespace, c.Name, err)
	}
	p.log.Info("provisioned", "claim", c.Namespace+"/"+c.Name, "volume", name)
	return nil
}

func (p *provisioner) remove(ctx context.Context, v *corev1.PersistentVolume) error {
	if v.Spec.Local == nil || filepath.Dir(v.Spec.Local.Path) != filepath.Clean(p.dir) {
		return fmt.Errorf("volume %s: path is not under %s; left alone", v.Name, p.dir)
	}
	if err := p.mount.Unmount(v.Spec.Local.Path); err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	if err := os.RemoveAll(v.Spec.Local.Path); err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	err := p.kube.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting volume %s: %w", v.Name, err)
	}
	p.log.Info("deleted", "volume", v.Name)
	return nil
}
