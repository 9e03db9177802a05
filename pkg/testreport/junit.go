package testreport

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrTooLarge is returned when an input exceeds MaxInput.
var ErrTooLarge = errors.New("test report too large")

// limited reads at most n bytes of r and fails with ErrTooLarge beyond,
// so a huge report is refused rather than silently cut.
type limited struct {
	r io.Reader
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells a file of exactly n bytes from a longer one.
		var b [1]byte
		if n, _ := l.r.Read(b[:]); n > 0 {
			return 0, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, MaxInput)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func bounded(r io.Reader) io.Reader { return &limited{r: r, n: MaxInput} }

// junitCase is a <testcase> as JUnit, Surefire, pytest, Node and Slipway's
// Go converter write it.
type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Time      string         `xml:"time,attr"`
	Failures  []junitProblem `xml:"failure"`
	Errors    []junitProblem `xml:"error"`
	Skipped   *junitProblem  `xml:"skipped"`
	SystemOut string         `xml:"system-out"`
	SystemErr string         `xml:"system-err"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads one JUnit XML document: a <testsuites> or <testsuite>
// root, suites nested at any depth. A document without any of these is an
// error, so a stray XML file is reported rather than counted as no tests.
func ParseJUnit(r io.Reader) (*Report, error) {
	d := xml.NewDecoder(bounded(r))
	// Reports are UTF-8 in practice; an ISO-8859-1 prolog from an old
	// Surefire is read as is rather than refused.
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	rep := &Report{}
	var suites []string
	root := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading JUnit XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "testsuites":
				root = true
			case "testsuite":
				root = true
				suites = append(suites, attr(t, "name"))
			case "testcase":
				if !root {
					return nil, errors.New("reading JUnit XML: <testcase> outside a <testsuite>")
				}
				var jc junitCase
				if err := d.DecodeElement(&jc, &t); err != nil {
					return nil, fmt.Errorf("reading JUnit XML: testcase %q: %w", jc.Name, err)
				}
				rep.add(jc.toCase(suites))
			default:
				if !root {
					return nil, fmt.Errorf("reading JUnit XML: root element <%s>, want <testsuites> or <testsuite>", t.Name.Local)
				}
			}
		case xml.EndElement:
			if t.Name.Local == "testsuite" && len(suites) > 0 {
				suites = suites[:len(suites)-1]
			}
		}
	}
	if !root {
		return nil, errors.New("reading JUnit XML: no <testsuites> or <testsuite> element")
	}
	return rep, nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (jc junitCase) toCase(suites []string) Case {
	c := Case{Suite: jc.Classname, Name: jc.Name, Status: Passed, Time: seconds(jc.Time)}
	if c.Suite == "" && len(suites) > 0 {
		c.Suite = suites[len(suites)-1]
	}
	var out []string
	for _, p := range append(append([]junitProblem{}, jc.Failures...), jc.Errors...) {
		c.Status = Failed
		out = append(out, describe(p))
	}
	if c.Status != Failed && jc.Skipped != nil {
		c.Status = Skipped
		out = append(out, describe(*jc.Skipped))
	}
	// The test's own output matters only where someone reads it: a failure.
	if c.Status == Failed {
		out = append(out, strings.TrimSpace(jc.SystemOut), strings.TrimSpace(jc.SystemErr))
	}
	c.Output = joinNonEmpty(out)
	return c
}

// describe is a failure's message and text, the message once when the
// text repeats it (pytest, Surefire).
func describe(p junitProblem) string {
	msg, text := strings.TrimSpace(p.Message), strings.TrimSpace(p.Text)
	if msg == "" || strings.Contains(text, msg) {
		return text
	}
	return joinNonEmpty([]string{msg, text})
}

func joinNonEmpty(ss []string) string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

// seconds reads a JUnit time attribute ("1.5", Surefire's "1,234.5");
// anything else is zero rather than an error: the time is a detail.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 64)
	if err != nil || f < 0 || f > 1e7 {
		return 0
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond)
}

// WriteJUnit writes r as one JUnit XML document, a <testsuite> per suite.
func WriteJUnit(w io.Writer, r *Report) error {
	type problem struct {
		Message string `xml:"message,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
	type tcase struct {
		Classname string   `xml:"classname,attr"`
		Name      string   `xml:"name,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *problem `xml:"failure,omitempty"`
		Skipped   *problem `xml:"skipped,omitempty"`
	}
	type suite struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Skipped  int     `xml:"skipped,attr"`
		Time     string  `xml:"time,attr"`
		Cases    []tcase `xml:"testcase"`
	}
	var doc struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []*suite `xml:"testsuite"`
	}
	bySuite := map[string]*suite{}
	sums := map[string]time.Duration{}
	for _, c := range r.Cases {
		s := bySuite[c.Suite]
		if s == nil {
			s = &suite{Name: c.Suite}
			bySuite[c.Suite] = s
			doc.Suites = append(doc.Suites, s)
		}
		tc := tcase{Classname: c.Suite, Name: c.Name, Time: fmtSeconds(c.Time)}
		s.Tests++
		sums[c.Suite] += c.Time
		switch c.Status {
		case Failed:
			s.Failures++
			tc.Failure = &problem{Text: c.Output}
		case Skipped:
			s.Skipped++
			tc.Skipped = &problem{Text: c.Output}
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, s := range doc.Suites {
		s.Time = fmtSeconds(sums[s.Name])
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
