package faults

import (
	"context"
	"fmt"
	"time"
)

// FaultKind names what a fault does.
type FaultKind string

// The faults of the run.
const (
	KillLeader      FaultKind = "leader SIGKILLed"
	APIServerDown   FaultKind = "kube-apiserver stopped"
	PostgresRestart FaultKind = "PostgreSQL restarted"
)

// Fault is one planned fault and, once done, what happened.
type Fault struct {
	Kind FaultKind
	// At is when it is due, from the stream's start; a fault starts no
	// earlier than Gap after the previous one ended.
	At time.Duration
	// Start is when it was done; End when it was over (the kill sent, the
	// apiserver answering again, PostgreSQL accepting connections).
	Start, End time.Time
	// Target is the pod killed, and RestartsBefore its container restarts
	// before the kill (recovery waits for one more).
	Target         string
	RestartsBefore int32
	Detail         string
	Err            error
}

// Injector does the faults on the stack.
type Injector interface {
	// KillLeader SIGKILLs the container of the replica holding the leader
	// Lease and says which pod that was and its restarts before.
	KillLeader(ctx context.Context) (pod string, restartsBefore int32, detail string, err error)
	StopAPIServer(ctx context.Context) error
	StartAPIServer(ctx context.Context) error
	RestartPostgres(ctx context.Context) error
}

// Schedule is the fault run over a stream lasting d: the leader
// killed at 15 % and 80 %, the apiserver stopped at 35 %, PostgreSQL
// restarted at 60 %.
func Schedule(d time.Duration) []Fault {
	at := func(f float64) time.Duration { return time.Duration(f * float64(d)).Round(time.Second) }
	return []Fault{
		{Kind: KillLeader, At: at(0.15)},
		{Kind: APIServerDown, At: at(0.35)},
		{Kind: PostgresRestart, At: at(0.60)},
		{Kind: KillLeader, At: at(0.80)},
	}
}

// Inject does faults one after the other from start: each at its At, but
// never sooner than gap after the previous one ended; the apiserver stays
// down for apiDown. A fault that fails is recorded with its error and the
// run goes on; the apiserver is always started again.
func Inject(ctx context.Context, inj Injector, start time.Time, faults []Fault, apiDown, gap time.Duration, logf func(string, ...any)) []Fault {
	out := append([]Fault(nil), faults...)
	var prevEnd time.Time
	for i := range out {
		f := &out[i]
		due := start.Add(f.At)
		if !prevEnd.IsZero() && due.Before(prevEnd.Add(gap)) {
			due = prevEnd.Add(gap)
		}
		if !sleepUntil(ctx, due) {
			f.Err = fmt.Errorf("not done: %w", context.Cause(ctx))
			continue
		}
		f.Start = time.Now()
		logf("fault %d/%d at +%.1fs: %s", i+1, len(out), f.Start.Sub(start).Seconds(), f.Kind)
		switch f.Kind {
		case KillLeader:
			f.Target, f.RestartsBefore, f.Detail, f.Err = inj.KillLeader(ctx)
		case APIServerDown:
			if f.Err = inj.StopAPIServer(ctx); f.Err == nil {
				f.Detail = fmt.Sprintf("down for %s", apiDown)
				// Stopped means started again, whatever ctx says.
				sleepUntil(ctx, f.Start.Add(apiDown))
			}
			if err := inj.StartAPIServer(context.WithoutCancel(ctx)); err != nil && f.Err == nil {
				f.Err = err
			}
		case PostgresRestart:
			f.Err = inj.RestartPostgres(ctx)
		default:
			f.Err = fmt.Errorf("unknown fault %q", f.Kind)
		}
		f.End = time.Now()
		prevEnd = f.End
		if f.Err != nil {
			logf("fault %s failed: %v", f.Kind, f.Err)
		}
	}
	return out
}
