package webhook

import (
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// The front of the handler: everything an unauthenticated sender can reach.
// It bounds what a request costs before the sender is known (headers
// checked, the GitLab token compared and the GitHub signature header
// parsed before any body byte is read; body bytes in flight capped across
// all requests), and it logs nothing a sender chose until the sender is
// verified.

// DefaultMaxInflightBytes is the default cap on webhook body bytes held
// at once, across all requests.
const DefaultMaxInflightBytes = 64 << 20

// retryAfterSeconds is what a 503 for capacity asks the sender to wait.
const retryAfterSeconds = "5"

// Reason codes of the answers: short, stable, and safe to show in a git
// host's delivery log (no error chains, no addresses).
const (
	ReasonBadEventHeader     = "bad-event-header"
	ReasonBadDeliveryHeader  = "bad-delivery-header"
	ReasonNotConfigured      = "not-configured"
	ReasonMissingSignature   = "missing-signature"
	ReasonMalformedSignature = "malformed-signature"
	ReasonBadSignature       = "bad-signature"
	ReasonMissingToken       = "missing-token"
	ReasonBadToken           = "bad-token"
	ReasonTooLarge           = "too-large"
	ReasonOverCapacity       = "over-capacity"
	ReasonReadFailed         = "read-failed"
	ReasonBadContentType     = "bad-content-type"
	ReasonMalformedPayload   = "malformed-payload"
	ReasonBadSHA             = "bad-sha"
	ReasonBadRef             = "bad-ref"
	ReasonBadRepo            = "bad-repo"
)

// WithMaxBodyBytes caps one delivery's body. Default: MaxBody (25 MiB,
// GitHub's own cap).
func WithMaxBodyBytes(n int64) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// WithMaxInflightBytes caps the body bytes held at once by all deliveries
// being read or handled; a delivery that would pass it is answered 503
// with Retry-After, never queued or buffered. Default:
// DefaultMaxInflightBytes.
func WithMaxInflightBytes(n int64) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxInflight = n
		}
	}
}

// WithDeniedLogRate sets how many lines per second (burst as many) the
// handler logs about refused unauthenticated deliveries; the rest are only
// counted. Default: 5.
func WithDeniedLogRate(perSecond int) Option {
	return func(h *Handler) {
		if perSecond > 0 {
			h.deniedLog = rate.NewLimiter(rate.Limit(perSecond), perSecond)
		}
	}
}

// refusal is an answer given before the event is recorded.
type refusal struct {
	code   int
	reason string // a Reason* code
	result string // the events metric's result label
	msg    string // a fixed sentence for the reply
}

func (f *refusal) response() Response { return Response{Error: f.msg, Reason: f.reason} }

func refuse(code int, reason, result, msg string) *refusal {
	return &refusal{code: code, reason: reason, result: result, msg: msg}
}

// denied counts and logs (rate-limited) a refusal of a sender not yet
// verified. Only what the server itself knows is logged: the provider,
// the reason code and the client's address.
func (h *Handler) denied(r *http.Request, p provider, f *refusal) {
	if f.result == "unauthorized" {
		h.m.authDenied.WithLabelValues(f.reason).Inc()
	}
	if h.deniedLog.AllowN(h.clock.Now(), 1) {
		h.log.Warn("webhook refused before verification", "provider", p.name, "reason", f.reason, "status", f.code, "remote", r.RemoteAddr)
	}
}

// checkHeaders validates the headers that identify a delivery, before
// anything reads them into a log line or the store.
func checkHeaders(r *http.Request, p provider) *refusal {
	if !p.validEvent(r.Header.Get(p.eventHeader)) {
		return refuse(http.StatusBadRequest, ReasonBadEventHeader, "malformed", "missing or malformed "+p.eventHeader+" header")
	}
	if !validDelivery(r.Header.Get(p.deliveryHeader)) {
		return refuse(http.StatusBadRequest, ReasonBadDeliveryHeader, "malformed", p.deliveryHeader+" must be 1 to 64 characters of A-Z, a-z, 0-9 and '-'")
	}
	return nil
}

// validDelivery: both hosts send a GUID.
func validDelivery(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validGitHubEvent accepts the shape of GitHub's event names ("push",
// "pull_request", "check_suite"...): a hook set to send everything sends
// many Slipway ignores, and they get 200 as before, but nothing else.
func validGitHubEvent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// validGitLabEvent accepts the shape of GitLab's ("Push Hook", "Merge
// Request Hook", "Tag Push Hook"...).
func validGitLabEvent(s string) bool {
	words, ok := strings.CutSuffix(s, " Hook")
	if !ok || words == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(words); i++ {
		if c := words[i]; !isAlnum(c) && c != ' ' {
			return false
		}
	}
	return true
}

// precheckGitHub refuses what cannot carry a valid signature, before the
// body is read: no secret configured, no header, a header that is not
// sha256=<64 hex>.
func (h *Handler) precheckGitHub(r *http.Request) *refusal {
	if !h.configured(event.GitHub) {
		return refuse(http.StatusUnauthorized, ReasonNotConfigured, "unauthorized", "github webhook secret is not configured")
	}
	sig := r.Header.Get(github.SignatureHeader)
	if sig == "" {
		return refuse(http.StatusUnauthorized, ReasonMissingSignature, "unauthorized", "missing "+github.SignatureHeader+" header")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if b, err := hex.DecodeString(hexSig); !ok || err != nil || len(b) != 32 {
		return refuse(http.StatusUnauthorized, ReasonMalformedSignature, "unauthorized", "malformed "+github.SignatureHeader+" header: want sha256=<hex>")
	}
	return nil
}

// precheckGitLab compares the token (constant time) before the body is
// read: GitLab's check needs no body.
func (h *Handler) precheckGitLab(r *http.Request) *refusal {
	tok := r.Header.Get(gitlab.TokenHeader)
	switch _, err := h.gitlabSigner(tok); {
	case err == nil:
		return nil
	case !h.configured(event.GitLab):
		return refuse(http.StatusUnauthorized, ReasonNotConfigured, "unauthorized", "gitlab webhook token is not configured")
	case tok == "":
		return refuse(http.StatusUnauthorized, ReasonMissingToken, "unauthorized", "missing "+gitlab.TokenHeader+" header")
	default:
		return refuse(http.StatusUnauthorized, ReasonBadToken, "unauthorized", "webhook token does not match")
	}
}

// chunkSize is the unit bodies are read in and charged to the in-flight
// budget. Chunks come from a pool: a refused body leaves no garbage, so
// under a flood of unverifiable uploads the heap stays near the budget
// instead of growing with the garbage collector's target.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// body is a delivery's payload as read: pooled chunks, charged to the
// in-flight budget until released.
type body struct {
	h      *Handler
	chunks []*[chunkSize]byte
	n      int64 // bytes in chunks
	held   int64 // bytes charged to h.inflight
}

func (b *body) charge(n int64) bool {
	if !b.h.inflight.TryAcquire(n) {
		return false
	}
	b.held += n
	b.h.m.inflight.Add(float64(n))
	return true
}

func (b *body) uncharge(n int64) {
	b.h.inflight.Release(n)
	b.h.m.inflight.Sub(float64(n))
	b.held -= n
}

// freeChunks gives the chunks back to the pool and their bytes back to
// the budget.
func (b *body) freeChunks() {
	for _, c := range b.chunks {
		chunks.Put(c)
	}
	b.uncharge(int64(len(b.chunks)) * chunkSize)
	b.chunks = nil
}

// release gives back everything b holds; safe to call more than once.
func (b *body) release() {
	b.freeChunks()
	if b.held > 0 {
		b.uncharge(b.held)
	}
}

// WriteTo writes the payload to w (a MAC), without joining it.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	left := b.n
	var written int64
	for _, c := range b.chunks {
		k := min(left, chunkSize)
		m, err := w.Write(c[:k])
		written += int64(m)
		if err != nil {
			return written, err
		}
		left -= k
	}
	return written, nil
}

// join returns the payload in one slice, for parsing: only for a verified
// sender. Its bytes stay charged until release; the chunks go back.
func (b *body) join() ([]byte, *refusal) {
	if !b.charge(b.n) {
		return nil, busy()
	}
	out := make([]byte, 0, b.n)
	left := b.n
	for _, c := range b.chunks {
		k := min(left, chunkSize)
		out = append(out, c[:k]...)
		left -= k
	}
	b.freeChunks()
	return out, nil
}

func busy() *refusal {
	return refuse(http.StatusServiceUnavailable, ReasonOverCapacity, "capacity", "too many deliveries in flight; redeliver later")
}

// readBody reads the body within the per-request cap, chunk by chunk, each
// charged to the in-flight budget before it is filled: past the budget the
// delivery is refused at once (503), never waited for or buffered. The
// caller must release the body, also on refusal.
func (h *Handler) readBody(r *http.Request) (*body, *refusal) {
	b := &body{h: h}
	tooLarge := refuse(http.StatusRequestEntityTooLarge, ReasonTooLarge, "malformed", "payload too large")
	if r.ContentLength > h.maxBody {
		return b, tooLarge
	}
	// One byte past the cap tells a chunked body that is too long (or
	// one that lied about its length).
	src := io.LimitReader(r.Body, h.maxBody+1)
	for {
		if !b.charge(chunkSize) {
			return b, busy()
		}
		c := chunks.Get().(*[chunkSize]byte)
		b.chunks = append(b.chunks, c)
		n, err := io.ReadFull(src, c[:])
		b.n += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return b, refuse(http.StatusBadRequest, ReasonReadFailed, "malformed", "reading the payload failed")
		}
	}
	if b.n > h.maxBody {
		return b, tooLarge
	}
	return b, nil
}

// checkEvent validates, after verification, the fields of ev that name
// things in git and in the store: a verified sender can still send
// garbage, and these end up in PipelineRun names, labels and clone
// commands.
func checkEvent(ev *event.Event) *refusal {
	bad := func(reason, msg string) *refusal {
		return refuse(http.StatusBadRequest, reason, "malformed", msg)
	}
	for _, sha := range []string{ev.SHA, ev.BeforeSHA} {
		if sha != "" && !validSHA(sha) {
			return bad(ReasonBadSHA, "a commit SHA must be 40 or 64 hex characters")
		}
	}
	if ev.Ref != "" && !ValidRef(ev.Ref) {
		return bad(ReasonBadRef, "the ref is not a valid git ref name")
	}
	for _, b := range []string{ev.SourceBranch, ev.TargetBranch} {
		if b != "" && !ValidRef("refs/heads/"+b) {
			return bad(ReasonBadRef, "a merge request branch is not a valid git branch name")
		}
	}
	if !validRepo(ev.Repo, ev.Provider == event.GitLab) {
		return bad(ReasonBadRepo, "the repository must be named owner/name")
	}
	return nil
}

func validSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// maxRefLen bounds a ref; git sets none, but it is stored and logged.
const maxRefLen = 1024

// ValidRef reports whether ref is a valid full ref name by the rules of
// git check-ref-format: components separated by "/", at least two; no
// component empty, starting with "." or ending with ".lock"; no "..",
// "@{", control characters, space, "~", "^", ":", "?", "*", "[" or "\";
// not ending with "." or "/"; not "@".
func ValidRef(ref string) bool {
	if ref == "" || len(ref) > maxRefLen || ref == "@" || strings.HasSuffix(ref, ".") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || p[0] == '.' || strings.HasSuffix(p, ".lock") {
			return false
		}
	}
	return true
}

// validRepo: owner/name on GitHub; group/subgroup.../name on GitLab. Each
// element as the hosts allow: letters, digits, '.', '_', '-', not "." or
// "..", not starting with '-'.
func validRepo(repo string, nested bool) bool {
	if len(repo) > 255 {
		return false
	}
	parts := strings.Split(repo, "/")
	if len(parts) < 2 || !nested && len(parts) != 2 || len(parts) > 21 {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || p[0] == '-' || len(p) > 100 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
	}
	return true
}

// newInflight is the shared budget of body bytes.
func newInflight(n int64) *semaphore.Weighted { return semaphore.NewWeighted(n) }
