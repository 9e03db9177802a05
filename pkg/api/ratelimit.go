package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
)

// DefaultLimiterClients is how many clients a Limiter remembers; the least
// recently seen is forgotten first, so a flood of addresses costs bounded
// memory (and a forgotten client starts again with a full burst).
const DefaultLimiterClients = 10000

// Limiter allows each client (by echo's RealIP, which the server points
// at the remote address unless a proxy is trusted) perSecond requests
// with bursts of burst; beyond, 429 with Retry-After.
type Limiter struct {
	perSecond rate.Limit
	burst     int
	clock     clock.PassiveClock

	mu      sync.Mutex
	clients *lru.Cache
}

// NewLimiter builds a Limiter remembering up to clients clients
// (DefaultLimiterClients if 0); clk nil is the real clock.
func NewLimiter(perSecond float64, burst, clients int, clk clock.PassiveClock) (*Limiter, error) {
	if perSecond <= 0 || burst < 1 {
		return nil, fmt.Errorf("rate limit %g/s, burst %d: both must be positive", perSecond, burst)
	}
	if clients <= 0 {
		clients = DefaultLimiterClients
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Limiter{perSecond: rate.Limit(perSecond), burst: burst, clock: clk, clients: lru.New(clients)}, nil
}

// errRateLimited is behind every 429 of the Limiter.
var errRateLimited = errors.New("rate limited")

// Allow takes one request of client's budget, or says how long until one
// is free.
func (l *Limiter) Allow(client string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	v, found := l.clients.Get(client)
	if !found {
		v = rate.NewLimiter(l.perSecond, l.burst)
		l.clients.Add(client, v)
	}
	l.mu.Unlock()
	lim := v.(*rate.Limiter)
	now := l.clock.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Middleware answers 429 {"message": ...} with Retry-After (whole
// seconds, at least 1) to a client over its rate.
func (l *Limiter) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := l.Allow(c.RealIP()); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
				return &echo.HTTPError{Code: http.StatusTooManyRequests, Message: "too many requests: slow down and retry later", Internal: errRateLimited}
			}
			return next(c)
		}
	}
}
