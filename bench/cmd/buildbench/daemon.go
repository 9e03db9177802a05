package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// daemon is a private buildkitd with an empty state directory: a builder
// that has never built anything, so a build on it is cold (base images
// pulled, every step run, no cache mounts) however busy the shared daemon
// of e2e/stack/buildkit.sh is.
type daemon struct {
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan error
}

// startDaemon starts bin with its state under dir; registry is marked as
// plain HTTP.
func startDaemon(ctx context.Context, bin, buildctl, dir, registry string) (*daemon, error) {
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	conf := fmt.Sprintf(`root = %q

[grpc]
  address = ["unix://%s"]

[worker.oci]
  enabled = true
  binary = "/usr/sbin/runc"
  snapshotter = "auto"
  gc = false

[worker.containerd]
  enabled = false

[registry.%q]
  http = true
  insecure = true
`, root, sock, registry)
	confPath := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir, addr: "unix://" + sock, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "--config", confPath)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		d.done <- d.cmd.Wait()
		logf.Close()
	}()
	for range 300 {
		if exec.CommandContext(ctx, buildctl, "--addr", d.addr, "debug", "workers").Run() == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("buildkitd exited: %w (log %s)", err, logf.Name())
		case <-ctx.Done():
			_ = d.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = d.stop()
	return nil, fmt.Errorf("buildkitd did not answer on %s within 30s (log %s)", d.addr, logf.Name())
}

// stop ends the daemon (SIGTERM, then SIGKILL), unmounts what it left
// mounted under its state directory, and removes it.
func (d *daemon) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	mounts, err := mountsUnder(d.dir)
	if err != nil {
		return err
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %w", mounts[i], err)
		}
	}
	return os.RemoveAll(d.dir)
}

// mountsUnder lists the mount points below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, errors.New("unexpected /proc/self/mountinfo line: " + sc.Text())
		}
		if mp := fields[4]; strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}
