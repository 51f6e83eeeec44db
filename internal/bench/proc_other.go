//go:build !linux

package bench

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// errNoProc reports a figure read from /proc on a system without it.
var errNoProc = errors.New("bench: memory figures need Linux /proc")

func procMemory(int) (rss, peak int64, err error) { return 0, 0, errNoProc }
func resetPeak(int) error                         { return errNoProc }
func peakRSS(*os.ProcessState) int64              { return 0 }
func dieWithParent(*exec.Cmd)                     {}
func raiseNoFile(want uint64) (uint64, error)     { return 0, errNoProc }
func loadAverage() ([3]float64, error)            { return [3]float64{}, errNoProc }
func cpuModel() string                            { return "" }
func procCPU(int) (time.Duration, error)          { return 0, errNoProc }
func childPIDs(int) ([]int, error)                { return nil, errNoProc }
