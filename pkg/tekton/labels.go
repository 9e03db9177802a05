package tekton

// KindCI is the LabelPipeline value of CI runs (KindDeploy: deploy runs).
const KindCI = "ci"

// Labels and annotations Slipway puts on the PipelineRuns it creates. Label
// values must be valid Kubernetes label values, so anything that may hold
// "/" (repo paths, refs) goes in an annotation.
const (
	// LabelManaged marks a PipelineRun as Slipway's ("true").
	LabelManaged = "slipway.dev/managed"
	// LabelEventID is the store id of the event that started the run.
	LabelEventID = "slipway.dev/event-id"
	// LabelProvider is "github" or "gitlab".
	LabelProvider = "slipway.dev/provider"
	// LabelKind is "push", "tag" or "merge_request".
	LabelKind = "slipway.dev/kind"
	// LabelApp is the app name (image name).
	LabelApp = "slipway.dev/app"
	// LabelRepoHash is a short hash of the repo path, to select one repo's runs.
	LabelRepoHash = "slipway.dev/repo-hash"
	// LabelBranchHash is a short hash of the branch, to find runs superseded
	// by a newer push to the same branch.
	LabelBranchHash = "slipway.dev/branch-hash"
	// LabelMR is the merge request number, to cancel an MR's older runs.
	LabelMR = "slipway.dev/mr"
	// LabelSHA is the full commit SHA.
	LabelSHA = "slipway.dev/sha"
	// LabelPipeline names the pipeline: KindCI or KindDeploy.
	LabelPipeline = "slipway.dev/pipeline"

	// AnnotationRepo is the full repo path ("owner/name").
	AnnotationRepo = "slipway.dev/repo"
	// AnnotationProjectID is GitLab's numeric project id.
	AnnotationProjectID = "slipway.dev/project-id"
	// AnnotationRef is the git ref that was pushed.
	AnnotationRef = "slipway.dev/ref"
	// AnnotationDelivery is the webhook delivery id.
	AnnotationDelivery = "slipway.dev/delivery"
	// AnnotationCloneURL is the repository's clone URL.
	AnnotationCloneURL = "slipway.dev/clone-url"
	// AnnotationSourceBranch is a merge request's source branch, the ref
	// GitLab attaches MR pipeline statuses to (set only on MR runs).
	AnnotationSourceBranch = "slipway.dev/source-branch"
	// AnnotationAuthorEmail is the commit author's email, for failure
	// notifications (set by the dispatcher when the payload had one).
	AnnotationAuthorEmail = "slipway.dev/author-email"
	// AnnotationApprovedBy names the trusted user whose /ok-to-test or
	// /retest started a merge request's run.
	AnnotationApprovedBy = "slipway.dev/approved-by"
	// AnnotationMonorepo is "true" on the run of one app of a monorepo
	// (.slipway.yaml apps:): its commit status context is the app's own
	// (StatusContext).
	AnnotationMonorepo = "slipway.dev/monorepo"
	// LabelTrust is the run's trust level: TrustUntrusted for merge
	// requests (sandboxed image, cache and credentials), else TrustTrusted.
	LabelTrust = "slipway.dev/trust"
)
