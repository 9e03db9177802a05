package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// checkLicenseID accepts an SPDX license id of the SPDX license list, a
// LicenseRef-, or a glob with * (not checked against the list).
func checkLicenseID(id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("empty license id")
	case strings.Contains(id, "*"), strings.HasPrefix(id, "LicenseRef-"):
		if _, err := path.Match(strings.ToUpper(id), "X"); err != nil {
			return fmt.Errorf("license pattern %q: %w", id, err)
		}
		return nil
	}
	if ok, _ := spdxexp.ActiveLicense(id); ok {
		return nil
	}
	if ok, invalid := spdxexp.ValidateLicenses([]string{id}); !ok {
		return fmt.Errorf("%q is not an SPDX license id (see https://spdx.org/licenses/)", invalid)
	}
	return nil
}

// licenseDenied matches one license id (maybe "X WITH exception") against
// the denied ids and globs, case-insensitively as SPDX ids are.
func licenseDenied(id string, denied []string) (string, bool) {
	base, _, _ := strings.Cut(id, " WITH ")
	for _, d := range denied {
		for _, cand := range []string{id, base} {
			if strings.EqualFold(cand, d) {
				return d, true
			}
			if ok, _ := path.Match(strings.ToUpper(d), strings.ToUpper(cand)); ok && strings.Contains(d, "*") {
				return d, true
			}
		}
	}
	return "", false
}

var licenseToken = regexp.MustCompile(`[A-Za-z0-9.+-]+`)

// deniedLicenses evaluates an SPDX license expression against the denied
// ids. It returns the denied ids that make the expression unacceptable: none
// when some choice the expression allows avoids them all ("MIT OR
// GPL-3.0-only"). An expression the SPDX parser cannot read is judged by its
// words: any denied id among them is reported, so unreadable data fails
// closed without flagging licenses that are not denied.
func deniedLicenses(expr string, denied []string) []string {
	if expr == "" || len(denied) == 0 {
		return nil
	}
	ids, err := spdxexp.ExtractLicenses(expr)
	if err != nil {
		var hits []string
		for _, w := range licenseToken.FindAllString(expr, -1) {
			if d, ok := licenseDenied(w, denied); ok {
				hits = append(hits, d)
			}
		}
		return sortedUnique(hits)
	}
	var allowed, hits []string
	for _, id := range ids {
		if d, ok := licenseDenied(id, denied); ok {
			hits = append(hits, d)
			continue
		}
		allowed = append(allowed, id)
	}
	if len(hits) == 0 {
		return nil
	}
	if len(allowed) > 0 {
		if ok, err := spdxexp.Satisfies(expr, allowed); err == nil && ok {
			return nil
		}
	}
	return sortedUnique(hits)
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
