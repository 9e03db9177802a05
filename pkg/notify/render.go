package notify

import (
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/testreport"
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
	if s.Tests != nil {
		line("Tests", testCounts(s.Tests))
		for _, f := range s.Tests.Failures(MaxFailures) {
			b.WriteString("  failed: " + testName(f) + "\n")
		}
	}
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

// stateIcons mark a run's result in the MR comment.
var stateIcons = map[run.State]string{run.Succeeded: "✅", run.Failed: "❌", run.Canceled: "⏹️", run.Running: "⏳", run.Pending: "⏳"}

// Comment is the Markdown of the MR comment (without the marker).
func Comment(s Summary) string {
	var b strings.Builder
	r := s.Run
	fmt.Fprintf(&b, "### %s Slipway CI %s\n\n", strings.TrimSpace(stateIcons[r.State]+" "), r.State.Word())
	details(&b, s)
	b.WriteString("\nComment `/retest` to run it again or `/cancel` to stop it.\n")
	return b.String()
}

// details is one run's part of the MR comment: its table, what went wrong,
// failed tests and log tail.
func details(b *strings.Builder, s Summary) {
	r := s.Run
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(b, "| %s | %s |\n", k, v)
		}
	}
	row("Commit", "`"+r.ShortSHA()+"`")
	if d := s.Duration(); d > 0 {
		row("Duration", d.String())
	}
	if s.FailedTask != "" {
		row("Failed task", "`"+s.FailedTask+"`"+strings.TrimSuffix(" (step `"+s.FailedStep+"`)", " (step ``)"))
	}
	if s.Tests != nil {
		row("Tests", testCounts(s.Tests))
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
	if s.Tests != nil {
		failedTests(b, s.Tests)
	}
	if len(s.LogTail) > 0 {
		fmt.Fprintf(b, "\n<details><summary>Last %d lines of the log</summary>\n\n```\n", len(s.LogTail))
		for _, l := range s.LogTail {
			// A fence inside the log must not end the code block.
			b.WriteString(strings.ReplaceAll(l, "```", "`\u200b``") + "\n")
		}
		b.WriteString("```\n</details>\n")
	}
}

// MaxFailures is how many failed tests a notification lists.
const MaxFailures = 5

// failureLines is how many last lines of a failed test's output the MR
// comment shows.
const failureLines = 15

func testCounts(r *testreport.Report) string {
	c := r.Counts()
	s := fmt.Sprintf("%d failed, %d passed, %d skipped", c.Failed, c.Passed, c.Skipped)
	if r.Truncated {
		s += " (more tests than Slipway keeps)"
	}
	return s
}

func testName(c testreport.Case) string {
	if c.Suite == "" {
		return c.Name
	}
	return c.Suite + " › " + c.Name
}

// failedTests lists the first failures with the end of their output.
func failedTests(b *strings.Builder, r *testreport.Report) {
	fails := r.Failures(MaxFailures)
	if len(fails) == 0 {
		return
	}
	b.WriteString("\n**Failed tests**\n\n")
	for _, f := range fails {
		// Names are the tested code's: no Markdown of theirs gets through.
		fmt.Fprintf(b, "- `%s`\n", strings.ReplaceAll(testName(f), "`", "'"))
		lines := strings.Split(strings.TrimSpace(f.Output), "\n")
		if len(lines) > failureLines {
			lines = lines[len(lines)-failureLines:]
		}
		if f.Output == "" {
			continue
		}
		b.WriteString("  ```\n")
		for _, l := range lines {
			b.WriteString("  " + strings.ReplaceAll(l, "```", "`\u200b``") + "\n")
		}
		b.WriteString("  ```\n")
	}
	if n := r.Counts().Failed; n > len(fails) {
		fmt.Fprintf(b, "- … and %d more on the run page\n", n-len(fails))
	}
}
