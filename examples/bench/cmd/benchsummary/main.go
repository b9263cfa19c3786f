// Command benchsummary reads `go test -bench` output of the bench package
// and prints, per workload, every library's median side by side with
// tenantkit's ratio to the fastest peer, the middleware overhead over the
// bare handler, and the Redis decisions relative to a PING round trip.
//
// Usage: go run ./cmd/benchsummary bench.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// sample key: workload, impl, unit.
type key struct{ workload, impl, unit string }

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsummary:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	samples, workloads, impls := parse(in)
	med := func(w, i, u string) (float64, bool) {
		v := samples[key{w, i, u}]
		if len(v) == 0 {
			return 0, false
		}
		s := slices.Clone(v)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2], true
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
	}

	fmt.Println("Medians per workload (ns/op; allocs/op in brackets; B/key for Keys1M).")
	for _, w := range workloads {
		fmt.Printf("\n%s\n", w)
		var fastestPeer string
		best := math.Inf(1)
		for _, i := range impls[w] {
			ns, _ := med(w, i, "ns/op")
			unitNS := ns
			if d, ok := med(w, i, "ns/decision"); ok {
				unitNS = d
			}
			line := fmt.Sprintf("  %-22s %12s", i, human(unitNS))
			if a, ok := med(w, i, "allocs/op"); ok && w != "Keys1M" {
				line += fmt.Sprintf("  [%g allocs]", a)
			}
			if bk, ok := med(w, i, "B/key"); ok {
				line += fmt.Sprintf("  %7.1f B/key", bk)
			}
			if dn, ok := med(w, i, "denied/op"); ok && dn > 0 {
				line += fmt.Sprintf("  %.2f denied/op", dn)
			}
			if e, ok := med(w, i, "errors/op"); ok && e > 0 {
				line += fmt.Sprintf("  %.4f errors/op", e)
			}
			fmt.Println(line)
			if peer(i) && unitNS > 0 && unitNS < best {
				best, fastestPeer = unitNS, i
			}
		}
		tk, ok := med(w, "tenantkit", "ns/op")
		if d, dok := med(w, "tenantkit", "ns/decision"); dok {
			tk = d
		}
		switch {
		case w == "Middleware":
			bare, bok := med(w, "bare", "ns/op")
			bareA, _ := med(w, "bare", "allocs/op")
			if bok {
				fmt.Println("  overhead over bare:")
				for _, i := range impls[w] {
					if i == "bare" {
						continue
					}
					ns, _ := med(w, i, "ns/op")
					a, _ := med(w, i, "allocs/op")
					fmt.Printf("    %-20s %10s  %+g allocs\n", i, human(ns-bare), a-bareA)
				}
			}
		case strings.HasPrefix(w, "Redis"):
			ping, pok := med(w, "ping", "ns/op")
			if pok {
				fmt.Println("  relative to PING:")
				for _, i := range impls[w] {
					ns, _ := med(w, i, "ns/op")
					fmt.Printf("    %-20s %6.2fx\n", i, ns/ping)
				}
			}
		case ok && fastestPeer != "":
			fmt.Printf("  tenantkit / fastest peer (%s): %.2fx\n", fastestPeer, tk/best)
		}
	}
}

// peer reports whether impl is a peer library rather than tenantkit or a
// baseline.
func peer(impl string) bool {
	return !strings.HasPrefix(impl, "tenantkit") && impl != "bare" && impl != "ping"
}

func human(ns float64) string {
	switch {
	case math.Abs(ns) >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case math.Abs(ns) >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// parse reads benchmark lines "BenchmarkW/impl=I-P  N  v unit  v unit ...".
func parse(r io.Reader) (map[key][]float64, []string, map[string][]string) {
	samples := map[key][]float64{}
	var workloads []string
	impls := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if j := strings.LastIndexByte(name, '-'); j > 0 {
			if _, err := strconv.Atoi(name[j+1:]); err == nil {
				name = name[:j]
			}
		}
		w, impl, ok := strings.Cut(name, "/impl=")
		if !ok {
			continue
		}
		if !slices.Contains(workloads, w) {
			workloads = append(workloads, w)
		}
		if !slices.Contains(impls[w], impl) {
			impls[w] = append(impls[w], impl)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			k := key{w, impl, f[i+1]}
			samples[k] = append(samples[k], v)
		}
	}
	return samples, workloads, impls
}
