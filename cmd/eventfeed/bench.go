package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/eventfeed/eventfeed/internal/bench"
)

// benchScenarios are the scenarios of "eventfeed bench": flags and the run.
var benchScenarios = map[string]struct {
	synopsis, summary string
	flags             func(fs *flag.FlagSet) func(ctx context.Context, env *bench.Env) (bench.Result, error)
}{
	"cachefan":  {"[-events N] [-consumers C] [-page-size P] [-nginx PATH] [-nginx-conf FILE]", "C consumers catch up on the same N events through nginx's cache: publisher CPU on consumers 2..C over consumer 1", cacheFanFlags},
	"catchup":   {"[-events N] [-page-size P] [-protocol atom|http-feeds|tail] [-encrypt [-subjects S] [-random-data]]", "a poller, and eventfeed tail -db, catch up with a feed of N events into an SQLite replica", catchupFlags},
	"latency":   {"[-n N] [-rate R] [-interval D]", "delay from append to replica commit, long polling vs interval polling", latencyFlags},
	"serve":     {"[-duration D] [-connections C] [-nginx PATH] [-wrk PATH]", "requests/s for a full page and a 304, beside nginx serving the same bytes", serveFlags},
	"fanout":    {"[-consumers C]", "memory per idle long poll, and the time until one append wakes them all", fanoutFlags},
	"append":    {"[-n N] [-connections C] [-batch B] [-postgres DSN]", "single-event POSTs/s over HTTP, single and batched appends/s in process", appendFlags},
	"sequencer": {"[-n N] [-writers W] [-pairs P] -postgres DSN", "PostgreSQL: W writers' AppendTx transactions/s with the sequencer over without, and its lag", sequencerFlags},
}

// benchPublisher is the scenario name under which bench runs "serve" with
// a CPU profile: the scenarios start their publisher that way when given
// -cpuprofile, so that the profile shows the publisher's side too.
// benchTail does the same for "tail".
const (
	benchPublisher = "publisher"
	benchTail      = "tail"
)

// benchFloor is the scenario name under which the serve scenario runs a
// plain net/http server of files from memory, beside the publisher:
// bench floor -addr ADDR DIR.
const benchFloor = "floor"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		benchUsage(stderr)
		if len(args) == 0 {
			return usagef("a scenario is required")
		}
		return flag.ErrHelp
	}
	name, args := args[0], args[1:]
	switch name {
	case benchPublisher:
		return runBenchProfiled(ctx, args, stdout, stderr, name, runServe)
	case benchTail:
		return runBenchProfiled(ctx, args, stdout, stderr, name, runTail)
	case benchFloor:
		return runBenchFloor(ctx, args, stdout)
	}
	sc, ok := benchScenarios[name]
	if !ok {
		benchUsage(stderr)
		return usagef("unknown scenario %q", name)
	}
	fs := newFlagSet("bench "+name, sc.synopsis+" [-json] [-cpuprofile FILE]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	profile := fs.String("cpuprofile", "", "write a CPU profile of this process to `FILE`, and of each publisher child to FILE.publisher-N")
	run := sc.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}

	dir, err := os.MkdirTemp("", "eventfeed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var children atomic.Int64
	env := &bench.Env{
		Command: func(args ...string) *exec.Cmd {
			if *profile != "" && len(args) > 0 && args[0] == "serve" {
				file := fmt.Sprintf("%s.publisher-%d", *profile, children.Add(1))
				fmt.Fprintf(stderr, "publisher CPU profile: %s\n", file)
				args = append([]string{"bench", benchPublisher, "-cpuprofile", file}, args[1:]...)
			}
			if *profile != "" && len(args) > 0 && args[0] == "tail" {
				file := fmt.Sprintf("%s.tail-%d", *profile, children.Add(1))
				fmt.Fprintf(stderr, "tail CPU profile: %s\n", file)
				args = append([]string{"bench", benchTail, "-cpuprofile", file}, args[1:]...)
			}
			return exec.Command(exe, args...)
		},
		Dir:   dir,
		Log:   stderr,
		Event: seedEvent,
	}
	if *profile != "" {
		stop, err := startCPUProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := run(ctx, env)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(stdout)
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: eventfeed bench SCENARIO [flags] [-json] [-cpuprofile FILE]\n\nscenarios:")
	for _, name := range slices.Sorted(maps.Keys(benchScenarios)) {
		fmt.Fprintf(w, "  %-9s %s\n", name, benchScenarios[name].summary)
	}
	fmt.Fprintln(w, "\nEach scenario starts what it needs on 127.0.0.1, prints its figures beside the\nproject's targets, and judges nothing. Run \"eventfeed bench SCENARIO -h\" for its flags.")
}

// runBenchProfiled runs cmd ("serve" or "tail") with the remaining args
// under a CPU profile: bench publisher -cpuprofile FILE [serve flags], or
// bench tail -cpuprofile FILE [tail flags] URL.
func runBenchProfiled(ctx context.Context, args []string, stdout, stderr io.Writer, name string,
	cmd func(context.Context, []string, io.Writer, io.Writer) error) error {
	if len(args) < 2 || args[0] != "-cpuprofile" {
		return usagef("usage: eventfeed bench %s -cpuprofile FILE [flags]", name)
	}
	stop, err := startCPUProfile(args[1])
	if err != nil {
		return err
	}
	defer stop()
	return cmd(ctx, args[2:], stdout, stderr)
}

// runBenchFloor serves the files of a directory from memory with a plain
// net/http handler: bench floor -addr ADDR DIR.
func runBenchFloor(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 3 || args[0] != "-addr" {
		return usagef("usage: eventfeed bench %s -addr ADDR DIR", benchFloor)
	}
	return bench.RunFloor(ctx, args[1], args[2], stdout)
}

func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func catchupFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	events := fs.Int("events", bench.DefaultCatchupEvents, "events in the feed (seeding them is not measured)")
	pageSize := fs.Int("page-size", 0, "page size to measure (default: each of "+intsString(bench.DefaultCatchupPageSizes)+")")
	protocol := fs.String("protocol", "", "`protocol` to catch up over, "+bench.ProtocolAtom+", "+bench.ProtocolHTTPFeeds+" or "+bench.ProtocolTail+" (eventfeed tail -db over Atom) (default: all three, in the same run)")
	encrypt := fs.Bool("encrypt", false, "catch up with an encrypted feed and with the same feed in the clear, in one run, both served from memory in this process, and report the ratio (default -events "+strconv.Itoa(bench.DefaultEncryptEvents)+")")
	random := fs.Bool("random-data", false, "with -encrypt, data of random letters, which compresses about as little as real data, instead of a repeated alphabet")
	subjects := fs.Int("subjects", bench.DefaultEncryptSubjects, "with -encrypt, how many subjects the events are about (one key each)")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *events <= 0 {
			return nil, usagef("-events must be positive")
		}
		if *subjects <= 0 {
			return nil, usagef("-subjects must be positive")
		}
		cfg := bench.CatchupConfig{Events: *events, Encrypt: *encrypt, Subjects: *subjects, RandomData: *random}
		if *encrypt && !flagGiven(fs, "events") {
			// Both feeds are held in memory.
			cfg.Events = bench.DefaultEncryptEvents
		}
		switch *protocol {
		case "":
		case bench.ProtocolAtom, bench.ProtocolHTTPFeeds, bench.ProtocolTail:
			cfg.Protocols = []string{*protocol}
		default:
			return nil, usagef("-protocol must be %s, %s or %s", bench.ProtocolAtom, bench.ProtocolHTTPFeeds, bench.ProtocolTail)
		}
		if *pageSize != 0 {
			cfg.PageSizes = []int{*pageSize}
		}
		if cfg.Encrypt {
			return bench.CatchupEncrypted(ctx, env, cfg)
		}
		return bench.Catchup(ctx, env, cfg)
	}
}

func cacheFanFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	events := fs.Int("events", bench.DefaultCacheFanEvents, "events in the feed (seeding them is not measured)")
	consumers := fs.Int("consumers", bench.DefaultCacheFanConsumers, "consumers catching up one after another")
	pageSize := fs.Int("page-size", bench.DefaultCacheFanPageSize, "entries per page")
	nginx := fs.String("nginx", defaultNginx(), "nginx `binary` to put in front of the publisher")
	conf := fs.String("nginx-conf", "examples/nginx/eventfeed.conf", "nginx site configuration `file`, adapted to a scratch directory and a loopback port")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *events <= 0 || *consumers <= 0 || *pageSize <= 0 {
			return nil, usagef("-events, -consumers and -page-size must be positive")
		}
		if *nginx == "" {
			return nil, usagef("no nginx found: give -nginx PATH")
		}
		site, err := os.ReadFile(*conf)
		if err != nil {
			return nil, usagef("-nginx-conf: %v (run from the repository's root, or give the path of examples/nginx/eventfeed.conf)", err)
		}
		return bench.CacheFan(ctx, env, bench.CacheFanConfig{Events: *events, Consumers: *consumers, PageSize: *pageSize, Nginx: *nginx, Site: site})
	}
}

func latencyFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	n := fs.Int("n", bench.DefaultLatencyN, "appends in each mode")
	rate := fs.Float64("rate", bench.DefaultLatencyRate, "appends per second")
	interval := fs.Duration("interval", bench.DefaultLatencyInterval, "pause between polls in the interval mode")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *n <= 0 || *rate <= 0 || *interval <= 0 {
			return nil, usagef("-n, -rate and -interval must be positive")
		}
		return bench.Latency(ctx, env, bench.LatencyConfig{N: *n, Rate: *rate, Interval: *interval})
	}
}

func serveFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	duration := fs.Duration("duration", bench.DefaultServeDuration, "length of each measurement")
	conns := fs.Int("connections", bench.DefaultServeConnections, "keep-alive connections of the load generator")
	nginx := fs.String("nginx", defaultNginx(), "nginx `binary` to compare with; empty skips it")
	wrk := fs.String("wrk", defaultWrk(), "wrk `binary` to measure with too, beside the Go load generator; empty skips it")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *duration <= 0 || *conns <= 0 {
			return nil, usagef("-duration and -connections must be positive")
		}
		env.Nginx = *nginx
		return bench.Serve(ctx, env, bench.ServeConfig{Duration: *duration, Connections: *conns, Wrk: *wrk})
	}
}

func fanoutFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	consumers := fs.Int("consumers", bench.DefaultFanoutConsumers, "idle long-polling consumers")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *consumers <= 0 {
			return nil, usagef("-consumers must be positive")
		}
		return bench.Fanout(ctx, env, bench.FanoutConfig{Consumers: *consumers})
	}
}

func appendFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	n := fs.Int("n", bench.DefaultAppendN, "events appended by each measurement")
	conns := fs.Int("connections", bench.DefaultAppendConnections, "concurrent POST connections, and goroutines appending single events")
	batch := fs.Int("batch", bench.DefaultAppendBatch, "events per batched append")
	pg := fs.String("postgres", "", "`DSN` of a PostgreSQL database to measure as well (a throwaway schema is made and dropped)")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *n <= 0 || *conns <= 0 || *batch <= 0 {
			return nil, usagef("-n, -connections and -batch must be positive")
		}
		return bench.Append(ctx, env, bench.AppendConfig{N: *n, Connections: *conns, Batch: *batch, Postgres: *pg})
	}
}

// defaultNginx returns the nginx binary to compare with, if one is installed.
func defaultNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// defaultWrk returns the wrk binary, if one is installed.
func defaultWrk() string {
	p, _ := exec.LookPath("wrk")
	return p
}

func intsString(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// flagGiven reports whether the flag called name was set on the command
// line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func sequencerFlags(fs *flag.FlagSet) func(context.Context, *bench.Env) (bench.Result, error) {
	n := fs.Int("n", bench.DefaultSequencerN, "transactions committed by each run")
	writers := fs.Int("writers", bench.DefaultSequencerWriters, "goroutines committing transactions at once")
	pairs := fs.Int("pairs", bench.DefaultSequencerPairs, "runs without and with the sequencer, alternately first")
	pg := fs.String("postgres", os.Getenv("EVENTFEED_POSTGRES_DSN"), "`DSN` of the PostgreSQL database (a throwaway schema is made and dropped for each run); default $EVENTFEED_POSTGRES_DSN")
	return func(ctx context.Context, env *bench.Env) (bench.Result, error) {
		if *n <= 0 || *writers <= 0 || *pairs <= 0 {
			return nil, usagef("-n, -writers and -pairs must be positive")
		}
		if *pg == "" {
			return nil, usagef("-postgres is required")
		}
		return bench.Sequencer(ctx, env, bench.SequencerConfig{Postgres: *pg, N: *n, Writers: *writers, Pairs: *pairs})
	}
}
