package dockerfile

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Lint parses a Dockerfile with BuildKit's parser and runs BuildKit's
// linter rules over its instructions: those instructions.Parse applies, and
// the stage-level ones the frontend applies while converting (checked here
// without resolving any base image), returning one line per warning
// ("line N: RuleName: message"). A Dockerfile that does not parse is an
// error. A syntax directive is reported too: it makes BuildKit pull a
// frontend image, which an offline builder cannot.
func Lint(dockerfile []byte) ([]string, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Errorf("parsing Dockerfile: %w", err)
	}
	var warnings []string
	warn := func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}
	lint := linter.New(&linter.Config{Warn: warn})
	// The parser reports empty continuation lines on its own; the frontend
	// turns them into this rule, and so do we.
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			lint.Run(&linter.RuleNoEmptyContinuation, []parser.Range{*w.Location}, linter.RuleNoEmptyContinuation.Format())
		}
	}
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("parsing Dockerfile instructions: %w", err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("parsing Dockerfile: no FROM, no stage to build")
	}
	lintStages(stages, lint)
	if syntax, _, _, ok := parser.ParseDirective("syntax", dockerfile); ok {
		warnings = append(warnings, fmt.Sprintf("line 1: SyntaxDirective: # syntax=%s makes BuildKit pull a frontend image; remove it to use the builtin frontend", strings.TrimSpace(syntax)))
	}
	return warnings, nil
}

// reservedStageNames cannot name a stage: they mean something else in FROM
// and COPY --from.
var reservedStageNames = map[string]bool{"scratch": true, "context": true}

// lintStages applies the rules that BuildKit's frontend checks during
// conversion, with BuildKit's own rule definitions and messages.
func lintStages(stages []instructions.Stage, lint *linter.Linter) {
	seen := map[string]bool{}
	var lower, upper int
	count := func(name string) {
		switch name {
		case strings.ToLower(name):
			lower++
		case strings.ToUpper(name):
			upper++
		}
	}
	for _, st := range stages {
		if st.Name != "" {
			if reservedStageNames[st.Name] {
				lint.Run(&linter.RuleReservedStageName, st.Location, linter.RuleReservedStageName.Format(st.Name))
			}
			if seen[st.Name] {
				lint.Run(&linter.RuleDuplicateStageName, st.Location, linter.RuleDuplicateStageName.Format(st.Name))
			}
			seen[st.Name] = true
		}
		count(st.OrigCmd)
		once := map[string][]parser.Range{}
		hasShell, workdirSet := false, false
		for _, c := range st.Commands {
			count(c.Name())
			switch c := c.(type) {
			case *instructions.ShellCommand:
				hasShell = true
			case *instructions.CmdCommand:
				jsonArgs(c.PrependShell, hasShell, c, lint)
			case *instructions.EntrypointCommand:
				jsonArgs(c.PrependShell, hasShell, c, lint)
			case *instructions.WorkdirCommand:
				if !workdirSet && !strings.HasPrefix(c.Path, "/") && !strings.HasPrefix(c.Path, "$") {
					lint.Run(&linter.RuleWorkdirRelativePath, c.Location(), linter.RuleWorkdirRelativePath.Format(c.Path))
				}
				workdirSet = true
			case *instructions.EnvCommand:
				legacyKeyValue(c.Env, c, lint)
			case *instructions.LabelCommand:
				legacyKeyValue(c.Labels, c, lint)
			}
			switch c.(type) {
			case *instructions.CmdCommand, *instructions.EntrypointCommand, *instructions.HealthCheckCommand:
				// The earlier one is the instruction that has no effect.
				if prev, ok := once[c.Name()]; ok {
					lint.Run(&linter.RuleMultipleInstructionsDisallowed, prev, linter.RuleMultipleInstructionsDisallowed.Format(c.Name()))
				}
				once[c.Name()] = c.Location()
			}
		}
	}
	majorityLower := lower > upper
	casing := func(name string, loc []parser.Range) {
		want := "uppercase"
		if majorityLower {
			want = "lowercase"
		}
		if (majorityLower && name != strings.ToLower(name)) || (!majorityLower && name != strings.ToUpper(name)) {
			lint.Run(&linter.RuleConsistentInstructionCasing, loc, linter.RuleConsistentInstructionCasing.Format(name, want))
		}
	}
	for _, st := range stages {
		casing(st.OrigCmd, st.Location)
		for _, c := range st.Commands {
			casing(c.Name(), c.Location())
		}
	}
}

func jsonArgs(prependShell, hasShell bool, c instructions.Command, lint *linter.Linter) {
	if prependShell && !hasShell {
		lint.Run(&linter.RuleJSONArgsRecommended, c.Location(), linter.RuleJSONArgsRecommended.Format(c.Name()))
	}
}

func legacyKeyValue(kvs instructions.KeyValuePairs, c instructions.Command, lint *linter.Linter) {
	for _, kv := range kvs {
		if kv.NoDelim {
			lint.Run(&linter.RuleLegacyKeyValueFormat, c.Location(), linter.RuleLegacyKeyValueFormat.Format(c.Name()))
			return
		}
	}
}
