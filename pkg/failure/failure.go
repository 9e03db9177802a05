// Package failure turns what Tekton and Kubernetes say about a failed run
// into what a developer needs: which step failed, why, and how to fix it.
// The short form fits a commit status (140 characters); the full form is
// for the run page and the merge request comment.
package failure

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
)

// MaxShort is GitHub's limit on a commit status description.
const MaxShort = 140

// Causes of a failure.
const (
	CauseImageNotFound     = "image-not-found"
	CauseImageUnauthorized = "image-unauthorized"
	CauseImagePull         = "image-pull"
	CauseOutOfMemory       = "out-of-memory"
	CauseTimeout           = "timeout"
	CauseEvicted           = "evicted"
	CauseVolume            = "volume-unbound"
	CauseVersion           = "version-not-offered"
	CauseBaseImageMissing  = "base-image-missing"
	CauseExit              = "exit-code"
	CauseUnknown           = "unknown"
)

// Explanation is a failure, told for people.
type Explanation struct {
	// Task is the pipeline task that failed (unit-test), Step its step (test).
	Task, Step string
	Cause      string
	// Short is the commit status description: step and cause, ≤ MaxShort.
	Short string
	// Detail says what happened, with the evidence (image, limit, log lines).
	Detail string
	// Fix says what to change.
	Fix string
}

// Full is the explanation as one text: what happened, then the fix.
func (e Explanation) Full() string {
	if e.Fix == "" {
		return e.Detail
	}
	return e.Detail + "\n\nHow to fix it: " + e.Fix
}

// LogTail returns the last lines of a TaskRun's step's log (step is the
// step's name, without the step- prefix); nil when unknown.
type LogTail func(ctx context.Context, tr *pipelinev1.TaskRun, step string) []string

// Input is what is known about a failed run. Only PipelineRun is required.
type Input struct {
	PipelineRun *pipelinev1.PipelineRun
	// TaskRun is the first failed TaskRun, Task its pipeline task name.
	TaskRun *pipelinev1.TaskRun
	Task    string
	// Pod is the TaskRun's pod, when still there: limits, eviction,
	// scheduling messages.
	Pod *corev1.Pod
	// Logs gives a step's last log lines; may be nil.
	Logs LogTail
}

var (
	rePullStep     = regexp.MustCompile(`the (?:step|sidecar) "([^"]+)" in TaskRun "[^"]*" failed to pull the image "([^"]*)"`)
	rePullingImage = regexp.MustCompile(`(?:pulling|pull) image "([^"]+)"`)
	reExit         = regexp.MustCompile(`"(?:step-)?([^"]+)" exited with code (\d+)(?::\s*(\S.*))?`)
	reStepTimeout  = regexp.MustCompile(`"(?:step-)?([^"]+)" exited because the step exceeded the specified timeout limit`)
	reWithin       = regexp.MustCompile(`(TaskRun|PipelineRun) "[^"]*" failed (?:due to tasks failed )?to finish within "([^"]+)"`)
	reVersion      = regexp.MustCompile(`(\S+): the repository asks for (.+?) \(([^()]+)\), which this platform does not offer; offered: ([^()]+?) \(default ([^()]+)\)`)
	reBaseImage    = regexp.MustCompile(`image (\S+) does not exist(?:; the repository has: ([^()]*?))?(?: \(the repository has no tags\))?(?:$|\s\(|;|\n)`)
)

// Explain reads the run and returns its explanation. It never fails: what
// it cannot classify is reported with Tekton's own message.
func Explain(ctx context.Context, in Input) Explanation {
	e := Explanation{Task: in.Task, Cause: CauseUnknown}
	prCond := condition(in.PipelineRun)
	var trCond *apis.Condition
	if in.TaskRun != nil {
		trCond = in.TaskRun.Status.GetCondition(apis.ConditionSucceeded)
	}
	reason, msg := "", ""
	if prCond != nil {
		reason, msg = prCond.Reason, prCond.Message
	}
	// The TaskRun's word is more precise, except when the PipelineRun timed
	// out: then the TaskRun only says it was cancelled for it.
	if trCond != nil && trCond.IsFalse() && reason != string(pipelinev1.PipelineRunReasonTimedOut) {
		reason, msg = trCond.Reason, trCond.Message
	}

	switch {
	case reason == string(pipelinev1.TaskRunReasonImagePullFailed) || waitingPull(in.TaskRun) != nil:
		explainPull(&e, in, msg)
	case reason == string(pipelinev1.TaskRunReasonStepOOM) || reason == string(pipelinev1.TaskRunReasonInitContainerOOM) ||
		reason == string(pipelinev1.TaskRunReasonSidecarOOM) || strings.Contains(msg, ": OOMKilled") || oomStep(in.TaskRun) != "":
		explainOOM(&e, in, msg)
	case reason == string(pipelinev1.TaskRunReasonPodEvicted) || (in.Pod != nil && in.Pod.Status.Reason == "Evicted"):
		explainEvicted(&e, in, msg)
	case unboundVolume(in, msg) != "":
		explainVolume(&e, unboundVolume(in, msg))
	case reason == string(pipelinev1.TaskRunReasonTimedOut) || reason == string(pipelinev1.PipelineRunReasonTimedOut) ||
		reStepTimeout.MatchString(msg) || reWithin.MatchString(msg):
		explainTimeout(&e, in, reason, msg)
	case reExit.MatchString(msg):
		explainExit(ctx, &e, in, msg)
	default:
		e.Detail = strings.TrimSpace(msg)
		if e.Detail == "" {
			e.Detail = "the run failed without a message from Tekton"
		}
		e.Short = short(e.Task, "", e.Detail)
	}
	return e
}

func condition(pr *pipelinev1.PipelineRun) *apis.Condition {
	if pr == nil {
		return nil
	}
	return pr.Status.GetCondition(apis.ConditionSucceeded)
}

// waitingPull is the first step still waiting on its image.
func waitingPull(tr *pipelinev1.TaskRun) *pipelinev1.StepState {
	if tr == nil {
		return nil
	}
	for i, s := range tr.Status.Steps {
		if w := s.Waiting; w != nil && (w.Reason == "ImagePullBackOff" || w.Reason == "ErrImagePull" || w.Reason == "InvalidImageName") {
			return &tr.Status.Steps[i]
		}
	}
	return nil
}

// stepImage finds a step's image where Kubernetes or Tekton recorded it.
func stepImage(in Input, step string) string {
	if in.Pod != nil {
		for _, c := range in.Pod.Spec.Containers {
			if c.Name == "step-"+step {
				return c.Image
			}
		}
	}
	if in.TaskRun != nil && in.TaskRun.Status.TaskSpec != nil {
		for _, s := range in.TaskRun.Status.TaskSpec.Steps {
			if s.Name == step && !strings.Contains(s.Image, "$(") {
				return s.Image
			}
		}
	}
	return ""
}

func explainPull(e *Explanation, in Input, msg string) {
	image, why := "", msg
	if m := rePullStep.FindStringSubmatch(msg); m != nil {
		e.Step, image = m[1], m[2]
	}
	if s := waitingPull(in.TaskRun); s != nil {
		if e.Step == "" {
			e.Step = s.Name
		}
		why = s.Waiting.Message + " " + why
	}
	if image == "" {
		// Tekton quotes the image ID, empty until the runtime resolved one;
		// the kubelet's message and the pod spec name the reference.
		if m := rePullingImage.FindStringSubmatch(why); m != nil {
			image = m[1]
		} else {
			image = stepImage(in, e.Step)
		}
	}
	if image == "" {
		image = "(unknown image)"
	}
	lower := strings.ToLower(why)
	switch {
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "401") || strings.Contains(lower, "403") ||
		strings.Contains(lower, "denied") || strings.Contains(lower, "authorization failed") || strings.Contains(lower, "forbidden"):
		e.Cause = CauseImageUnauthorized
		e.Short = short(e.Task, e.Step, "image "+image+": registry refused access")
		e.Detail = fmt.Sprintf("The step %q could not pull %s: the registry refused access.\n\nKubernetes said: %s", e.Step, image, strings.TrimSpace(why))
		e.Fix = "give the pipeline's service account an imagePullSecret for that registry (or make the repository readable), then push again."
	case strings.Contains(lower, "not found") || strings.Contains(lower, "manifest unknown") || strings.Contains(lower, "notfound") || strings.Contains(lower, "name unknown"):
		e.Cause = CauseImageNotFound
		e.Short = short(e.Task, e.Step, "image "+image+" not found")
		e.Detail = fmt.Sprintf("The step %q could not start: the image %s does not exist in its registry.\n\nKubernetes said: %s", e.Step, image, strings.TrimSpace(why))
		e.Fix = "if it is a language base image, pin a version the platform offers (build.version in .slipway.yaml) " +
			"or ask the platform team to publish it (the languages configuration must only offer images the base registry has; `slipway render --check` tells which); " +
			"if it is your own image, check its name and tag."
	default:
		e.Cause = CauseImagePull
		e.Short = short(e.Task, e.Step, "cannot pull image "+image)
		e.Detail = fmt.Sprintf("The step %q could not pull %s.\n\nKubernetes said: %s", e.Step, image, strings.TrimSpace(why))
		e.Fix = "check that the registry is reachable from the cluster's nodes and the reference is right, then push again."
	}
}

// oomStep is the first step the kernel killed for memory.
func oomStep(tr *pipelinev1.TaskRun) string {
	if tr == nil {
		return ""
	}
	for _, s := range tr.Status.Steps {
		if t := s.Terminated; t != nil && t.Reason == "OOMKilled" {
			return s.Name
		}
	}
	return ""
}

// memoryLimit is the step's memory limit, "" when none is known.
func memoryLimit(in Input, step string) string {
	if in.Pod != nil {
		for _, c := range in.Pod.Spec.Containers {
			if c.Name == "step-"+step {
				if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
					return q.String()
				}
			}
		}
	}
	if in.TaskRun != nil {
		if ts := in.TaskRun.Status.TaskSpec; ts != nil {
			for _, s := range ts.Steps {
				if s.Name == step {
					if q, ok := s.ComputeResources.Limits[corev1.ResourceMemory]; ok {
						return q.String()
					}
				}
			}
		}
		for _, s := range in.TaskRun.Spec.StepSpecs {
			if s.Name == step {
				if q, ok := s.ComputeResources.Limits[corev1.ResourceMemory]; ok {
					return q.String()
				}
			}
		}
	}
	return ""
}

func explainOOM(e *Explanation, in Input, msg string) {
	e.Cause = CauseOutOfMemory
	e.Step = oomStep(in.TaskRun)
	if e.Step == "" {
		if m := reExit.FindStringSubmatch(msg); m != nil {
			e.Step = m[1]
		}
	}
	limit := memoryLimit(in, e.Step)
	what := "out of memory"
	if limit != "" {
		what += " (limit " + limit + ")"
	}
	e.Short = short(e.Task, e.Step, what)
	e.Detail = fmt.Sprintf("The step %q ran out of memory: the kernel killed it (OOMKilled, exit code 137).", e.Step)
	if limit != "" {
		e.Detail += " Its memory limit is " + limit + "."
	}
	if msg != "" {
		e.Detail += "\n\nTekton said: " + msg
	}
	e.Fix = "find what allocates so much (a test that loads too much data, a leak, a JVM or Node heap sized beyond the limit: set -Xmx or --max-old-space-size below it), " +
		"or ask the platform team to raise the step's memory limit (a LimitRange in the builds namespace)."
}

func explainEvicted(e *Explanation, in Input, msg string) {
	e.Cause = CauseEvicted
	if in.Pod != nil && in.Pod.Status.Message != "" {
		msg = in.Pod.Status.Message
	}
	res := "node pressure"
	if m := regexp.MustCompile(`low on resource: ([a-z-]+)`).FindStringSubmatch(msg); m != nil {
		res = "node low on " + m[1]
	} else if strings.Contains(msg, "ephemeral local storage usage exceeds") || strings.Contains(msg, "ephemeral-storage") {
		res = "ephemeral storage limit exceeded"
	}
	e.Short = short(e.Task, "", "pod evicted: "+res)
	e.Detail = "Kubernetes evicted the task's pod before it finished.\n\nKubernetes said: " + strings.TrimSpace(msg)
	e.Fix = "push again (an eviction for node pressure is usually transient); if the build writes a lot to disk, make it write less " +
		"or ask the platform team for larger ephemeral storage or workspace volumes."
}

// unboundVolume is the scheduler's message when the run's workspace
// volume never bound, "" otherwise.
func unboundVolume(in Input, msg string) string {
	for _, m := range []string{msg, podScheduling(in.Pod)} {
		if strings.Contains(m, "unbound immediate PersistentVolumeClaims") || strings.Contains(m, "unbound PersistentVolumeClaims") ||
			strings.Contains(m, "persistentvolumeclaim") && strings.Contains(m, "not found") {
			return m
		}
	}
	return ""
}

func podScheduling(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.Message
		}
	}
	return ""
}

func explainVolume(e *Explanation, msg string) {
	e.Cause = CauseVolume
	e.Short = short(e.Task, "", "workspace volume never bound (check the storage class)")
	e.Detail = "The task's pod was never scheduled: its workspace volume (a PersistentVolumeClaim per run) was not bound.\n\nKubernetes said: " + strings.TrimSpace(msg)
	e.Fix = "this is the platform's side: Slipway's storage-class setting must name a storage class that provisions volumes " +
		"(or the cluster needs a default one); `kubectl get pvc -n <builds namespace>` shows the claim and why it waits."
}

func explainTimeout(e *Explanation, in Input, reason, msg string) {
	e.Cause = CauseTimeout
	limit, which := "", "the pipeline timeout"
	if m := reStepTimeout.FindStringSubmatch(msg); m != nil {
		e.Step, which = m[1], "the step's timeout"
	}
	if m := reWithin.FindStringSubmatch(msg); m != nil {
		limit = m[2]
		switch {
		case strings.Contains(msg, "due to tasks failed"):
			which = "the pipeline's tasks timeout"
		case m[1] == "TaskRun":
			which = "the task's timeout"
		}
	}
	if reason == string(pipelinev1.PipelineRunReasonTimedOut) && limit == "" {
		if pr := in.PipelineRun; pr != nil && pr.Spec.Timeouts != nil && pr.Spec.Timeouts.Pipeline != nil {
			limit = pr.Spec.Timeouts.Pipeline.Duration.String()
		}
	}
	what := "timed out"
	if limit != "" {
		what += " after " + limit
	}
	what += " (" + which + ")"
	e.Short = short(e.Task, e.Step, what)
	e.Detail = fmt.Sprintf("The run was stopped by %s", which)
	if limit != "" {
		e.Detail += " of " + limit
	}
	e.Detail += ".\n\nTekton said: " + strings.TrimSpace(msg)
	e.Fix = "make the tests or the build faster (a test waiting on a network service that is not there is the usual cause), " +
		"or ask the platform team to raise Slipway's pipeline-timeout setting."
}

func explainExit(ctx context.Context, e *Explanation, in Input, msg string) {
	m := reExit.FindStringSubmatch(msg)
	e.Cause, e.Step = CauseExit, m[1]
	code := m[2]
	var raw []string
	if in.Logs != nil {
		raw = in.Logs(ctx, in.TaskRun, e.Step)
	}
	lines := Meaningful(raw, 5)
	// The Dockerfile step's own errors say everything already.
	for _, l := range raw {
		if v := reVersion.FindStringSubmatch(l); v != nil {
			e.Cause = CauseVersion
			e.Short = short(e.Task, e.Step, fmt.Sprintf("%s %s (%s) not offered; offered: %s", v[1], v[2], v[3], v[4]))
			e.Detail = cliError(l)
			e.Fix = "pin an offered version (build.version in .slipway.yaml, or the project file named above), " +
				"or ask the platform team to offer the version (Slipway's languages configuration and a base image for it)."
			return
		}
		if b := reBaseImage.FindStringSubmatch(l); b != nil {
			e.Cause = CauseBaseImageMissing
			has := "no tags"
			if b[2] != "" {
				has = "has " + b[2]
			}
			e.Short = short(e.Task, e.Step, fmt.Sprintf("base image %s missing (%s)", b[1], has))
			e.Detail = cliError(l)
			e.Fix = "the platform offers a version whose base image is not in the base registry: pin another version in .slipway.yaml, " +
				"or ask the platform team to publish the image or stop offering the version."
			return
		}
	}
	what := "exited with code " + code
	if len(lines) > 0 {
		// The first error line is the cause; later ones summarise it
		// ("FAIL pkg", "failed to solve: process ... did not complete").
		what += ": " + lines[0]
	}
	e.Short = short(e.Task, e.Step, what)
	e.Detail = fmt.Sprintf("The step %q exited with code %s.", e.Step, code)
	if len(lines) > 0 {
		e.Detail += "\n\nIts last lines:\n    " + strings.Join(lines, "\n    ")
	}
	e.Fix = fixForTask(e.Task)
}

// cliError is a CLI's error line without its "slipway: " (or cobra's
// "Error: ") prefix.
func cliError(l string) string {
	l = strings.TrimSpace(l)
	for _, p := range []string{"slipway: ", "Error: "} {
		l = strings.TrimPrefix(l, p)
	}
	return l
}

func fixForTask(task string) string {
	switch task {
	case "unit-test":
		return "run the tests locally (`slipway render --print-test-command .` prints the exact command) and fix the failing ones."
	case "generate-dockerfile":
		return "run `slipway render --check .` in the repository: it prints the same error locally."
	case "build-push":
		return "build locally with the generated Dockerfile (`slipway render -o .slipway/Dockerfile .`) and fix the failing instruction."
	case "clone":
		return "check that the repository and commit are reachable with the credentials Slipway has."
	}
	return "read the step's log on the run page."
}

var (
	noise = regexp.MustCompile(`^(\+ |#\d+ (DONE|CACHED|\[internal\])|Usage:|\s+--?[a-zA-Z][\w-]*[ ,=]|Flags:|Global Flags:|Use ".* --help")`)
	// buildkitPrefix is BuildKit's "#12 4.1 " before a build step's output.
	buildkitPrefix = regexp.MustCompile(`^#\d+ \d+(\.\d+)? `)
)

// Meaningful keeps the last n lines that say something: no blank lines,
// shell traces, progress or cobra usage; error lines are kept first.
func Meaningful(lines []string, n int) []string {
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, " \r\t")
		if strings.TrimSpace(l) == "" || noise.MatchString(l) {
			continue
		}
		out = append(out, buildkitPrefix.ReplaceAllString(l, ""))
	}
	// Prefer the error lines: the last line is often a summary ("npm ERR! A
	// complete log...") while the cause is a few lines up.
	var errs []string
	for _, l := range out {
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "fail") || strings.Contains(low, "panic") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		out = errs
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// short builds "task step: what", cut to MaxShort.
func short(task, step, what string) string {
	where := task
	if step != "" && step != task {
		where += " (step " + step + ")"
	}
	s := strings.Join(strings.Fields(what), " ")
	if where != "" {
		s = where + ": " + s
	}
	if utf8.RuneCountInString(s) <= MaxShort {
		return s
	}
	r := []rune(s)
	return string(r[:MaxShort-1]) + "…"
}
