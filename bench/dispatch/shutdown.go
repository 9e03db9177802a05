package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
)

// shutdownConcurrency is the load of the SIGTERM burst.
const shutdownConcurrency = 8

// shutdownBurst sends cfg.Events pushes, SIGTERMs Slipway once half are
// answered, waits for it to exit, starts it again on the same store,
// redelivers every push the first process did not answer 2xx (as GitHub's
// "redeliver" would, same delivery id), and counts runs: each push must end
// up with exactly one PipelineRun.
func shutdownBurst(ctx context.Context, cfg Config, sw *slipwayProc, client *http.Client, seen *sightings) (Shutdown, error) {
	sd := Shutdown{Engine: cfg.Engine, Events: cfg.Events, Grace: grace}
	ds, _, err := pushDeliveries(cfg.Events, []byte(secret), "sigterm")
	if err != nil {
		return sd, err
	}
	var answered atomic.Int64
	var once sync.Once
	var termErr error
	termDone := make(chan struct{})
	answers := burst(len(ds), shutdownConcurrency, func(i int) (bool, error) {
		ok, err := post(ctx, client, sw.url+"/hooks/github", ds[i])
		if answered.Add(1) == int64(len(ds)/2) {
			once.Do(func() {
				go func() {
					defer close(termDone)
					sd.ExitAfter, termErr = sw.term()
				}()
			})
		}
		return ok, err
	})
	<-termDone
	var ee *exec.ExitError
	switch {
	case errors.As(termErr, &ee):
		sd.ExitErr = ee.Error()
	case termErr != nil:
		return sd, termErr
	}
	var again []int
	for i, a := range answers {
		if a.ok {
			sd.AcceptedBefore++
		} else {
			again = append(again, i)
		}
	}
	sd.Refused = len(again)
	if err := sw.start(ctx); err != nil {
		return sd, fmt.Errorf("restarting slipway: %w", err)
	}
	redo := burst(len(again), shutdownConcurrency, func(j int) (bool, error) { return post(ctx, client, sw.url+"/hooks/github", ds[again[j]]) })
	errs := map[string]bool{}
	for j, a := range redo {
		answers[again[j]] = a
		sd.Redelivered++
		if a.err != nil && len(errs) < 3 && !errs[a.err.Error()] {
			errs[a.err.Error()] = true
			sd.Errors = append(sd.Errors, "redelivery: "+a.err.Error())
		}
	}
	st := measure(ctx, ds, answers, seen, cfg.Quiet)
	// Every push was accepted by one process or the other; any push still
	// refused after the restart counts as lost too.
	sd.Lost, sd.Duplicates = st.Lost+st.Rejected, st.Duplicates
	return sd, nil
}
