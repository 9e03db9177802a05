package release

// Retirement is what deleting an app did (or, a dry run, would do) in
// each cluster of each environment: the deploy pods' own lists.
type Retirement struct {
	App    string
	DryRun bool
	// Clusters are in the order of the environments, then their clusters.
	Clusters []RetiredCluster
}

// RetiredCluster is one cluster's part of a Retirement.
type RetiredCluster struct {
	Env, Cluster, Namespace string
	// Objects are "kind/name", as the deploy pod reported them; the last
	// may be "… and N more" when the list outgrew the Task result.
	Objects []string
	// Error is why this cluster's run failed ("" = it succeeded).
	Error string
}

// Failed reports whether a cluster's run failed.
func (r Retirement) Failed() bool {
	for _, c := range r.Clusters {
		if c.Error != "" {
			return true
		}
	}
	return false
}

// RemovedState is where an app removed from the release config stands.
type RemovedState string

const (
	// RemovedPending waits for an admin (retireRemovedApps is off).
	RemovedPending RemovedState = "pending"
	// RemovedRetiring: its delete-app runs are under way.
	RemovedRetiring RemovedState = "retiring"
	// RemovedFailed: a delete-app run failed; the next start tries again.
	RemovedFailed RemovedState = "failed"
)

// RemovedApp is an app with deployments recorded that the release config
// no longer lists.
type RemovedApp struct {
	App string
	// Envs it was deployed to, sorted.
	Envs  []string
	State RemovedState
	// Error is why its retirement failed.
	Error string
}

// OrphanReport lists, per cluster and namespace of every environment,
// the objects labelled for an app that the release config does not
// claim; each object is "kind/name (app APP)".
type OrphanReport struct {
	Clusters []RetiredCluster
}
