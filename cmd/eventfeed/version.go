package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// runVersion prints the module version, the VCS revision the binary was
// built from, and the Go version that built it.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("the binary carries no build information")
	}
	fmt.Fprintln(stdout, version(info))
	return nil
}

// version renders info as one line: "eventfeed VERSION (revision REV, TIME,
// modified) GOVERSION". go install module@version gives the module
// version; a build in a clone gives "(devel)" and the VCS revision.
func version(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	s := "eventfeed " + v
	if rev != "" {
		s += " (revision " + rev
		if at != "" {
			s += ", " + at
		}
		if modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + info.GoVersion
}
