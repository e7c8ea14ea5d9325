package build

import (
	"fmt"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/berthd/berth/pkg/errdefs"
)

// checkArg is the build arg that overrides the Dockerfile's `# check`
// directive, as in BuildKit.
const checkArg = "BUILDKIT_DOCKERFILE_CHECK"

// newLinter makes the linter of buildkit's rules that its parser and
// instructions packages run (casing, stage names, MAINTAINER, empty
// continuation lines...), configured by the `# check=skip=...;error=true`
// directive or the BUILDKIT_DOCKERFILE_CHECK build arg. Each violation is
// printed as BuildKit words it; with error=true the build fails before
// any step runs.
func newLinter(df []byte, args map[string]*string, out *Output) (*linter.Linter, error) {
	opts, _, _, _ := parser.ParseDirective("check", df)
	if v, ok := args[checkArg]; ok && v != nil {
		opts = *v
	}
	cfg, err := linter.ParseLintOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("dockerfile parse error: # check: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	cfg.Warn = func(rule, _, url, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		out.printf("WARN: %s\n", linter.LintFormatShort(rule, msg, line))
		if url != "" {
			out.printf("      see %s\n", url)
		}
	}
	return linter.New(cfg), nil
}

// lintParserWarnings runs the rule for the parser's warnings (empty
// continuation lines), as BuildKit does.
func lintParserWarnings(l *linter.Linter, res *parser.Result) {
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			l.Run(&linter.RuleNoEmptyContinuation, []parser.Range{*w.Location}, linter.RuleNoEmptyContinuation.Format())
		}
	}
}

// lintError is the failure of a build with `# check=error=true` and
// violations.
func lintError(l *linter.Linter) error {
	if err := l.Error(); err != nil {
		return fmt.Errorf("dockerfile parse error: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}
