package ui

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Bar is one bar of a chart: its label under the axis and its value.
type Bar struct {
	Label string
	Value float64
}

// Chart sizes, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH          = 640, 200
	chartLeft, chartRight   = 48, 8
	chartTop, chartBottom   = 12, 36
	chartMaxLabels          = 14
	chartPlotW, chartPlotH  = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartGridLines          = 4
	chartBarGap             = 0.2
	chartFill, chartAxis    = "#3b6fb6", "#8a8a8a"
	chartText, chartGridCol = "#333333", "#e2e2e2"
)

// barChart renders bars as an inline SVG bar chart, on the server: no
// script, no style attribute (the pages' CSP allows neither inline), a
// <title> and <desc> for screen readers and each bar's value in its own
// <title>. unit follows each value (" h"); the y axis starts at 0 and
// ends at a round number, in whole steps when the values are integers
// (counts). The same input always gives the same bytes
// (golden files).
func barChart(title, unit string, integers bool, bars []Bar) template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d">`,
		chartW, chartH, chartID(title), chartID(title))
	fmt.Fprintf(&b, "\n<title id=\"%s-t\">%s</title>", chartID(title), esc(title))
	top := niceCeil(maxValue(bars), integers)
	desc := "No data."
	if len(bars) > 0 {
		desc = fmt.Sprintf("%d bars, highest %s%s.", len(bars), num(maxValue(bars)), unit)
		if len(bars) == 1 {
			desc = fmt.Sprintf("1 bar: %s%s.", num(maxValue(bars)), unit)
		}
	}
	fmt.Fprintf(&b, "\n<desc id=\"%s-d\">%s</desc>", chartID(title), esc(desc))

	// Grid and y labels.
	for i := 0; i <= chartGridLines; i++ {
		v := top * float64(i) / chartGridLines
		y := chartTop + chartPlotH - chartPlotH*float64(i)/chartGridLines
		fmt.Fprintf(&b, "\n<line x1=\"%d\" y1=\"%s\" x2=\"%d\" y2=\"%s\" stroke=\"%s\"/>", chartLeft, f1(y), chartW-chartRight, f1(y), chartGridCol)
		fmt.Fprintf(&b, "\n<text x=\"%d\" y=\"%s\" text-anchor=\"end\" font-size=\"11\" fill=\"%s\">%s</text>", chartLeft-4, f1(y+4), chartText, esc(num(v)))
	}
	fmt.Fprintf(&b, "\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>", chartLeft, chartTop+chartPlotH, chartW-chartRight, chartTop+chartPlotH, chartAxis)
	if len(bars) == 0 {
		fmt.Fprintf(&b, "\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" fill=\"%s\">No data in this window</text>", chartLeft+chartPlotW/2, chartTop+chartPlotH/2, chartText)
		b.WriteString("\n</svg>")
		return template.HTML(b.String()) //nolint:gosec // every text is escaped above
	}

	slot := float64(chartPlotW) / float64(len(bars))
	w := slot * (1 - chartBarGap)
	// Label every bar when they fit, else every step-th.
	step := (len(bars) + chartMaxLabels - 1) / chartMaxLabels
	for i, bar := range bars {
		x := chartLeft + slot*float64(i) + slot*chartBarGap/2
		h := 0.0
		if top > 0 {
			h = chartPlotH * bar.Value / top
		}
		y := chartTop + chartPlotH - h
		fmt.Fprintf(&b, "\n<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"><title>%s: %s%s</title></rect>",
			f1(x), f1(y), f1(w), f1(h), chartFill, esc(bar.Label), esc(num(bar.Value)), esc(unit))
		if i%step == 0 {
			fmt.Fprintf(&b, "\n<text x=\"%s\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\" fill=\"%s\">%s</text>",
				f1(x+w/2), chartTop+chartPlotH+14, chartText, esc(bar.Label))
		}
	}
	b.WriteString("\n</svg>")
	return template.HTML(b.String()) //nolint:gosec // every text is escaped above
}

// chartID makes an element id of a title: letters and digits, '-' else.
func chartID(title string) string {
	var b strings.Builder
	b.WriteString("chart-")
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func maxValue(bars []Bar) float64 {
	m := 0.0
	for _, b := range bars {
		if b.Value > m && !math.IsInf(b.Value, 1) {
			m = b.Value
		}
	}
	return m
}

// niceCeil is the top of the y axis for a highest value v: chartGridLines
// steps of 1, 2, 2.5 or 5 times a power of ten, so every grid line falls
// on a readable number; for counts (integers) whole steps of at least 1.
func niceCeil(v float64, integers bool) float64 {
	if v <= 0 || math.IsNaN(v) {
		v = 0
	}
	raw := v / chartGridLines
	if integers && raw < 1 || raw == 0 {
		return chartGridLines
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if integers && m == 2.5 && p < 10 {
			continue
		}
		if raw <= m*p*(1+1e-9) {
			return m * p * chartGridLines
		}
	}
	return 10 * p * chartGridLines
}

// f1 prints a coordinate with one decimal, the same on every platform.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// num prints a value with at most two decimals and no trailing zeros.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }
