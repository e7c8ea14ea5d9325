package api

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"github.com/moby/moby/api/types/system"
)

// binaryVersion runs `path --version` (a runtime or the init) and reads
// its commit as dockerd does: runc's "commit: X" line, tini's "- git.X"
// suffix, else the version word after "version".
func binaryVersion(ctx context.Context, path string) system.Commit {
	if path == "" {
		return system.Commit{}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return system.Commit{}
	}
	return system.Commit{ID: parseCommit(string(out))}
}

func parseCommit(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "commit: "); ok {
			return strings.TrimSpace(v)
		}
	}
	first, _, _ := strings.Cut(out, "\n")
	if _, git, ok := strings.Cut(first, " - git."); ok {
		return strings.TrimSpace(git)
	}
	if _, v, ok := strings.Cut(first, "version "); ok {
		return strings.Fields(v + " ")[0]
	}
	return ""
}
