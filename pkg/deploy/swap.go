package deploy

import (
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// swapImage sets image on c. When the new image is of another repository
// than the one c ran (compared without the registry, which a promotion
// changes), c's command and args go too: they were written for the other
// image — a placeholder's `sleep 1000000` would otherwise be run in an
// image that has no sleep — so the new image's own entrypoint runs. A new
// digest of the same repository keeps them: they are the app's own.
func swapImage(c *corev1.Container, image string) {
	if repoPath(c.Image) != repoPath(image) {
		c.Command, c.Args = nil, nil
	}
	c.Image = image
}

// repoPath is the repository of ref without its registry ("apps/hello"),
// or ref itself when it does not parse.
func repoPath(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ref
	}
	return r.Context().RepositoryStr()
}
