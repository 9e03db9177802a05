// Package abuse is a black-box suite against the real `slipway serve`
// binary, as an outsider without credentials would try it: memory under
// concurrent large uploads, absurd headers, redirects, what the replies and
// the log give away, and that the store is not written. It runs with
// `make abuse` (part of `make test`); its tests carry the `abuse` build tag
// and need no cluster.
package abuse
