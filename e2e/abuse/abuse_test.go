//go:build abuse

package abuse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	secret  = "abuse-secret"
	glToken = "abuse-gitlab-token"
	apiTok  = "abuse-api-token-0123456789"
	upload  = 25 << 20 // GitHub's largest delivery
	uploads = 24
	maxRSS  = 256 << 20
)

// server is one `slipway serve` child.
type server struct {
	base    string
	pid     int
	dir     string
	logPath string
}

var srv *server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "slipway-abuse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "slipway")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/slipway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building slipway:", err)
		return 1
	}
	s, stop, err := start(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	srv = s
	return m.Run()
}

// start runs serve with SQLite in dir and every outside party on a closed
// port: no cluster, no git host. It returns once /healthz answers.
func start(bin, dir string) (*server, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: x}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`), 0o600); err != nil {
		return nil, nil, err
	}
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("- {name: dev, role: developer, token: "+apiTok+"}\n"), 0o600); err != nil {
		return nil, nil, err
	}
	// A release config, so the promotion and app routes exist and an
	// unauthenticated write reaches their guard rather than a 404.
	release := filepath.Join(dir, "release.yaml")
	if err := os.WriteFile(release, []byte(`environments:
  - {name: qa, namespace: apps-qa, registry: 127.0.0.1:1/qa, clusters: [{name: local}]}
  - {name: prod, namespace: apps-prod, registry: 127.0.0.1:1/prod, approval: true, clusters: [{name: local}]}
apps:
  - {name: shop, repo: acme/shop, cloneURL: "https://github.com/acme/shop.git"}
`), 0o600); err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "serve",
		"--addr", addr,
		"--public-url", "http://"+addr,
		"--store", "sqlite://"+filepath.Join(dir, "slipway.db"),
		"--github-webhook-secret", secret, "--github-token", "x", "--github-api-url", "http://127.0.0.1:1/",
		"--gitlab-webhook-token", glToken, "--gitlab-token", "x", "--gitlab-api-url", "http://127.0.0.1:1/api/v4",
		"--image-registry", "127.0.0.1:1/abuse",
		"--kubeconfig", kubeconfig,
		"--install-pipelines=false",
		"--api-tokens-file", tokens,
		"--release-config", release,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	s := &server{base: "http://" + addr, pid: cmd.Process.Pid, dir: dir, logPath: logPath}
	for i := 0; ; i++ {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, stop, nil
			}
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("slipway serve exited (%v):\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if i > 600 {
			stop()
			return nil, nil, fmt.Errorf("slipway serve did not answer /healthz in 60s")
		}
	}
}

// peakRSS is VmHWM of the child: the most resident memory it ever had.
func (s *server) peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// storeBytes is the size of the SQLite files.
func (s *server) storeBytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	matches, _ := filepath.Glob(filepath.Join(s.dir, "slipway.db*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil {
			n += fi.Size()
		}
	}
	if n == 0 {
		t.Fatal("no store file")
	}
	return n
}

func (s *server) logBytes(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// pattern streams n bytes in 32 KiB chunks, never holding them.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n, 32<<10)]
	for i := range b {
		b[i] = '{'
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// post sends one delivery; code is 0 when the server hung up first (as it
// may, having answered before reading a refused body).
func post(path string, hdr map[string]string, body io.Reader, length int64) (code int, answer string) {
	req, err := http.NewRequest(http.MethodPost, srv.base+path, body)
	if err != nil {
		return 0, err.Error()
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Issue 13, first row: 24 concurrent unsigned 25 MB chunked uploads took
// the server past 900 MiB. Now the in-flight budget bounds them: every
// one refused, the peak resident memory under 256 MiB, the store unchanged.
func TestConcurrentLargeUploads(t *testing.T) {
	storeBefore := srv.storeBytes(t)
	// Well-formed but wrong signatures make the server read the bodies
	// (the worst case); missing ones are refused before the body.
	for _, sig := range []string{"sha256=" + strings.Repeat("0", 64), ""} {
		var wg sync.WaitGroup
		codes := make([]int, uploads)
		for i := range uploads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hdr := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": fmt.Sprintf("upload-%d", i)}
				if sig != "" {
					hdr["X-Hub-Signature-256"] = sig
				}
				codes[i], _ = post("/hooks/github", hdr, &pattern{upload}, -1)
			}()
		}
		wg.Wait()
		counts := map[int]int{}
		for _, c := range codes {
			counts[c]++
		}
		t.Logf("signature %q: answers %v", sig, counts)
		for c := range counts {
			if c != 0 && c != 401 && c != 503 {
				t.Errorf("answer %d to an unverified upload (all: %v)", c, counts)
			}
		}
	}
	peak := srv.peakRSS(t)
	t.Logf("peak RSS %d MiB", peak>>20)
	if peak > maxRSS {
		t.Errorf("peak RSS %d MiB, want at most %d MiB", peak>>20, maxRSS>>20)
	}
	if after := srv.storeBytes(t); after != storeBefore {
		t.Errorf("store grew from %d to %d bytes", storeBefore, after)
	}
}

// Absurd headers are refused, with a short reply, nothing stored and
// little logged.
func TestAbsurdHeaders(t *testing.T) {
	storeBefore, logBefore := srv.storeBytes(t), srv.logBytes(t)
	body := []byte(`{"zen":"x","hook_id":1}`)
	huge := strings.Repeat("A", 100<<10)
	tests := []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"100 KB delivery id, unsigned", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": huge}, 400},
		{"900 KB delivery id, signed", "/hooks/github", map[string]string{"X-GitHub-Event": "ping", "X-GitHub-Delivery": strings.Repeat("d", 900<<10), "X-Hub-Signature-256": sign(body)}, 400},
		{"event name with a space", "/hooks/github", map[string]string{"X-GitHub-Event": "push level=ERROR", "X-GitHub-Delivery": "d-1"}, 400},
		{"100 KB event name", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": huge, "X-Gitlab-Event-UUID": "d-1", "X-Gitlab-Token": glToken}, 400},
		{"100 KB signature", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + huge}, 401},
		{"100 KB gitlab token", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "d-1", "X-Gitlab-Token": huge}, 401},
		{"wrong signature", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign([]byte("other"))}, 401},
	}
	const rounds = 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range rounds {
				code, answer := post(tt.path, tt.hdr, bytes.NewReader(body), int64(len(body)))
				if code != tt.want {
					t.Fatalf("answer %d %s, want %d", code, answer, tt.want)
				}
				if len(answer) > 256 || strings.Contains(answer, "AAAA") || strings.Contains(answer, "127.0.0.1") {
					t.Fatalf("answer gives too much: %.300s", answer)
				}
			}
		})
	}
	if after := srv.storeBytes(t); after != storeBefore {
		t.Errorf("store grew from %d to %d bytes", storeBefore, after)
	}
	requests := int64(len(tests) * rounds)
	if grew := srv.logBytes(t) - logBefore; grew > 512*requests {
		t.Errorf("log grew %d bytes for %d refused requests, want at most 512 each", grew, requests)
	}
}

// Issue 13: next=/%09/evil.example sent the browser off-site.
func TestSigninRedirectStaysLocal(t *testing.T) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, next := range []string{"/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example", "/%2f/evil.example"} {
		form := url.Values{"token": {apiTok}, "next": {next}}
		req, _ := http.NewRequest(http.MethodPost, srv.base+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.base)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next=%q: %d Location %q, want 303 /", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// /readyz names components and states; the unreachable cluster's address
// and error are in the log only.
func TestReadyzSaysLittle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "dial") {
		t.Errorf("/readyz = %d %s, want 503 naming states only", resp.StatusCode, b)
	}
}

// Issue 13: 100 promotion requests and 10 app deletions with 100 KB names,
// without a token, grew the store 7 MB (each denial an audit row); 20
// unverified webhooks with 100 KB delivery ids grew the log 2 MB. Now the
// 130 cost no store byte and at most 512 log bytes each.
func TestUnauthenticatedRequestsCostNothing(t *testing.T) {
	storeBefore, logBefore := srv.storeBytes(t), srv.logBytes(t)
	huge := strings.Repeat("a", 100<<10)
	type req struct {
		method, path string
		hdr          map[string]string
		body         string
	}
	var reqs []req
	for range 100 {
		reqs = append(reqs, req{http.MethodPost, "/api/v1/promotions", map[string]string{"Content-Type": "application/json"},
			`{"app":"` + huge + `","to":"prod"}`})
	}
	for range 10 {
		reqs = append(reqs, req{http.MethodDelete, "/api/v1/apps/" + huge, nil, ""})
	}
	for range 20 {
		reqs = append(reqs, req{http.MethodPost, "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": huge}, "{}"})
	}
	for _, r := range reqs {
		hr, _ := http.NewRequest(r.method, srv.base+r.path, strings.NewReader(r.body))
		for k, v := range r.hdr {
			hr.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		// 401 (no token), 400 (the webhook's delivery id), or 429 once the
		// client's rate is spent: all refusals, none stored.
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusBadRequest, http.StatusTooManyRequests:
		default:
			t.Fatalf("%s %.60s: %d %s, want a refusal", r.method, r.path, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "aaaa") {
			t.Fatalf("%s %.60s: the answer echoes the request: %.200s", r.method, r.path, b)
		}
	}
	if after := srv.storeBytes(t); after != storeBefore {
		t.Errorf("store grew from %d to %d bytes after %d unauthenticated requests", storeBefore, after, len(reqs))
	}
	if grew := srv.logBytes(t) - logBefore; grew > 512*int64(len(reqs)) {
		t.Errorf("log grew %d bytes for %d refused requests, want at most 512 each", grew, len(reqs))
	}
}

// Issue 13: runs, events, pages, step logs and their streams were open to
// anyone while promotion reads needed a token. With a tokens file every
// read needs a token or a session.
func TestAnonymousReadsRefused(t *testing.T) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/api/v1/runs", "/api/v1/events", "/api/v1/notifications", "/api/v1/promotions", "/api/v1/audit",
		"/runs", "/events", "/runs/slipway-builds/web-1", "/runs/slipway-builds/web-1/stream"} {
		resp, err := client.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
		case resp.StatusCode == http.StatusTooManyRequests:
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/signin"):
		default:
			t.Errorf("anonymous GET %s: %d (Location %q), want 401 or a redirect to /signin", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.base+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+apiTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("GET /api/v1/runs with a developer token: %d, want 200", resp.StatusCode)
	}
}
