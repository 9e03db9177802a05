package fakescm

// GitHub webhooks: hooks registered by a test or the stack, deliveries the
// fake makes to them when asked (POST /_fake/github/deliver), kept and
// served as GitHub's hook deliveries API serves them, and redelivered on
// request. GitHub never retries a failed delivery by itself; neither does
// the fake.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // GitHub still sends the SHA-1 X-Hub-Signature beside the SHA-256 one.
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kinds of hook, as Slipway's github-recover-hooks names them.
const (
	RepoHook = "repo"
	OrgHook  = "org"
	// AppHook is a GitHub App's one hook: it receives every repository's
	// events (the App is taken as installed everywhere).
	AppHook = "app"
)

// Hook is a GitHub webhook the fake delivers to.
type Hook struct {
	// ID is the hook's number; 0 when registering lets the fake pick one.
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	// Owner is the repository owner (RepoHook) or the organisation
	// (OrgHook); empty for AppHook.
	Owner string `json:"owner,omitempty"`
	// Repo is the repository name (RepoHook only).
	Repo   string `json:"repo,omitempty"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// receives reports whether an event of repo ("owner/name") goes to h.
func (h Hook) receives(repo string) bool {
	owner, _, _ := strings.Cut(repo, "/")
	switch h.Kind {
	case RepoHook:
		return h.Owner+"/"+h.Repo == repo
	case OrgHook:
		return h.Owner == owner
	}
	return h.Kind == AppHook
}

// Delivery is one attempt to deliver an event to a hook, in the shape of
// GitHub's hook deliveries API (Request and Response only in a single
// delivery's answer).
type Delivery struct {
	ID          int64     `json:"id"`
	GUID        string    `json:"guid"`
	DeliveredAt time.Time `json:"delivered_at"`
	Redelivery  bool      `json:"redelivery"`
	// Duration is in seconds.
	Duration   float64 `json:"duration"`
	Status     string  `json:"status"`
	StatusCode int     `json:"status_code"`
	Event      string  `json:"event"`
	// Action is the payload's action, if it has one.
	Action         *string       `json:"action"`
	InstallationID *int64        `json:"installation_id"`
	RepositoryID   *int64        `json:"repository_id"`
	Request        *HookExchange `json:"request,omitempty"`
	Response       *HookExchange `json:"response,omitempty"`

	hookID int64
}

// HookExchange is a delivery's request or response: the headers, and the
// payload (the request's JSON document; the response's body as a string).
type HookExchange struct {
	Headers map[string]string `json:"headers"`
	Payload json.RawMessage   `json:"payload"`
}

// Attempt is a delivery as POST /_fake/github/deliver answers it: with
// the hook it went to (GitHub's own API names the hook in the path).
type Attempt struct {
	HookID int64 `json:"hookId"`
	Delivery
}

// summary is d as a list of deliveries shows it.
func (d Delivery) summary() Delivery {
	d.Request, d.Response = nil, nil
	return d
}

// deliveryTimeout is how long GitHub waits for a hook's answer.
const deliveryTimeout = 10 * time.Second

// firstDeliveryID: GitHub's delivery ids are large numbers; so are the
// fake's, so nothing mistakes one for a hook id.
const firstDeliveryID = 20_000_000_000

var (
	hookName  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	eventName = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

// AddHook registers h, or updates the URL and secret of the hook with its
// ID when that hook has the same kind and target. It returns the hook as
// registered (with its ID).
func (s *Server) AddHook(h Hook) (Hook, error) {
	switch h.Kind {
	case RepoHook:
		if !hookName.MatchString(h.Owner) || !hookName.MatchString(h.Repo) {
			return Hook{}, errors.New("a repo hook needs an owner and a repo name")
		}
	case OrgHook:
		if !hookName.MatchString(h.Owner) || h.Repo != "" {
			return Hook{}, errors.New("an org hook needs an owner (the organisation) and no repo")
		}
	case AppHook:
		if h.Owner != "" || h.Repo != "" {
			return Hook{}, errors.New("the app hook has no owner or repo")
		}
	default:
		return Hook{}, fmt.Errorf("hook kind %q: want repo, org or app", h.Kind)
	}
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Hook{}, fmt.Errorf("hook url %q: want an absolute http(s) URL", h.URL)
	}
	if h.ID < 0 {
		return Hook{}, fmt.Errorf("hook id %d: want a positive number, or 0 to have one picked", h.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.hooks {
		same := o.Kind == h.Kind && o.Owner == h.Owner && o.Repo == h.Repo
		switch {
		case h.Kind == AppHook && same && h.ID != 0 && h.ID != o.ID:
			return Hook{}, fmt.Errorf("the app hook is hook %d", o.ID)
		case h.ID != 0 && h.ID == o.ID && !same:
			return Hook{}, fmt.Errorf("hook id %d is another hook's", h.ID)
		case same && (h.ID == o.ID || h.Kind == AppHook):
			o.URL, o.Secret = h.URL, h.Secret
			return *o, nil
		}
	}
	if h.ID == 0 {
		h.ID = 1
		for _, o := range s.hooks {
			h.ID = max(h.ID, o.ID+1)
		}
	}
	s.hooks = append(s.hooks, &h)
	return h, nil
}

// Hooks returns the registered hooks.
func (s *Server) Hooks() []Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Hook, 0, len(s.hooks))
	for _, h := range s.hooks {
		out = append(out, *h)
	}
	return out
}

// errNoHook: nothing to deliver to.
var errNoHook = errors.New("no hook receives the events of this repository")

// Deliver makes GitHub's delivery of an event of repo ("owner/name") to
// every hook that receives it (the repository's hooks, its owner's
// organisation hooks, the app hook), one GUID per hook, and returns the
// attempts as recorded. A hook that does not answer 2xx gets no second
// attempt: GitHub's hooks do not retry.
func (s *Server) Deliver(ctx context.Context, repo, event string, payload []byte) ([]Attempt, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !hookName.MatchString(owner) || !hookName.MatchString(name) {
		return nil, fmt.Errorf("repo %q: want owner/name", repo)
	}
	if !eventName.MatchString(event) {
		return nil, fmt.Errorf("event %q: want a GitHub event name such as push", event)
	}
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("payload: want a JSON object: %w", err)
	}
	// Compact, as GitHub sends it: the API shows the payload compacted,
	// so it is the body the signature covers.
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	payload = buf.Bytes()
	var action *string
	if a, ok := doc["action"].(string); ok {
		action = &a
	}
	var targets []Hook
	for _, h := range s.Hooks() {
		if h.receives(repo) {
			targets = append(targets, h)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%s: %w", repo, errNoHook)
	}
	var out []Attempt
	for _, h := range targets {
		guid, err := newGUID()
		if err != nil {
			return nil, err
		}
		out = append(out, Attempt{HookID: h.ID, Delivery: s.attempt(ctx, h, guid, event, action, payload, false)})
	}
	return out, nil
}

// Redeliver asks for attempt id of hook to be delivered again, as GitHub's
// POST …/deliveries/{id}/attempts does: the same GUID, event and payload,
// signed with the hook's secret, as a new attempt marked redelivery. It
// happens after Redeliver returns (GitHub answers 202 and queues it);
// WaitDeliveries waits for it.
func (s *Server) Redeliver(hookID, id int64) error {
	s.mu.Lock()
	var h *Hook
	for _, o := range s.hooks {
		if o.ID == hookID {
			h = o
		}
	}
	i := slices.IndexFunc(s.deliveries, func(d Delivery) bool { return d.ID == id && d.hookID == hookID })
	if h == nil || i < 0 {
		s.mu.Unlock()
		return errNotFound
	}
	hook, d := *h, s.deliveries[i]
	s.pending.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.pending.Done()
		s.attempt(context.Background(), hook, d.GUID, d.Event, d.Action, d.Request.Payload, true)
	}()
	return nil
}

// WaitDeliveries waits for the redeliveries asked so far to be made.
func (s *Server) WaitDeliveries() { s.pending.Wait() }

// Deliveries returns every attempt to deliver to hook id, oldest first.
func (s *Server) Deliveries(hookID int64) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.deliveries {
		if d.hookID == hookID {
			out = append(out, d)
		}
	}
	return out
}

var errNotFound = errors.New("not found")

// attempt posts one delivery to h and records it.
func (s *Server) attempt(ctx context.Context, h Hook, guid, event string, action *string, payload []byte, redelivery bool) Delivery {
	targetType := map[string]string{RepoHook: "repository", OrgHook: "organization", AppHook: "integration"}[h.Kind]
	// GitHub names the target by its numeric id; the fake's is a stable
	// number made from its name.
	target := fnv.New32a()
	_, _ = target.Write([]byte(h.Kind + "/" + h.Owner + "/" + h.Repo))
	headers := map[string]string{
		"Accept":                                 "*/*",
		"Content-Type":                           "application/json",
		"User-Agent":                             "GitHub-Hookshot/fakescm",
		"X-GitHub-Delivery":                      guid,
		"X-GitHub-Event":                         event,
		"X-GitHub-Hook-ID":                       strconv.FormatInt(h.ID, 10),
		"X-GitHub-Hook-Installation-Target-Type": targetType,
		"X-GitHub-Hook-Installation-Target-ID":   strconv.FormatUint(uint64(target.Sum32()), 10),
	}
	if h.Secret != "" {
		headers["X-Hub-Signature"] = "sha1=" + hexMAC(sha1.New, h.Secret, payload)
		headers["X-Hub-Signature-256"] = "sha256=" + hexMAC(sha256.New, h.Secret, payload)
	}
	d := Delivery{GUID: guid, Redelivery: redelivery, Event: event, Action: action,
		Request: &HookExchange{Headers: headers, Payload: json.RawMessage(payload)}, hookID: h.ID}
	start := time.Now()
	d.DeliveredAt = start.UTC().Truncate(time.Second)
	d.StatusCode, d.Status, d.Response = sendDelivery(ctx, s.hookClient, h.URL, headers, payload)
	d.Duration = time.Since(start).Seconds()
	s.mu.Lock()
	d.ID = firstDeliveryID + int64(len(s.deliveries))
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return d
}

// sendDelivery makes one delivery and describes its outcome as GitHub does: the
// status code (0 without an answer) and the status text.
func sendDelivery(ctx context.Context, c *http.Client, u string, headers map[string]string, payload []byte) (int, string, *HookExchange) {
	none := &HookExchange{Headers: map[string]string{}, Payload: json.RawMessage(`""`)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return 0, "invalid url", none
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, "timed out", none
		}
		return 0, "failed to connect to host", none
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	quoted, _ := json.Marshal(string(body))
	got := &HookExchange{Headers: map[string]string{}, Payload: quoted}
	for k := range resp.Header {
		got.Headers[k] = resp.Header.Get(k)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, "OK", got
	}
	return resp.StatusCode, fmt.Sprintf("Invalid HTTP Response: %d", resp.StatusCode), got
}

func newHookClient() *http.Client {
	return &http.Client{Timeout: deliveryTimeout,
		// GitHub records a redirect as the answer; it does not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func hexMAC(h func() hash.Hash, secret string, body []byte) string {
	mac := hmac.New(h, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// newGUID is a random (version 4) UUID, as X-GitHub-Delivery carries.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery guid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// --- the API ----------------------------------------------------------------

// hookRoutes adds GitHub's hook and hook deliveries API for repository,
// organisation and app hooks, and the controls that register hooks and
// make deliveries.
func (s *Server) hookRoutes(mux *http.ServeMux) {
	const api = "/github/api/v3"
	scopes := map[string]func(*http.Request) (Hook, bool){
		api + "/repos/{owner}/{repo}/hooks/{hook_id}": func(r *http.Request) (Hook, bool) {
			return s.findHook(RepoHook, r.PathValue("owner"), r.PathValue("repo"), r.PathValue("hook_id"))
		},
		api + "/orgs/{org}/hooks/{hook_id}": func(r *http.Request) (Hook, bool) {
			return s.findHook(OrgHook, r.PathValue("org"), "", r.PathValue("hook_id"))
		},
		api + "/app/hook": func(*http.Request) (Hook, bool) { return s.findHook(AppHook, "", "", "") },
	}
	for prefix, find := range scopes {
		mux.HandleFunc("GET "+prefix+"/deliveries", authed(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := find(r); ok {
				s.listDeliveries(w, r, h)
			} else {
				ghNotFound(w)
			}
		}))
		mux.HandleFunc("GET "+prefix+"/deliveries/{delivery_id}", authed(func(w http.ResponseWriter, r *http.Request) {
			h, ok := find(r)
			id, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
			if !ok || err != nil {
				ghNotFound(w)
				return
			}
			for _, d := range s.Deliveries(h.ID) {
				if d.ID == id {
					writeJSON(w, http.StatusOK, d)
					return
				}
			}
			ghNotFound(w)
		}))
		mux.HandleFunc("POST "+prefix+"/deliveries/{delivery_id}/attempts", authed(func(w http.ResponseWriter, r *http.Request) {
			h, ok := find(r)
			id, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
			if !ok || err != nil || s.Redeliver(h.ID, id) != nil {
				ghNotFound(w)
				return
			}
			writeJSON(w, http.StatusAccepted, map[string]any{})
		}))
	}
	listHooks := func(kind string, owner, repo func(*http.Request) string) http.HandlerFunc {
		return authed(func(w http.ResponseWriter, r *http.Request) {
			out := []map[string]any{}
			for _, h := range s.Hooks() {
				if h.Kind == kind && h.Owner == owner(r) && h.Repo == repo(r) {
					out = append(out, hookJSON(r, h))
				}
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	pathValue := func(name string) func(*http.Request) string {
		return func(r *http.Request) string { return r.PathValue(name) }
	}
	empty := func(*http.Request) string { return "" }
	mux.HandleFunc("GET "+api+"/repos/{owner}/{repo}/hooks", listHooks(RepoHook, pathValue("owner"), pathValue("repo")))
	mux.HandleFunc("GET "+api+"/orgs/{org}/hooks", listHooks(OrgHook, pathValue("org"), empty))
	for prefix, find := range scopes {
		if strings.HasSuffix(prefix, "{hook_id}") {
			mux.HandleFunc("GET "+prefix, authed(func(w http.ResponseWriter, r *http.Request) {
				if h, ok := find(r); ok {
					writeJSON(w, http.StatusOK, hookJSON(r, h))
				} else {
					ghNotFound(w)
				}
			}))
		}
	}

	mux.HandleFunc("POST /_fake/github/hooks", func(w http.ResponseWriter, r *http.Request) {
		var in Hook
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"kind": "repo|org|app", "owner", "repo", "id", "url", "secret"}`})
			return
		}
		h, err := s.AddHook(in)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, h)
	})
	mux.HandleFunc("POST /_fake/github/deliver", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Repo    string          `json:"repo"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"repo": "owner/name", "event": "push", "payload": {...}}`})
			return
		}
		ds, err := s.Deliver(r.Context(), in.Repo, in.Event, in.Payload)
		switch {
		case errors.Is(err, errNoHook):
			writeJSON(w, http.StatusNotFound, map[string]string{"message": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		default:
			writeJSON(w, http.StatusOK, ds)
		}
	})
}

// findHook is the hook of kind with that target and id (the app hook has
// neither).
func (s *Server) findHook(kind, owner, repo, id string) (Hook, bool) {
	for _, h := range s.Hooks() {
		if h.Kind == kind && h.Owner == owner && h.Repo == repo && (kind == AppHook || strconv.FormatInt(h.ID, 10) == id) {
			return h, true
		}
	}
	return Hook{}, false
}

// listDeliveries answers a page of h's deliveries, newest first, with
// GitHub's cursor pagination: a Link rel="next" whose cursor names where
// the next page starts.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, h Hook) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	all := s.Deliveries(h.ID)
	slices.Reverse(all)
	from := 0
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
		if err != nil || !strings.HasPrefix(c, "v1_") {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Invalid cursor"})
			return
		}
		from = len(all)
		if i := slices.IndexFunc(all, func(d Delivery) bool { return d.ID <= id }); i >= 0 {
			from = i
		}
	}
	to := min(from+per, len(all))
	out := make([]Delivery, 0, to-from)
	for _, d := range all[from:to] {
		out = append(out, d.summary())
	}
	if to < len(all) {
		next := url.Values{"per_page": {strconv.Itoa(per)}, "cursor": {"v1_" + strconv.FormatInt(all[to].ID, 10)}}
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, r.Host, r.URL.Path, next.Encode()))
	}
	writeJSON(w, http.StatusOK, out)
}

// hookJSON is h as GitHub's hooks API shows it: the secret masked.
func hookJSON(r *http.Request, h Hook) map[string]any {
	self := fmt.Sprintf("http://%s/github/api/v3/orgs/%s/hooks/%d", r.Host, h.Owner, h.ID)
	typ := "Organization"
	if h.Kind == RepoHook {
		self = fmt.Sprintf("http://%s/github/api/v3/repos/%s/%s/hooks/%d", r.Host, h.Owner, h.Repo, h.ID)
		typ = "Repository"
	}
	cfg := map[string]any{"url": h.URL, "content_type": "json", "insecure_ssl": "0"}
	if h.Secret != "" {
		cfg["secret"] = "********"
	}
	return map[string]any{"id": h.ID, "type": typ, "name": "web", "active": true, "events": []string{"*"},
		"config": cfg, "url": self, "ping_url": self + "/pings", "deliveries_url": self + "/deliveries"}
}

// authed answers 401 to a request without credentials, as GitHub's hook
// endpoints do (they need a token with admin rights on the hook).
func authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication"})
			return
		}
		next(w, r)
	}
}

func ghNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}
