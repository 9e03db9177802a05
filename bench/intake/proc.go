package intake

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. Linux fixes it
// at 100 for user space whatever the kernel's own HZ.
const userHZ = 100

// cpuTime returns the user and system CPU time this process has used, from
// /proc/self/stat (fields 14 and 15, in 1/userHZ s).
func cpuTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/stat: %w", err)
	}
	return parseStatCPU(b)
}

func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces, so
	// count fields from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/self/stat: no command name in %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/self/stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/stat: cpu time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// memory is the resident set of this process, from /proc/self/status.
type memory struct {
	RSSKiB  int64 // VmRSS: resident now
	PeakKiB int64 // VmHWM: the highest resident set since the process began
}

func readMemory() (memory, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return memory{}, fmt.Errorf("read /proc/self/status: %w", err)
	}
	return parseStatus(b)
}

func parseStatus(status []byte) (memory, error) {
	var m memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSSKiB
		case "VmHWM":
			dst = &m.PeakKiB
		default:
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(val), " kB")
		if !ok {
			return memory{}, fmt.Errorf("/proc/self/status: %s is %q, want a size in kB", key, val)
		}
		n, err := strconv.ParseInt(kb, 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/self/status: %s: %w", key, err)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return memory{}, fmt.Errorf("/proc/self/status: VmRSS or VmHWM missing")
	}
	return m, nil
}
