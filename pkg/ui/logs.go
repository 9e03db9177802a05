package ui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultLogCap is how much of each step's log is kept: the tail, where
// the error usually is.
const DefaultLogCap = 1 << 20

// tail keeps the last max bytes written to it and counts the rest.
type tail struct {
	max   int
	buf   []byte
	total int64
}

func (t *tail) Write(p []byte) (int, error) {
	t.total += int64(len(p))
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		// Cut at a line start when one is near, so the kept tail does not
		// begin in the middle of a line (or of a UTF-8 sequence).
		cut := over
		if i := strings.IndexByte(string(t.buf[over:min(len(t.buf), over+4096)]), '\n'); i >= 0 {
			cut = over + i + 1
		}
		t.buf = append(t.buf[:0], t.buf[cut:]...)
	}
	return len(p), nil
}

func (t *tail) truncated() bool { return t.total > int64(len(t.buf)) }

// readLog reads the whole log of one container of a pod, keeping the tail.
func readLog(ctx context.Context, kube kubernetes.Interface, ns, pod, container string, max int) (*tail, error) {
	rc, err := kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading log of %s/%s container %s: %w", ns, pod, container, err)
	}
	defer rc.Close()
	t := &tail{max: max}
	if _, err := io.Copy(t, rc); err != nil {
		return nil, fmt.Errorf("reading log of %s/%s container %s: %w", ns, pod, container, err)
	}
	return t, nil
}

// followLog streams a container's log line by line to emit until the
// container stops or ctx ends.
func followLog(ctx context.Context, kube kubernetes.Interface, ns, pod, container string, emit func(line string) error) error {
	rc, err := kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("following log of %s/%s container %s: %w", ns, pod, container, err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if eerr := emit(line); eerr != nil {
				return eerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("following log of %s/%s container %s: %w", ns, pod, container, err)
		}
	}
}

// Markers the generate-dockerfile task prints around the Dockerfile it
// builds (tasks/generate-dockerfile.yaml).
const (
	dockerfileBegin = "--- slipway:dockerfile "
	dockerfileEnd   = "--- end slipway:dockerfile ---"
)

// dockerfileFrom finds the Dockerfile printed between the markers in a
// step's log, and its path.
func dockerfileFrom(log string) (path, text string, ok bool) {
	i := strings.Index(log, dockerfileBegin)
	if i < 0 {
		return "", "", false
	}
	rest := log[i+len(dockerfileBegin):]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return "", "", false
	}
	path = strings.TrimSuffix(strings.TrimSpace(rest[:nl]), " ---")
	body := rest[nl+1:]
	j := strings.Index(body, dockerfileEnd)
	if j < 0 {
		return "", "", false
	}
	return path, body[:j], true
}
