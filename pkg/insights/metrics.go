package insights

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descPerDay = prometheus.NewDesc("slipway_dora_deployments_per_day",
		"Changes rolled out successfully per day over the window (DORA deployment frequency).", []string{"app", "env"}, nil)
	descDeployments = prometheus.NewDesc("slipway_dora_deployments",
		"Changes rolled out successfully in the window.", []string{"app", "env"}, nil)
	descLead = prometheus.NewDesc("slipway_dora_lead_time_seconds",
		"Median time from commit to rollout finished over the window (DORA lead time for changes); absent without a sample.", []string{"app", "env"}, nil)
	descCFR = prometheus.NewDesc("slipway_dora_change_failure_ratio",
		"Changes rolled back, aborted or followed by a rollback, over changes that reached the clusters in the window (DORA change failure rate).", []string{"app", "env"}, nil)
	descRestore = prometheus.NewDesc("slipway_dora_time_to_restore_seconds",
		"Median time a failed change left the environment degraded over the window (DORA time to restore); absent without a sample.", []string{"app", "env"}, nil)
	descErrors = prometheus.NewDesc("slipway_dora_errors_total",
		"Refreshes of the DORA gauges that failed to read the store.", nil, nil)
)

// Collector exports the keys of every configured app and environment as
// gauges labelled app and env: the labels' values come from the release
// configuration only, so their number is bounded. A scrape recomputes at
// most once per refresh interval; in between it answers the last figures.
type Collector struct {
	svc     *Service
	window  time.Duration
	refresh time.Duration
	timeout time.Duration

	mu     sync.Mutex
	keys   []Keys
	at     time.Time
	errors float64
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector exports svc's keys over window (DefaultWindow when 0),
// recomputed at most every refresh (a minute when 0).
func NewCollector(svc *Service, window, refresh time.Duration) *Collector {
	if window <= 0 {
		window = DefaultWindow
	}
	if refresh <= 0 {
		refresh = time.Minute
	}
	return &Collector{svc: svc, window: window, refresh: refresh, timeout: 10 * time.Second}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPerDay, descDeployments, descLead, descCFR, descRestore, descErrors} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	keys, errs := c.current()
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(descPerDay, prometheus.GaugeValue, k.PerDay, k.App, k.Env)
		ch <- prometheus.MustNewConstMetric(descDeployments, prometheus.GaugeValue, float64(k.Deployments), k.App, k.Env)
		ch <- prometheus.MustNewConstMetric(descCFR, prometheus.GaugeValue, k.ChangeFailureRate, k.App, k.Env)
		if len(k.LeadTimes) > 0 {
			ch <- prometheus.MustNewConstMetric(descLead, prometheus.GaugeValue, k.LeadTime.Seconds(), k.App, k.Env)
		}
		if len(k.Restores) > 0 {
			ch <- prometheus.MustNewConstMetric(descRestore, prometheus.GaugeValue, k.TimeToRestore.Seconds(), k.App, k.Env)
		}
	}
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, errs)
}

// current returns the figures, recomputed when older than the refresh
// interval. A failed refresh keeps the last figures (a scrape shows the
// error count rising, not every gauge vanishing).
func (c *Collector) current() ([]Keys, float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.svc.clock.Now()
	if c.at.IsZero() || now.Sub(c.at) >= c.refresh {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		keys, err := c.svc.Compute(ctx, Query{Window: c.window})
		cancel()
		if err != nil {
			c.errors++
		} else {
			c.keys = keys
		}
		c.at = now
	}
	return c.keys, c.errors
}
