// Command eventfeed serves, appends to, seeds and follows Atom event feeds.
//
// Usage:
//
//	eventfeed serve  [-db events.db] [-create] [-addr 127.0.0.1:8080] [-metrics-addr ADDR] [-base-url URL] [-page-size 100]
//	eventfeed append [-db events.db] [-encrypt] [-kek-file F] -feed NAME -type TYPE [-subject S] [-id ID] [-content-type T] [DATA]
//	eventfeed seed   [-db events.db] [-encrypt] [-kek-file F] -feed NAME -n COUNT [-size BYTES]
//	eventfeed erase  [-db events.db] [-kek-file F] -feed NAME -subject S
//	eventfeed tail   [-db replica.db] [-follow | -retry 30s] [-q] [-metrics-addr ADDR] URL
//	eventfeed version
//	eventfeed help   [COMMAND]
//
// Run "eventfeed help COMMAND" (or "eventfeed COMMAND -h") for the flags of
// a command. The exit status is 0 on success, 2 for a mistake in the
// command line, 1 for any other failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// A command is one subcommand: it parses args itself and writes its output
// to stdout, its diagnostics to stderr.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

var commands = map[string]command{
	"serve":   {runServe, "serve every feed of a log over HTTP"},
	"append":  {runAppend, "append one event to a feed"},
	"seed":    {runSeed, "append synthetic events, for demos and benchmarks"},
	"erase":   {runErase, "erase a subject of an encrypted feed: destroy its key, append a tombstone"},
	"tail":    {runTail, "print every entry of a feed, oldest first"},
	"bench":   {runBench, "end-to-end benchmark scenarios"},
	"version": {runVersion, "print the module version and VCS revision"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the process exit code:
// 0 on success, 2 for a usage error, 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "help" {
		// "help CMD" is "CMD -h".
		if len(args) > 2 {
			fmt.Fprintf(stderr, "eventfeed help: want one command, got %q\n", args[1:])
			usage(stderr)
			return 2
		}
		args = []string{args[1], "-h"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "eventfeed: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "eventfeed %s: %v\nRun \"eventfeed help %[1]s\" for usage.\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "eventfeed %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: eventfeed COMMAND [flags]\n\ncommands:")
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "show the flags of a command: eventfeed help COMMAND")
	fmt.Fprintln(w, "\nRun \"eventfeed help COMMAND\" for the flags of a command.")
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// checkAddr reports a listen address that no listener can take, such as
// a port over 65535, as a usageError; flag names the flag it came from.
func checkAddr(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return usagef("-%s %q: %v (want host:port, port 0 to 65535)", flag, addr, err)
	}
	return nil
}

// newFlagSet returns a FlagSet for the named command that reports errors
// instead of exiting and prints its usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: eventfeed %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, turning a parse failure into a usageError
// (the FlagSet has already printed the details).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
