// Package fakescm is a working stand-in for the GitHub and GitLab APIs and a
// git server over HTTP, for the local stack and the end-to-end tests. It
// serves real git repositories (git http-backend), answers the API calls
// Slipway makes with the shapes the real SDKs expect, reading files from
// those same repositories, and records every commit status and comment so
// tests can assert on them. It also receives what Slipway notifies: chat
// webhooks over HTTP and mail over SMTP (see mail.go).
package fakescm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is one commit status as posted by a client.
type Status struct {
	Provider    string    `json:"provider"`
	Repo        string    `json:"repo"`
	SHA         string    `json:"sha"`
	State       string    `json:"state"`
	Context     string    `json:"context"`
	Description string    `json:"description"`
	TargetURL   string    `json:"targetUrl"`
	Ref         string    `json:"ref,omitempty"`
	At          time.Time `json:"at"`
}

// Comment is one MR/PR comment (created or edited).
type Comment struct {
	ID       int64  `json:"id"`
	Provider string `json:"provider"`
	Repo     string `json:"repo"`
	Number   int    `json:"number"`
	Body     string `json:"body"`
}

// PullRequest is what the fake answers for a GitHub pull request or a
// GitLab merge request, as registered by a test.
type PullRequest struct {
	Repo   string `json:"repo"`
	Number int    `json:"number"`
	SHA    string `json:"sha"`
	Source string `json:"source"`
	Target string `json:"target"`
	Title  string `json:"title"`
	// Closed makes it closed (GitHub) / closed (GitLab) instead of open.
	Closed bool `json:"closed,omitempty"`
	// Author is who opened it (GitLab's list shows it); default "e2e".
	Author string `json:"author,omitempty"`
	// CreatedAt is when it was first registered and UpdatedAt when last
	// (GitLab's list filters and orders by them); the fake sets both.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// ChatMessage is one JSON document posted to /_fake/chat/<channel>.
type ChatMessage struct {
	Channel     string          `json:"channel"`
	ContentType string          `json:"contentType"`
	Body        json.RawMessage `json:"body"`
	At          time.Time       `json:"at"`
}

// Server holds the repositories and the recorded calls.
type Server struct {
	// ReposDir holds bare repositories at <owner>/<name>.git.
	ReposDir string

	mu       sync.Mutex
	statuses []Status
	comments []Comment
	projects map[int64]string // GitLab numeric id → path
	nextID   int64
	// perms: repo → user → "admin", "write" or "read"; absent users are
	// not collaborators (GitHub 404, GitLab not a member).
	perms map[string]map[string]string
	// groups: GitHub team "org/slug" or GitLab group path → user →
	// "maintainer", "member" or "pending"; absent users are not members.
	groups  map[string]map[string]string
	userIDs map[string]int // GitLab user ids, made on first mention
	pulls   map[string]PullRequest
	chats   []ChatMessage
	mails   []Mail
	// failures makes the next N status posts answer 502 (retry tests).
	failures int
	// readsDown makes file reads answer 503, so an accepted event cannot be
	// dispatched yet (the e2e crash-recovery test holds events this way).
	readsDown bool

	// GitHub webhooks (hooks.go): the hooks, every delivery attempt made
	// to them, oldest first, and the redeliveries under way.
	hooks      []*Hook
	deliveries []Delivery
	hookClient *http.Client
	pending    sync.WaitGroup
}

// New serves the bare repositories under reposDir.
func New(reposDir string) *Server {
	return &Server{ReposDir: reposDir, projects: map[int64]string{}, nextID: 1,
		perms: map[string]map[string]string{}, groups: map[string]map[string]string{}, userIDs: map[string]int{}, pulls: map[string]PullRequest{},
		hookClient: newHookClient()}
}

// SetPermission gives user level ("admin", "write" or "read") on repo, for
// both hosts; "" removes the user from the repository.
func (s *Server) SetPermission(repo, user, level string) error {
	switch level {
	case "", "admin", "write", "read":
	default:
		return fmt.Errorf("permission %q: want admin, write, read or empty", level)
	}
	s.setLevel(s.perms, repo, user, level)
	return nil
}

// SetGroupMember makes user a member of group, for both hosts: a GitHub
// organisation team "org/team-slug" or a GitLab group's full path. level
// "maintainer" or "member" is an active member (GitHub team maintainer or
// member; GitLab Maintainer or Developer), "pending" an invitation not yet
// accepted (GitHub state pending; GitLab state awaiting, at Developer);
// "" removes the user. On GitLab a member of a group is a member of its
// subgroups too (/members/all), as on the real host.
func (s *Server) SetGroupMember(group, user, level string) error {
	switch level {
	case "", "maintainer", "member", "pending":
	default:
		return fmt.Errorf("group membership %q: want maintainer, member, pending or empty", level)
	}
	s.setLevel(s.groups, group, user, level)
	return nil
}

// setLevel sets (or with "" removes) user's level under key in m, and
// gives user a numeric id the GitLab API answers with.
func (s *Server) setLevel(m map[string]map[string]string, key, user, level string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[key] == nil {
		m[key] = map[string]string{}
	}
	if level == "" {
		delete(m[key], user)
	} else {
		m[key][user] = level
	}
	if _, ok := s.userIDs[user]; !ok {
		s.userIDs[user] = 100 + len(s.userIDs)
	}
}

// groupLevel is user's level in group; with inherit, the nearest parent
// group's when group itself has none (GitLab's inherited members).
func (s *Server) groupLevel(group, user string, inherit bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if lvl := s.groups[group][user]; lvl != "" || !inherit {
			return lvl
		}
		i := strings.LastIndex(group, "/")
		if i < 0 {
			return ""
		}
		group = group[:i]
	}
}

func (s *Server) permission(repo, user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perms[repo][user]
}

// AddPullRequest registers a PR/MR so API lookups of its head answer; a
// second registration of the same number updates it (a new head, say).
func (s *Server) AddPullRequest(pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pr.Repo + "#" + strconv.Itoa(pr.Number)
	now := time.Now().UTC()
	pr.CreatedAt, pr.UpdatedAt = now, now
	if old, ok := s.pulls[key]; ok {
		pr.CreatedAt = old.CreatedAt
	}
	if pr.Author == "" {
		pr.Author = "e2e"
	}
	s.pulls[key] = pr
}

func (s *Server) pull(repo string, n int) (PullRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.pulls[repo+"#"+strconv.Itoa(n)]
	return pr, ok
}

// Chats returns the chat messages received, oldest first.
func (s *Server) Chats() []ChatMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChatMessage(nil), s.chats...)
}

// AddGitLabProject maps a numeric GitLab project id to a repository path.
func (s *Server) AddGitLabProject(id int64, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[id] = path
}

// FailNextStatuses makes the next n status posts fail with 502.
func (s *Server) FailNextStatuses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = n
}

// SetReadsDown makes every file read (.slipway.yaml) answer 503 while down
// is true: a transient outage of the host's API.
func (s *Server) SetReadsDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readsDown = down
}

func (s *Server) readsAvailable(w http.ResponseWriter) bool {
	s.mu.Lock()
	down := s.readsDown
	s.mu.Unlock()
	if down {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "reads are down (fakescm /_fake/reads)"})
	}
	return !down
}

// Statuses returns the recorded statuses of repo and sha, oldest first
// (all of them when both are empty).
func (s *Server) Statuses(repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.statuses {
		if (repo == "" || st.Repo == repo) && (sha == "" || st.SHA == sha) {
			out = append(out, st)
		}
	}
	return out
}

// Comments returns the recorded comments.
func (s *Server) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Comment(nil), s.comments...)
}

var (
	ghContents = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/contents/(.+)$`)
	ghStatus   = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$`)
	ghComments = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$`)
	ghComment  = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$`)
	ghPerm     = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/collaborators/([^/]+)/permission$`)
	ghPull     = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/pulls/(\d+)$`)
	ghFiles    = regexp.MustCompile(`^/github/api/v3/repos/([^/]+)/([^/]+)/pulls/(\d+)/files$`)
	glDiffs    = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)/diffs$`)
	glRaw      = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/repository/files/([^/]+)/raw$`)
	glStatus   = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40})$`)
	glNotes    = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes$`)
	glNote     = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$`)
	glMR       = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)$`)
	glMember   = regexp.MustCompile(`^/gitlab/api/v4/projects/([^/]+)/members/all/(\d+)$`)
	// A team is named by its organisation and slug; a GitLab group by its
	// URL-encoded full path (a%2Fb), one segment.
	ghTeamMember  = regexp.MustCompile(`^/github/api/v3/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)$`)
	glGroupMember = regexp.MustCompile(`^/gitlab/api/v4/groups/([^/]+)/members/all/(\d+)$`)
)

// gitlabAccess maps a permission to GitLab's access levels (Reporter 20,
// Developer 30, Maintainer 40).
var gitlabAccess = map[string]int{"read": 20, "write": 30, "admin": 40}

// gitlabGroupAccess maps a group membership to GitLab's access levels: a
// member is a Developer, the level Slipway trusts.
var gitlabGroupAccess = map[string]int{"member": 30, "pending": 30, "maintainer": 40}

// Handler serves /git/ (git over HTTP), /github/api/v3/, /gitlab/api/v4/
// and /_fake/ (recorded calls as JSON).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/git/", &cgi.Handler{
		Path: gitHTTPBackend(),
		Root: "/git",
		Env:  []string{"GIT_PROJECT_ROOT=" + s.ReposDir, "GIT_HTTP_EXPORT_ALL=1"},
	})
	mux.HandleFunc("/github/", s.github)
	mux.HandleFunc("/gitlab/", s.gitlab)
	s.hookRoutes(mux)
	s.headRoutes(mux)
	mux.HandleFunc("/_fake/statuses", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Statuses(r.URL.Query().Get("repo"), r.URL.Query().Get("sha")))
	})
	mux.HandleFunc("/_fake/comments", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Comments())
	})
	// The controls below let a separate process (the e2e tests, with fakescm
	// running as its own binary) drive what the in-process API offers.
	mux.HandleFunc("POST /_fake/gitlab/projects", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ID <= 0 || in.Path == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"id": N > 0, "path": "owner/name"}`})
			return
		}
		s.AddGitLabProject(in.ID, in.Path)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/permissions", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Repo  string `json:"repo"`
			User  string `json:"user"`
			Level string `json:"level"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Repo == "" || in.User == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"repo": "owner/name", "user": "login", "level": "admin|write|read|"}`})
			return
		}
		if err := s.SetPermission(in.Repo, in.User, in.Level); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/groups", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Group string `json:"group"`
			User  string `json:"user"`
			Level string `json:"level"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Group == "" || in.User == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"group": "org/team or group/subgroup", "user": "login", "level": "maintainer|member|pending|"}`})
			return
		}
		if err := s.SetGroupMember(in.Group, in.User, in.Level); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/pulls", func(w http.ResponseWriter, r *http.Request) {
		var in PullRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Repo == "" || in.Number <= 0 || in.SHA == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"repo", "number" > 0, "sha", "source", "target", "title"}`})
			return
		}
		s.AddPullRequest(in)
		w.WriteHeader(http.StatusNoContent)
	})
	// Chat webhooks: Slipway posts JSON to /_fake/chat/<channel>.
	mux.HandleFunc("POST /_fake/chat/{channel}", func(w http.ResponseWriter, r *http.Request) {
		var body json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "bad JSON: " + err.Error()})
			return
		}
		s.mu.Lock()
		s.chats = append(s.chats, ChatMessage{Channel: r.PathValue("channel"), ContentType: r.Header.Get("Content-Type"), Body: body, At: time.Now()})
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /_fake/chat", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Chats())
	})
	mux.HandleFunc("GET /_fake/mail", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Mails())
	})
	mux.HandleFunc("POST /_fake/reads", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("down") {
		case "true":
			s.SetReadsDown(true)
		case "false":
			s.SetReadsDown(false)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "want ?down=true or ?down=false"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func gitHTTPBackend() string {
	if p, err := exec.Command("git", "--exec-path").Output(); err == nil {
		return filepath.Join(strings.TrimSpace(string(p)), "git-http-backend")
	}
	return "/usr/lib/git-core/git-http-backend"
}

func (s *Server) github(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodGet && ghContents.MatchString(p):
		if !s.readsAvailable(w) {
			return
		}
		m := ghContents.FindStringSubmatch(p)
		file, _ := url.PathUnescape(m[3])
		data, err := s.show(m[1]+"/"+m[2], r.URL.Query().Get("ref"), file)
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"type": "file", "encoding": "base64", "name": filepath.Base(file), "path": file,
			"size": len(data), "content": base64.StdEncoding.EncodeToString(data),
		})
	case r.Method == http.MethodPost && ghStatus.MatchString(p):
		m := ghStatus.FindStringSubmatch(p)
		var in struct {
			State       string `json:"state"`
			Context     string `json:"context"`
			Description string `json:"description"`
			TargetURL   string `json:"target_url"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		s.statuses = append(s.statuses, Status{Provider: "github", Repo: m[1] + "/" + m[2], SHA: m[3], State: in.State,
			Context: in.Context, Description: in.Description, TargetURL: in.TargetURL, At: time.Now()})
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": 1, "state": in.State, "context": in.Context})
	case r.Method == http.MethodGet && ghPerm.MatchString(p):
		m := ghPerm.FindStringSubmatch(p)
		user, _ := url.PathUnescape(m[3])
		lvl := s.permission(m[1]+"/"+m[2], user)
		if lvl == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": user + " is not a collaborator"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"permission": lvl, "user": map[string]string{"login": user}})
	case r.Method == http.MethodGet && ghTeamMember.MatchString(p):
		m := ghTeamMember.FindStringSubmatch(p)
		org, _ := url.PathUnescape(m[1])
		slug, _ := url.PathUnescape(m[2])
		user, _ := url.PathUnescape(m[3])
		lvl := s.groupLevel(org+"/"+slug, user, false)
		if lvl == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		role, state := lvl, "active"
		if lvl == "pending" {
			role, state = "member", "pending"
		}
		writeJSON(w, http.StatusOK, map[string]any{"role": role, "state": state})
	case r.Method == http.MethodGet && ghPull.MatchString(p):
		m := ghPull.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[3])
		pr, ok := s.pull(m[1]+"/"+m[2], n)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		state := "open"
		if pr.Closed {
			state = "closed"
		}
		writeJSON(w, http.StatusOK, map[string]any{"number": n, "state": state, "title": pr.Title,
			"head": map[string]string{"sha": pr.SHA, "ref": pr.Source}, "base": map[string]string{"ref": pr.Target}})
	case r.Method == http.MethodGet && ghFiles.MatchString(p):
		m := ghFiles.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[3])
		files, ok := s.pullFiles(m[1]+"/"+m[2], n)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		page, next := paginate(r, files, 30)
		out := []map[string]any{}
		for _, f := range page {
			doc := map[string]any{"filename": f.path, "status": f.status}
			if f.old != "" {
				doc["previous_filename"] = f.old
			}
			out = append(out, doc)
		}
		if next > 0 {
			q := r.URL.Query()
			q.Set("page", strconv.Itoa(next))
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, r.Host, r.URL.Path, q.Encode()))
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet && ghComments.MatchString(p):
		m := ghComments.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[3])
		var out []map[string]any
		for _, c := range s.Comments() {
			if c.Provider == "github" && c.Repo == m[1]+"/"+m[2] && c.Number == n {
				out = append(out, map[string]any{"id": c.ID, "body": c.Body})
			}
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPost && ghComments.MatchString(p):
		m := ghComments.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[3])
		var in struct {
			Body string `json:"body"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		c := Comment{ID: s.nextID, Provider: "github", Repo: m[1] + "/" + m[2], Number: n, Body: in.Body}
		s.nextID++
		s.comments = append(s.comments, c)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "body": c.Body})
	case r.Method == http.MethodPatch && ghComment.MatchString(p):
		m := ghComment.FindStringSubmatch(p)
		id, _ := strconv.ParseInt(m[3], 10, 64)
		var in struct {
			Body string `json:"body"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range s.comments {
			if s.comments[i].ID == id {
				s.comments[i].Body = in.Body
				writeJSON(w, http.StatusOK, map[string]any{"id": id, "body": in.Body})
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found: " + r.Method + " " + p})
	}
}

func (s *Server) gitlab(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodGet && glRaw.MatchString(p):
		if !s.readsAvailable(w) {
			return
		}
		m := glRaw.FindStringSubmatch(p)
		repo, ok := s.project(m[1])
		file, _ := url.PathUnescape(m[2])
		data, err := s.show(repo, r.URL.Query().Get("ref"), file)
		if !ok || err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 File Not Found"})
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(data)
	case r.Method == http.MethodPost && glStatus.MatchString(p):
		m := glStatus.FindStringSubmatch(p)
		repo, ok := s.project(m[1])
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
			return
		}
		var in struct {
			State       string `json:"state"`
			Name        string `json:"name"`
			Context     string `json:"context"`
			Ref         string `json:"ref"`
			Description string `json:"description"`
			TargetURL   string `json:"target_url"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		if in.Name == "" {
			in.Name = in.Context
		}
		s.mu.Lock()
		s.statuses = append(s.statuses, Status{Provider: "gitlab", Repo: repo, SHA: m[2], State: in.State, Context: in.Name,
			Description: in.Description, TargetURL: in.TargetURL, Ref: in.Ref, At: time.Now()})
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": 1, "sha": m[2], "status": in.State, "name": in.Name, "ref": in.Ref})
	case r.Method == http.MethodGet && glNotes.MatchString(p):
		m := glNotes.FindStringSubmatch(p)
		repo, _ := s.project(m[1])
		n, _ := strconv.Atoi(m[2])
		out := []map[string]any{}
		for _, c := range s.Comments() {
			if c.Provider == "gitlab" && c.Repo == repo && c.Number == n {
				out = append(out, map[string]any{"id": c.ID, "body": c.Body, "system": false})
			}
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPut && glNote.MatchString(p):
		m := glNote.FindStringSubmatch(p)
		repo, _ := s.project(m[1])
		id, _ := strconv.ParseInt(m[3], 10, 64)
		var in struct {
			Body string `json:"body"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range s.comments {
			if c := &s.comments[i]; c.ID == id && c.Provider == "gitlab" && c.Repo == repo {
				c.Body = in.Body
				writeJSON(w, http.StatusOK, map[string]any{"id": id, "body": in.Body, "system": false})
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Note Not Found"})
	case r.Method == http.MethodGet && p == "/gitlab/api/v4/users":
		user := r.URL.Query().Get("username")
		s.mu.Lock()
		id, ok := s.userIDs[user]
		s.mu.Unlock()
		out := []map[string]any{}
		if ok {
			out = append(out, map[string]any{"id": id, "username": user, "state": "active"})
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet && glMember.MatchString(p):
		m := glMember.FindStringSubmatch(p)
		repo, ok := s.project(m[1])
		id, _ := strconv.Atoi(m[2])
		var user string
		s.mu.Lock()
		for u, uid := range s.userIDs {
			if uid == id {
				user = u
			}
		}
		s.mu.Unlock()
		lvl := s.permission(repo, user)
		if !ok || user == "" || lvl == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "username": user, "state": "active", "access_level": gitlabAccess[lvl]})
	case r.Method == http.MethodGet && glDiffs.MatchString(p):
		m := glDiffs.FindStringSubmatch(p)
		repo, _ := s.project(m[1])
		n, _ := strconv.Atoi(m[2])
		files, ok := s.pullFiles(repo, n)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		page, next := paginate(r, files, 20)
		out := []map[string]any{}
		for _, f := range page {
			old := f.path
			if f.old != "" {
				old = f.old
			}
			out = append(out, map[string]any{"old_path": old, "new_path": f.path, "new_file": f.status == "added",
				"renamed_file": f.status == "renamed", "deleted_file": f.status == "removed", "diff": ""})
		}
		if next > 0 {
			w.Header().Set("X-Next-Page", strconv.Itoa(next))
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet && glGroupMember.MatchString(p):
		m := glGroupMember.FindStringSubmatch(p)
		group, _ := url.PathUnescape(m[1])
		id, _ := strconv.Atoi(m[2])
		var user string
		s.mu.Lock()
		for u, uid := range s.userIDs {
			if uid == id {
				user = u
			}
		}
		s.mu.Unlock()
		lvl := s.groupLevel(group, user, true)
		if user == "" || lvl == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		state := "active"
		if lvl == "pending" {
			state = "awaiting"
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "username": user, "state": state, "access_level": gitlabGroupAccess[lvl]})
	case r.Method == http.MethodGet && glMR.MatchString(p):
		m := glMR.FindStringSubmatch(p)
		repo, _ := s.project(m[1])
		n, _ := strconv.Atoi(m[2])
		pr, ok := s.pull(repo, n)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		state := "opened"
		if pr.Closed {
			state = "closed"
		}
		writeJSON(w, http.StatusOK, map[string]any{"iid": n, "state": state, "title": pr.Title, "sha": pr.SHA,
			"source_branch": pr.Source, "target_branch": pr.Target})
	case r.Method == http.MethodPost && glNotes.MatchString(p):
		m := glNotes.FindStringSubmatch(p)
		repo, _ := s.project(m[1])
		n, _ := strconv.Atoi(m[2])
		var in struct {
			Body string `json:"body"`
		}
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		c := Comment{ID: s.nextID, Provider: "gitlab", Repo: repo, Number: n, Body: in.Body}
		s.nextID++
		s.comments = append(s.comments, c)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "body": c.Body})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found: " + r.Method + " " + p})
	}
}

// decode reads a JSON body and, when status failures are armed, answers
// 502 instead (so clients' retry paths are exercised for real).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	s.mu.Lock()
	fail := s.failures > 0
	if fail {
		s.failures--
	}
	s.mu.Unlock()
	if fail {
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "injected failure"})
		return false
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "bad JSON: " + err.Error()})
		return false
	}
	return true
}

// project resolves a GitLab id: a number registered with AddGitLabProject,
// or a URL-encoded path.
func (s *Server) project(id string) (string, bool) {
	id, _ = url.PathUnescape(id)
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		p, ok := s.projects[n]
		return p, ok
	}
	return id, true
}

// changedFile is one file a pull request changes, as both hosts list it.
type changedFile struct {
	path, status string
	// old is a renamed file's previous path.
	old string
}

// pullFiles lists what registered pull request n of repo changes: the
// diff of its head from where it left its target branch (`git diff
// target...head`), as the hosts compute it. false when there is no such
// pull request or the diff fails.
func (s *Server) pullFiles(repo string, n int) ([]changedFile, bool) {
	pr, ok := s.pull(repo, n)
	if !ok || strings.Contains(repo, "..") || strings.HasPrefix(pr.Target, "-") || strings.HasPrefix(pr.SHA, "-") {
		return nil, false
	}
	dir := filepath.Join(s.ReposDir, repo+".git")
	out, err := exec.Command("git", "--git-dir", dir, "diff", "--name-status", "-M", "-z", "refs/heads/"+pr.Target+"..."+pr.SHA).Output()
	if err != nil {
		return nil, false
	}
	fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	files := []changedFile{}
	for i := 0; i+1 < len(fields); {
		st := fields[i]
		f := changedFile{path: fields[i+1]}
		i += 2
		switch {
		case strings.HasPrefix(st, "R") && i < len(fields):
			f.old, f.path, f.status = f.path, fields[i], "renamed"
			i++
		case st == "A":
			f.status = "added"
		case st == "D":
			f.status = "removed"
		default:
			f.status = "modified"
		}
		files = append(files, f)
	}
	return files, true
}

// paginate cuts files to the page asked for (page, per_page, at most 100
// a page, as both hosts do); next is the next page, 0 for none.
func paginate[T any](r *http.Request, files []T, perDefault int) (page []T, next int) {
	per, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || per <= 0 {
		per = perDefault
	}
	per = min(per, 100)
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n <= 0 {
		n = 1
	}
	from := min((n-1)*per, len(files))
	to := min(from+per, len(files))
	if to < len(files) {
		next = n + 1
	}
	return files[from:to], next
}

// show returns the file at ref in the repository, like `git show ref:path`.
func (s *Server) show(repo, ref, file string) ([]byte, error) {
	if ref == "" {
		ref = "HEAD"
	}
	if strings.Contains(repo, "..") || strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("bad repo or ref")
	}
	dir := filepath.Join(s.ReposDir, repo+".git")
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	cmd := exec.Command("git", "--git-dir", dir, "show", ref+":"+strings.TrimPrefix(file, "/"))
	return cmd.Output()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
