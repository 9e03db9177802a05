package fakescm

// GitLab's project, branches, commit and merge request list endpoints,
// read from the served repositories: what Slipway's delivery recovery asks
// GitLab (which keeps no delivery log) to find the heads it has no event
// for.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// firstProjectID is where the ids the fake gives projects asked for by
// path start: far from the ids tests register (AddGitLabProject).
const firstProjectID = 50_000_000

// gitlabProject resolves a GitLab project id (a registered number or a
// URL-encoded path) to an existing repository's path and its number. A
// project asked for by path gets a number the first time, so that what
// the API answered with (the project's id) leads back to it.
func (s *Server) gitlabProject(id string) (string, int64, bool) {
	path, ok := s.project(id)
	if !ok || strings.Contains(path, "..") || strings.HasPrefix(path, "-") {
		return "", 0, false
	}
	if _, err := os.Stat(filepath.Join(s.ReposDir, path+".git")); err != nil {
		return "", 0, false
	}
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return path, n, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found int64
	for n, p := range s.projects {
		if p == path && (found == 0 || n < found) {
			found = n
		}
	}
	if found == 0 {
		found = firstProjectID + int64(len(s.projects))
		for s.projects[found] != "" {
			found++
		}
		s.projects[found] = path
	}
	return path, found, true
}

// commitInfo is a commit as git tells it.
type commitInfo struct {
	sha, authorName, authorEmail, committerName, committerEmail, message string
	authored, committed                                                  time.Time
	parents                                                              []string
}

// commitFormat and parseCommit: the fields of a commit, NUL-separated,
// in for-each-ref's %(…) atoms; logFormat the same in git log's.
const (
	refFormat = "%(refname:strip=2)%00%(objectname)%00%(authorname)%00%(authoremail)%00%(authordate:iso-strict)%00" +
		"%(committername)%00%(committeremail)%00%(committerdate:iso-strict)%00%(parent)%00%(contents)%1e"
	logFormat = "%H%x00%an%x00<%ae>%x00%aI%x00%cn%x00<%ce>%x00%cI%x00%P%x00%B"
)

func parseCommit(f []string) (commitInfo, error) {
	if len(f) != 9 {
		return commitInfo{}, fmt.Errorf("git gave %d commit fields, want 9", len(f))
	}
	c := commitInfo{sha: f[0], authorName: f[1], authorEmail: strings.Trim(f[2], "<>"),
		committerName: f[4], committerEmail: strings.Trim(f[5], "<>"), parents: strings.Fields(f[7]), message: f[8]}
	var err error
	if c.authored, err = time.Parse(time.RFC3339, f[3]); err != nil {
		return commitInfo{}, fmt.Errorf("author date: %w", err)
	}
	if c.committed, err = time.Parse(time.RFC3339, f[6]); err != nil {
		return commitInfo{}, fmt.Errorf("committer date: %w", err)
	}
	return c, nil
}

// branchHead is a branch and its head commit.
type branchHead struct {
	name   string
	commit commitInfo
}

// branches lists repo's branches sorted by name, as GitLab does.
func (s *Server) branches(repo string) ([]branchHead, error) {
	out, err := exec.Command("git", "--git-dir", filepath.Join(s.ReposDir, repo+".git"), "for-each-ref",
		"--sort=refname", "--format="+refFormat, "refs/heads/").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the branches of %s: %w", repo, err)
	}
	var bs []branchHead
	for _, rec := range strings.Split(string(out), "\x1e") {
		rec = strings.TrimPrefix(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.Split(rec, "\x00")
		if len(f) != 10 {
			return nil, fmt.Errorf("branches of %s: git gave %d fields, want 10", repo, len(f))
		}
		c, err := parseCommit(f[1:])
		if err != nil {
			return nil, fmt.Errorf("branch %s of %s: %w", f[0], repo, err)
		}
		bs = append(bs, branchHead{name: f[0], commit: c})
	}
	return bs, nil
}

// commit reads one commit of repo by SHA (or any revision).
func (s *Server) commit(repo, rev string) (commitInfo, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return commitInfo{}, fmt.Errorf("bad revision %q", rev)
	}
	out, err := exec.Command("git", "--git-dir", filepath.Join(s.ReposDir, repo+".git"), "log", "-1",
		"--format="+logFormat, rev+"^{commit}", "--").Output()
	if err != nil {
		return commitInfo{}, fmt.Errorf("commit %s of %s: %w", rev, repo, err)
	}
	return parseCommit(strings.Split(strings.TrimSuffix(string(out), "\n"), "\x00"))
}

// defaultBranch is where the bare repository's HEAD points.
func (s *Server) defaultBranch(repo string) string {
	out, err := exec.Command("git", "--git-dir", filepath.Join(s.ReposDir, repo+".git"), "symbolic-ref", "--short", "HEAD").Output()
	if err != nil {
		return "main"
	}
	return strings.TrimSpace(string(out))
}

// --- the API ----------------------------------------------------------------

func (s *Server) headRoutes(mux *http.ServeMux) {
	const api = "/gitlab/api/v4/projects/{id}"
	mux.HandleFunc("GET "+api, s.glProject(func(w http.ResponseWriter, r *http.Request, repo string, pid int64) {
		base := "http://" + r.Host
		name := repo[strings.LastIndex(repo, "/")+1:]
		writeJSON(w, http.StatusOK, map[string]any{
			"id": pid, "name": name, "path": name, "path_with_namespace": repo,
			"name_with_namespace": strings.ReplaceAll(repo, "/", " / "), "default_branch": s.defaultBranch(repo),
			"visibility": "private", "http_url_to_repo": base + "/git/" + repo + ".git",
			"web_url": base + "/" + repo, "ssh_url_to_repo": "git@" + r.Host + ":" + repo + ".git",
		})
	}))
	mux.HandleFunc("GET "+api+"/repository/branches", s.glProject(func(w http.ResponseWriter, r *http.Request, repo string, pid int64) {
		bs, err := s.branches(repo)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
			return
		}
		def := s.defaultBranch(repo)
		page := glPage(w, r, bs)
		out := make([]map[string]any, 0, len(page))
		for _, b := range page {
			out = append(out, map[string]any{
				"name": b.name, "commit": commitJSON(r, repo, pid, b.commit), "merged": false,
				"protected": b.name == def, "default": b.name == def, "developers_can_push": true,
				"developers_can_merge": true, "can_push": true, "web_url": "http://" + r.Host + "/" + repo + "/-/tree/" + b.name,
			})
		}
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET "+api+"/repository/commits/{sha}", s.glProject(func(w http.ResponseWriter, r *http.Request, repo string, pid int64) {
		c, err := s.commit(repo, r.PathValue("sha"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Commit Not Found"})
			return
		}
		writeJSON(w, http.StatusOK, commitJSON(r, repo, pid, c))
	}))
	mux.HandleFunc("GET "+api+"/merge_requests", s.glProject(s.listMergeRequests))
}

// glProject resolves the {id} of a GitLab project endpoint, answering 401
// without a token and 404 for an unknown project, as GitLab does.
func (s *Server) glProject(next func(w http.ResponseWriter, r *http.Request, repo string, pid int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("PRIVATE-TOKEN") == "" && r.Header.Get("Authorization") == "" && r.Header.Get("JOB-TOKEN") == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
			return
		}
		repo, pid, ok := s.gitlabProject(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
			return
		}
		next(w, r, repo, pid)
	}
}

// listMergeRequests answers GET /projects/:id/merge_requests from the
// registered pull requests of the project: state, updated_after,
// updated_before, order_by, sort and pagination as GitLab reads them.
func (s *Server) listMergeRequests(w http.ResponseWriter, r *http.Request, repo string, pid int64) {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "", "all", "opened", "closed", "merged", "locked":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "state does not have a valid value"})
		return
	}
	var bounds [2]time.Time
	for i, name := range []string{"updated_after", "updated_before"} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": name + " is invalid"})
				return
			}
			bounds[i] = t
		}
	}
	orderBy, sort := q.Get("order_by"), q.Get("sort")
	if orderBy != "" && orderBy != "created_at" && orderBy != "updated_at" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "order_by does not have a valid value"})
		return
	}
	if sort != "" && sort != "asc" && sort != "desc" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sort does not have a valid value"})
		return
	}
	var mrs []PullRequest
	s.mu.Lock()
	for _, pr := range s.pulls {
		st := "opened"
		if pr.Closed {
			st = "closed"
		}
		if pr.Repo != repo || (state != "" && state != "all" && state != st) ||
			(!bounds[0].IsZero() && pr.UpdatedAt.Before(bounds[0])) || (!bounds[1].IsZero() && pr.UpdatedAt.After(bounds[1])) {
			continue
		}
		mrs = append(mrs, pr)
	}
	s.mu.Unlock()
	key := func(pr PullRequest) time.Time {
		if orderBy == "updated_at" {
			return pr.UpdatedAt
		}
		return pr.CreatedAt
	}
	slices.SortFunc(mrs, func(a, b PullRequest) int {
		c := key(a).Compare(key(b))
		if c == 0 {
			c = a.Number - b.Number
		}
		if sort != "asc" {
			c = -c
		}
		return c
	})
	page := glPage(w, r, mrs)
	out := make([]map[string]any, 0, len(page))
	for _, pr := range page {
		st := "opened"
		if pr.Closed {
			st = "closed"
		}
		out = append(out, map[string]any{
			"id": pid*1000 + int64(pr.Number), "iid": pr.Number, "project_id": pid, "title": pr.Title, "state": st,
			"created_at": pr.CreatedAt, "updated_at": pr.UpdatedAt, "source_branch": pr.Source, "target_branch": pr.Target,
			"source_project_id": pid, "target_project_id": pid, "sha": pr.SHA, "draft": false,
			"author":  map[string]any{"id": s.userID(pr.Author), "username": pr.Author, "name": pr.Author, "state": "active"},
			"web_url": "http://" + r.Host + "/" + repo + "/-/merge_requests/" + strconv.Itoa(pr.Number),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// userID is user's GitLab id, made on first mention.
func (s *Server) userID(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.userIDs[user]; !ok {
		s.userIDs[user] = 100 + len(s.userIDs)
	}
	return s.userIDs[user]
}

// commitJSON is c as GitLab's commit API shows it.
func commitJSON(r *http.Request, repo string, pid int64, c commitInfo) map[string]any {
	title, _, _ := strings.Cut(c.message, "\n")
	parents := c.parents
	if parents == nil {
		parents = []string{}
	}
	return map[string]any{
		"id": c.sha, "short_id": c.sha[:min(8, len(c.sha))], "title": title, "message": c.message,
		"author_name": c.authorName, "author_email": c.authorEmail, "authored_date": c.authored,
		"committer_name": c.committerName, "committer_email": c.committerEmail, "committed_date": c.committed,
		"created_at": c.committed, "parent_ids": parents, "project_id": pid,
		"web_url": "http://" + r.Host + "/" + repo + "/-/commit/" + c.sha,
	}
}

// glPage cuts items to the page asked for and sets GitLab's pagination
// headers (X-Page, X-Per-Page, X-Total, X-Total-Pages, X-Next-Page,
// X-Prev-Page).
func glPage[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	page, next := paginate(r, items, 20)
	per, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || per <= 0 {
		per = 20
	}
	per = min(per, 100)
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n <= 0 {
		n = 1
	}
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(n))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(len(items)))
	h.Set("X-Total-Pages", strconv.Itoa(max(1, (len(items)+per-1)/per)))
	h.Set("X-Next-Page", "")
	if next > 0 {
		h.Set("X-Next-Page", strconv.Itoa(next))
	}
	h.Set("X-Prev-Page", "")
	if n > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(n-1))
	}
	return page
}
