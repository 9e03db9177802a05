package builds

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// RuncRoot is the runc state directory of the containers started here,
// apart from any other runc user on the machine (containerd's kubelet).
const RuncRoot = "/run/slipway-builds-runc"

// Process is what runs in a container: the OCI runtime spec's process.
type Process struct {
	Args []string
	Env  []string
	// User is "uid[:gid]" or "name[:group]", resolved in the root filesystem.
	User string
	Cwd  string
}

// Mount bind-mounts a host directory into the container, read-write.
type Mount struct{ Source, Destination string }

// ProcessFromImage is what a container runtime runs for the image config:
// Entrypoint + Cmd, Env, User, WorkingDir.
func ProcessFromImage(cf *v1.ConfigFile) (Process, error) {
	args := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(args) == 0 {
		return Process{}, errors.New("the image config has neither Entrypoint nor Cmd")
	}
	return Process{Args: args, Env: cf.Config.Env, User: cf.Config.User, Cwd: cf.Config.WorkingDir}, nil
}

// Container is a runc container running in the foreground of a `runc run`.
type Container struct {
	ID     string
	bundle string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	err    error
}

// Start runs p in a container whose root filesystem is rootfs (an unpacked
// image, see Unpack). The container has its own PID, IPC, UTS and mount
// namespaces but the host's network, so a server in it is reached on
// 127.0.0.1. bundle is a fresh directory for config.json; id must be unique
// on the machine. Call Stop to kill and delete the container.
func Start(ctx context.Context, bundle, rootfs, id string, p Process, mounts ...Mount) (*Container, error) {
	uid, gid, err := ResolveUser(rootfs, p.User)
	if err != nil {
		return nil, err
	}
	spec := runtimeSpec(rootfs, id, p, uid, gid, mounts)
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, fmt.Errorf("container bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("container bundle: %w", err)
	}
	c := &Container{ID: id, bundle: bundle, out: &syncBuffer{}, done: make(chan struct{})}
	// Not CommandContext: Stop must kill through runc, not the runc process.
	c.cmd = exec.Command("runc", "--root", RuncRoot, "run", "--bundle", bundle, id)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting runc: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop()
		case <-c.done:
		}
	}()
	return c, nil
}

// Wait waits for the container's process to exit and returns its error
// (an *exec.ExitError carries the exit code).
func (c *Container) Wait() error {
	<-c.done
	return c.err
}

// Exited reports whether the process has already ended.
func (c *Container) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Output is what the process wrote to stdout and stderr so far.
func (c *Container) Output() string { return c.out.String() }

// Stop kills the container's process and deletes the container from runc.
func (c *Container) Stop() error {
	if !c.Exited() {
		// The process may end between the check and the kill: an error here
		// is only worth reporting if delete fails as well.
		_ = exec.Command("runc", "--root", RuncRoot, "kill", c.ID, "KILL").Run()
		<-c.done
	}
	out, err := exec.Command("runc", "--root", RuncRoot, "delete", "--force", c.ID).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") {
		return fmt.Errorf("runc delete %s: %w: %s", c.ID, err, bytes.TrimSpace(out))
	}
	return nil
}

// Run runs p to completion in a container and returns its output and
// error, as a Tekton step runs a script in an image.
func Run(ctx context.Context, bundle, rootfs, id string, p Process, mounts ...Mount) (string, error) {
	c, err := Start(ctx, bundle, rootfs, id, p, mounts...)
	if err != nil {
		return "", err
	}
	werr := c.Wait()
	if err := c.Stop(); err != nil {
		return c.Output(), err
	}
	return c.Output(), werr
}

// runtimeSpec is a minimal OCI runtime config (runtime-spec 1.0) written by
// hand: the fields runc needs, nothing more.
func runtimeSpec(rootfs, id string, p Process, uid, gid int, mounts []Mount) map[string]any {
	caps := []string{}
	if uid == 0 {
		// Docker's default set, so a root build step behaves as in a pod.
		caps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
			"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
			"CAP_KILL", "CAP_AUDIT_WRITE"}
	}
	env := p.Env
	if !hasEnv(env, "HOME") {
		home := "/"
		if uid == 0 {
			home = "/root"
		}
		env = append(append([]string{}, env...), "HOME="+home)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	ms := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		// The host's resolver, as the host network is shared.
		{"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": []string{"rbind", "ro"}},
	}
	for _, m := range mounts {
		ms = append(ms, map[string]any{"destination": m.Destination, "type": "bind", "source": m.Source, "options": []string{"rbind", "rw"}})
	}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     map[string]any{"uid": uid, "gid": gid},
			"args":     p.Args,
			"env":      env,
			"cwd":      cwd,
			"capabilities": map[string]any{
				"bounding": caps, "effective": caps, "permitted": caps,
			},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": rootfs, "readonly": false},
		"hostname": "slipway-build-test",
		"mounts":   ms,
		"linux": map[string]any{
			// No network namespace: the container shares the host's, so the
			// test reaches the server on 127.0.0.1:<port>.
			"namespaces":    []map[string]any{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"cgroupsPath":   "/slipway-builds/" + id,
			"maskedPaths":   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// ResolveUser turns an image config User into numeric ids, looking names
// up in the root filesystem's /etc/passwd and /etc/group.
func ResolveUser(rootfs, user string) (uid, gid int, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err = strconv.Atoi(u)
	if err != nil {
		var primary int
		uid, primary, err = lookup(filepath.Join(rootfs, "etc", "passwd"), u)
		if err != nil {
			return 0, 0, fmt.Errorf("user %q: %w", user, err)
		}
		gid = primary
	} else {
		gid = uid
	}
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			if gid, _, err = lookup(filepath.Join(rootfs, "etc", "group"), g); err != nil {
				return 0, 0, fmt.Errorf("group %q: %w", user, err)
			}
		}
	}
	return uid, gid, nil
}

// lookup finds name in a passwd or group file and returns its third and
// fourth fields (uid, gid for passwd; gid for group).
func lookup(file, name string) (int, int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			return 0, 0, fmt.Errorf("%s: bad id for %s: %w", file, name, err)
		}
		second := id
		if len(fields) > 3 {
			if n, err := strconv.Atoi(fields[3]); err == nil {
				second = n
			}
		}
		return id, second, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("not in %s", file)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP GETs url until it answers 200, at most attempts times, pausing
// between attempts; it gives up early if the container exits.
func WaitHTTP(ctx context.Context, c *Container, url string, attempts int, pause time.Duration) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range attempts {
		if c.Exited() {
			return "", fmt.Errorf("the container exited before answering on %s: %w\n%s", url, c.Wait(), c.Output())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body), nil
			}
			err = fmt.Errorf("GET %s: %s %w", url, resp.Status, rerr)
		}
		last = err
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(pause):
		}
	}
	return "", fmt.Errorf("no answer from %s after %d attempts: %w\n%s", url, attempts, last, c.Output())
}

// syncBuffer is a bytes.Buffer safe for runc's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
