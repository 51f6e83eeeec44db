package bench

import (
	"math"
	"slices"
	"time"
)

// Percentiles summarize a set of durations, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarize returns the percentiles of samples (nearest rank), sorting
// samples in place.
func summarize(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	slices.Sort(samples)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(samples)))) - 1
		return ms(samples[min(max(i, 0), len(samples)-1)])
	}
	return Percentiles{
		N:   len(samples),
		P50: rank(0.50),
		P90: rank(0.90),
		P99: rank(0.99),
		Max: ms(samples[len(samples)-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mb returns n bytes in MiB.
func mb(n int64) float64 { return float64(n) / (1 << 20) }

// perSecond returns n per d.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ratio returns a / b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
