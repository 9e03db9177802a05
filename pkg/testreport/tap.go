package testreport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxTAPLine bounds one TAP line; longer lines are cut (a test's name or a
// YAML value), never buffered whole.
const maxTAPLine = 64 << 10

// tapPoint matches a TAP test point: "ok 1 - name # SKIP reason".
var tapPoint = regexp.MustCompile(`^(not )?ok(?: +\d+)?(?: +-)?(?: +(.*?))??(?: +# (SKIP|TODO)\b.*)?$`)

// tapTest is a test point being read, with its YAML diagnostics.
type tapTest struct {
	indent int
	c      Case
	suite  bool     // YAML type: 'suite' (describe): not a case itself
	yaml   []string // the diagnostic block's lines, dedented
	inYAML bool
}

// ParseTAP reads the TAP 13 stream Node's test runner writes
// (--test-reporter=tap; Node 18.15 to 20.12 have no junit reporter):
// test points nested by indentation, children before their parent, YAML
// diagnostics after each. A describe() block is a suite, not a case; its
// name and its parents' become the cases' suite, below suite (the file's
// name). A failed case's output is its diagnostics (error, expected,
// actual, stack). Bounded like ParseJUnit; lines that are not TAP are
// skipped, as a TAP consumer must.
func ParseTAP(r io.Reader, suite string) (*Report, error) {
	br := bufio.NewReaderSize(bounded(r), 64<<10)
	rep := &Report{}
	// pending[level] are the finished cases of that nesting level still
	// waiting for their parent's name; the parent comes after them.
	pending := map[int][]Case{}
	var cur *tapTest
	finish := func() {
		if cur == nil {
			return
		}
		t := cur
		cur = nil
		level := t.indent / 4
		children := pending[level+1]
		delete(pending, level+1)
		for i := range children {
			children[i].Suite = joinSuite(t.c.Name, children[i].Suite)
		}
		if t.c.Status == Failed {
			t.c.Output = strings.Join(t.yaml, "\n")
		}
		if d := yamlValue(t.yaml, "duration_ms"); d != "" {
			if ms, err := strconv.ParseFloat(d, 64); err == nil && ms >= 0 && ms < 1e12 {
				t.c.Time = time.Duration(ms * float64(time.Millisecond))
			}
		}
		if !t.suite {
			pending[level] = append(pending[level], t.c)
		}
		pending[level] = append(pending[level], children...)
	}
	for {
		line, err := readLine(br)
		if line != "" || err == nil {
			text := strings.TrimRight(line, "\r")
			indent := len(text) - len(strings.TrimLeft(text, " "))
			body := text[indent:]
			switch {
			case cur != nil && cur.inYAML:
				if body == "..." && indent == cur.indent+2 {
					cur.inYAML = false
					break
				}
				cur.yaml = append(cur.yaml, strings.TrimPrefix(text, strings.Repeat(" ", cur.indent+2)))
				if body == "type: 'suite'" || body == `type: "suite"` || body == "type: suite" {
					cur.suite = true
				}
			case cur != nil && body == "---" && indent == cur.indent+2 && cur.yaml == nil:
				cur.inYAML = true
			case body == "ok" || body == "not ok" || strings.HasPrefix(body, "ok ") || strings.HasPrefix(body, "not ok "):
				m := tapPoint.FindStringSubmatch(body)
				if m == nil {
					break
				}
				finish()
				c := Case{Name: m[2], Status: Passed}
				switch {
				case m[3] != "":
					c.Status = Skipped
				case m[1] != "":
					c.Status = Failed
				}
				if c.Name == "" {
					c.Name = "(unnamed)"
				}
				cur = &tapTest{indent: indent, c: c}
			default:
				// Comments, plans, "# Subtest:" and anything else.
				if cur != nil && !cur.inYAML && indent <= cur.indent {
					finish()
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading TAP: %w", err)
		}
	}
	finish()
	// Whatever is left at a level above 0 lost its parent (a cut stream).
	for level := 0; level < 1000 && len(pending) > 0; level++ {
		for _, c := range pending[level] {
			c.Suite = joinSuite(suite, c.Suite)
			rep.add(c)
		}
		delete(pending, level)
	}
	return rep, nil
}

func joinSuite(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	}
	return parent + " > " + child
}

// readLine reads one line without its newline, cut at maxTAPLine.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		frag, isPrefix, err := br.ReadLine()
		if b.Len() < maxTAPLine {
			rest := maxTAPLine - b.Len()
			if len(frag) > rest {
				frag = frag[:rest]
			}
			b.Write(frag)
		}
		if err != nil || !isPrefix {
			return b.String(), err
		}
	}
}

// yamlValue is the value of a top-level "key: value" line of a diagnostic
// block, unquoted; "" when absent.
func yamlValue(lines []string, key string) string {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return strings.Trim(v, `'"`)
		}
	}
	return ""
}
