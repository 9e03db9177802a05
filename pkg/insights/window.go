package insights

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// MinWindow and MaxWindow bound a query's window: shorter says
	// nothing, longer reads more history than a page should.
	MinWindow = time.Hour
	MaxWindow = 90 * 24 * time.Hour
)

// ParseWindow reads a window as days ("30d") or a Go duration ("72h",
// "90m"); empty is DefaultWindow. Anything else, or a window outside
// [MinWindow, MaxWindow], is an error that says what is accepted.
func ParseWindow(s string) (time.Duration, error) {
	if s == "" {
		return DefaultWindow, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > int(MaxWindow/(24*time.Hour)) {
			return 0, fmt.Errorf("window %q: want whole days from 1d to 90d, or a duration such as 72h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("window %q: want whole days such as 30d, or a duration such as 72h", s)
		}
	}
	if d < MinWindow || d > MaxWindow {
		return 0, fmt.Errorf("window %q: must be from 1h to 90d", s)
	}
	return d, nil
}

// FormatWindow writes d as ParseWindow reads it back: days when whole.
func FormatWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
