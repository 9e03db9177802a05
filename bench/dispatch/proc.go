package dispatch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of CPU times in /proc/PID/stat; Linux fixes it at 100
// for user space.
const userHZ = 100

// procStat is what the report says about the Slipway process.
type procStat struct {
	CPU     time.Duration // user + system since start
	RSSKiB  int64         // VmRSS
	PeakKiB int64         // VmHWM, the largest resident set so far
}

func readProc(pid int) (procStat, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procStat{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read status of %d: %w", pid, err)
	}
	ps, err := parseStatus(status)
	ps.CPU = cpu
	return ps, err
}

func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command name in %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime (14), stime (15)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

func parseStatus(status []byte) (procStat, error) {
	var ps procStat
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &ps.RSSKiB
		case "VmHWM":
			dst = &ps.PeakKiB
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return ps, fmt.Errorf("proc status %s %q: %w", k, v, err)
		}
		*dst = n
	}
	if ps.RSSKiB == 0 || ps.PeakKiB == 0 {
		return ps, fmt.Errorf("proc status: no VmRSS/VmHWM in %q", status)
	}
	return ps, nil
}
