package notify

import (
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// where names what was built: "!12", "#12", a branch or a tag.
func where(r run.Run) string {
	if r.Kind == event.MergeRequest && r.MRNumber > 0 {
		if r.Provider == event.GitLab {
			return fmt.Sprintf("!%d", r.MRNumber)
		}
		return fmt.Sprintf("#%d", r.MRNumber)
	}
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if s, ok := strings.CutPrefix(r.Ref, p); ok {
			return s
		}
	}
	return r.Ref
}

// Subject is the one-line headline: "[slipway] acme/web main failed (1a2b3c4d)".
func Subject(s Summary) string {
	return fmt.Sprintf("[slipway] %s %s %s (%s)", s.Run.Repo, where(s.Run), s.Run.State.Word(), s.Run.ShortSHA())
}

// Text is the plain-text body of an email.
func Text(s Summary) string {
	var b strings.Builder
	r := s.Run
	fmt.Fprintf(&b, "The pipeline for %s %s at %s %s.\n\n", r.Repo, where(r), r.ShortSHA(), r.State.Word())
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-9s %s\n", k+":", v)
		}
	}
	line("Run", r.ID)
	line("Commit", r.SHA)
	if d := s.Duration(); d > 0 {
		line("Duration", d.String())
	}
	line("Task", s.FailedTask)
	line("Step", s.FailedStep)
	if r.ImageDigest != "" {
		line("Image", strings.TrimSuffix(r.ImageURL+"@"+r.ImageDigest, "@"))
	}
	line("Message", r.Message)
	if len(s.LogTail) > 0 {
		fmt.Fprintf(&b, "\nLast %d lines of the log:\n\n", len(s.LogTail))
		for _, l := range s.LogTail {
			b.WriteString("    " + l + "\n")
		}
	}
	if s.Problem != "" {
		fmt.Fprintf(&b, "\n(Some details are missing: %s.)\n", s.Problem)
	}
	if s.Link != "" {
		fmt.Fprintf(&b, "\nDetails and full logs: %s\n", s.Link)
	}
	return b.String()
}

// Comment is the Markdown of the MR comment (without the marker).
func Comment(s Summary) string {
	var b strings.Builder
	r := s.Run
	icon := map[run.State]string{run.Succeeded: "✅", run.Failed: "❌", run.Canceled: "⏹️"}[r.State]
	fmt.Fprintf(&b, "### %s Slipway CI %s\n\n", strings.TrimSpace(icon+" "), r.State.Word())
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, v)
		}
	}
	row("Commit", "`"+r.ShortSHA()+"`")
	if d := s.Duration(); d > 0 {
		row("Duration", d.String())
	}
	if s.FailedTask != "" {
		row("Failed task", "`"+s.FailedTask+"`"+strings.TrimSuffix(" (step `"+s.FailedStep+"`)", " (step ``)"))
	}
	if r.ImageDigest != "" {
		row("Image", "`"+strings.TrimPrefix(r.ImageURL+"@"+r.ImageDigest, "@")+"`")
	}
	if s.Link != "" {
		row("Run", "["+r.ID+"]("+s.Link+")")
	} else {
		row("Run", "`"+r.ID+"`")
	}
	if r.State == run.Failed && strings.TrimSpace(r.Message) != "" {
		// What went wrong and how to fix it (pkg/failure, via the reporter).
		b.WriteString("\n" + strings.TrimSpace(r.Message) + "\n")
	}
	if len(s.LogTail) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>Last %d lines of the log</summary>\n\n```\n", len(s.LogTail))
		for _, l := range s.LogTail {
			// A fence inside the log must not end the code block.
			b.WriteString(strings.ReplaceAll(l, "```", "`\u200b``") + "\n")
		}
		b.WriteString("```\n</details>\n")
	}
	b.WriteString("\nComment `/retest` to run it again or `/cancel` to stop it.\n")
	return b.String()
}
