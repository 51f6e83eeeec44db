package bench

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventfeed/eventfeed"
)

// Env is what the scenarios need from their surroundings.
type Env struct {
	// Command returns a command that runs the eventfeed binary with args,
	// such as "serve -db FILE -addr 127.0.0.1:0" or "seed …". The
	// scenarios start it, stop it with SIGTERM and read its peak RSS when
	// it has exited. Required.
	Command func(args ...string) *exec.Cmd
	// Dir is a scratch directory for databases and configuration files,
	// which the caller removes afterwards. Required.
	Dir string
	// Log receives a line for each step of a scenario; nil discards them.
	Log io.Writer
	// Event returns the i-th synthetic event of a feed with about size
	// bytes of JSON data, like those "eventfeed seed" appends, for the
	// scenarios that append in this process. Required.
	Event func(feed string, i, size int) eventfeed.Event
	// Nginx is the path of the nginx binary the serve scenario compares
	// with; empty skips the comparison.
	Nginx string
}

func (e *Env) check() error {
	switch {
	case e.Command == nil:
		return errors.New("bench: Env.Command is nil")
	case e.Dir == "":
		return errors.New("bench: Env.Dir is empty")
	case e.Event == nil:
		return errors.New("bench: Env.Event is nil")
	}
	return nil
}

// eventSize is the size of the data of the synthetic events.
const eventSize = 300

func (e *Env) event(feed string, i int) eventfeed.Event {
	return e.Event(feed, i, eventSize)
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// Machine describes where and when a scenario ran.
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	Go    string `json:"go"`
	OS    string `json:"os"`
	// Date is when the scenario started.
	Date time.Time `json:"date"`
	// LoadBefore and LoadAfter are the 1, 5 and 15 minute load averages
	// before and after the scenario: the machine may be shared.
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
}

// startMachine describes this machine now; finish adds the load after.
func startMachine() Machine {
	m := Machine{
		CPU:   cpuModel(),
		Cores: runtime.NumCPU(),
		Go:    runtime.Version(),
		OS:    runtime.GOOS + "/" + runtime.GOARCH,
		Date:  time.Now().UTC().Truncate(time.Second),
	}
	m.LoadBefore, _ = loadAverage()
	return m
}

func (m *Machine) finish() { m.LoadAfter, _ = loadAverage() }

func (m *Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %s %s, %s, load %.2f before, %.2f after",
		m.CPU, m.Cores, m.Go, m.OS, m.Date.Format(time.RFC3339), m.LoadBefore[0], m.LoadAfter[0])
}

// A Result is the outcome of one scenario: it encodes to one JSON object
// and prints as a table.
type Result interface {
	WriteTable(w io.Writer) error
}

// table is a titled table with notes under it.
type table struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\n", t.title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.header, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(t.notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range t.notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// f formats x with prec decimals; n formats a count.
func f(x float64, prec int) string { return fmt.Sprintf("%.*f", prec, x) }
func n(x int64) string             { return fmt.Sprintf("%d", x) }
