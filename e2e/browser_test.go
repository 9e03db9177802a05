//go:build e2e

package e2e

// A real headless Chromium (Debian's package, installed by
// hack/chromium.sh) driven over the DevTools protocol with chromedp, for the
// web UI tests. Go drives it directly, so the UI tests share the helpers of
// the other e2e tests (repositories, webhooks, waiting for PipelineRuns).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/e2e/framework"
)

var (
	chromiumOnce sync.Once
	chromiumPath string
	chromiumErr  error
)

// chromium is the browser binary: $SLIPWAY_CHROMIUM (make e2e sets it),
// else whatever hack/chromium.sh installs or finds.
func chromium(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		if p := os.Getenv("SLIPWAY_CHROMIUM"); p != "" {
			chromiumPath = p
			return
		}
		script := filepath.Join(framework.RepoRoot(), "hack", "chromium.sh")
		cmd := exec.Command(script)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			chromiumErr = fmt.Errorf("%s: %w", script, err)
			return
		}
		chromiumPath = strings.TrimSpace(string(out))
	})
	if chromiumErr != nil {
		t.Fatalf("chromium: %v", chromiumErr)
	}
	return chromiumPath
}

// page is one browser tab. Every uncaught JavaScript exception of the page
// is collected; the test fails on any when it ends.
type page struct {
	t   *testing.T
	ctx context.Context
}

// pageOptions say how the tab browses.
type pageOptions struct {
	noJS  bool
	phone bool // a 390×844 touch viewport at 3× scale
}

// newPage starts a browser of its own (so tests run in parallel without
// sharing state) and opens a tab; both end with ctx or the test.
func newPage(ctx context.Context, t *testing.T, o pageOptions) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	p := &page{t: t, ctx: tctx}
	// Subscribe before the first navigation; the subscription buffers.
	exceptions := chromedp.Events(tctx, runtime.ExceptionThrown)
	var (
		mu     sync.Mutex
		thrown []string
	)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			mu.Lock()
			thrown = append(thrown, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range thrown {
			t.Errorf("JavaScript exception in the page: %s", e)
		}
	})
	var steps []chromedp.Action[chromedp.Void]
	if o.noJS {
		steps = append(steps, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return chromedp.Void{}, err
		})
	}
	if o.phone {
		steps = append(steps, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch))
	}
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return p
}

// signIn gives the tab the stack developer's UI session, as the sign-in
// form would: every page needs one (the stack has a tokens file and no
// public-read).
func (p *page) signIn(s *slipwayStack) *page {
	p.t.Helper()
	httpOnly := true
	if _, err := chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{Name: "slipway_session", Value: s.session(p.t),
		URL: s.URL, Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
		p.t.Fatalf("setting the session cookie: %v", err)
	}
	return p
}

// open navigates and waits for the document; a non-2xx answer fails.
func (p *page) open(url string) {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, chromedp.Navigate(url))
	if err != nil {
		p.t.Fatalf("opening %s: %v", url, err)
	}
	if resp == nil || resp.Status/100 != 2 {
		code := int64(0)
		if resp != nil {
			code = resp.Status
		}
		p.t.Fatalf("opening %s: HTTP %d", url, code)
	}
}

// waitFor polls the JavaScript expression until it is truthy (or ctx, the
// test's deadline, ends) and returns its value as JSON-decoded T. It works
// with JavaScript disabled in the page too: DevTools still evaluates.
func waitFor[T any](p *page, what, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Poll[T](expr, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		p.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, p.text())
	}
	return v
}

// eval evaluates expr once.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text is the page's visible text, for failure messages.
func (p *page) text() string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// screenshot saves the whole page as a PNG under the artifacts directory
// and logs its path.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactsDir(p.t), name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(buf))
	return path
}

// viewportShot saves what the screen shows (no scrolling) as a PNG.
func (p *page) viewportShot(name string) string {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactsDir(p.t), name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(buf))
	return path
}

// artifactsDir is $ARTIFACTS or e2e/artifacts (gitignored), per test.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("ARTIFACTS")
	if root == "" {
		root = filepath.Join(framework.RepoRoot(), "e2e", "artifacts")
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return fmt.Sprintf("%q", s) // Go's quoting is valid JavaScript for the text tests use
}
