package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// readmeExample is a shell block of README.md and the output it shows.
type readmeExample struct {
	script string
	want   []string // lines; "…" stands for anything
}

// readmeExamples returns the examples between the readme-test markers of
// README.md: each ```sh block, and the ```http block after it.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "<!-- readme-test:begin -->")
	s, _, ok2 := strings.Cut(s, "<!-- readme-test:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the readme-test markers")
	}
	blocks := regexp.MustCompile("(?s)```(sh|http)\n(.*?)```").FindAllStringSubmatch(s, -1)
	var examples []readmeExample
	for i := 0; i < len(blocks); i++ {
		if blocks[i][1] != "sh" || i+1 == len(blocks) || blocks[i+1][1] != "http" {
			t.Fatalf("README block %d: want a ```sh block followed by a ```http block:\n%s", i, blocks[i][2])
		}
		examples = append(examples, readmeExample{
			script: blocks[i][2],
			want:   strings.Split(strings.TrimRight(blocks[i+1][2], "\n"), "\n"),
		})
		i++
	}
	if len(examples) < 4 {
		t.Fatalf("found %d README examples, want at least 4", len(examples))
	}
	return examples
}

// matchLine reports whether line matches pattern, where "…" stands for
// anything.
func matchLine(pattern, line string) bool {
	parts := strings.Split(pattern, "…")
	if !strings.HasPrefix(line, parts[0]) {
		return false
	}
	line = line[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(line, p)
		}
		j := strings.Index(line, p)
		if j < 0 {
			return false
		}
		line = line[j+len(p):]
	}
	return line == ""
}

// TestREADME runs the curl examples of README.md against a real "eventfeed
// serve" set up as the README says, and checks that each shown line of
// output appears, in order. The README cannot drift from the behaviour.
func TestREADME(t *testing.T) {
	testenv.Command(t, "curl")
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "250")
	s := serve(t, dir)

	// "eventfeed" on the PATH of the scripts is this test binary acting
	// as the command (see TestMain).
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + asMainVar + "=1 exec " + os.Args[0] + ` "$@"` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "eventfeed"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, ex := range readmeExamples(t) {
		script := strings.ReplaceAll(ex.script, "http://127.0.0.1:8080", s.base)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Errorf("README example %d failed: %v\n%s", i+1, err, ex.script)
			continue
		}
		got := strings.Split(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n")
		k := 0
		for _, want := range ex.want {
			for k < len(got) && !matchLine(want, got[k]) {
				k++
			}
			if k == len(got) {
				t.Errorf("README example %d:\n%s\noutput lacks (after the lines matched before it):\n%s\noutput:\n%s", i+1, ex.script, want, out)
				break
			}
			k++
		}
	}
}
