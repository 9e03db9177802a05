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
