// Command loadtest is a closed-loop HTTP load generator for the demo: c
// workers send GET requests to one URL back to back for a duration, then it
// prints requests per second and latency quantiles of the 200 answers, and
// how many answers had another status, by status.
//
//	go run ./examples/demo/internal/loadtest -url http://127.0.0.1:8080/t/acme/api/properties \
//		-H "Authorization: Bearer $TOKEN" -c 16 -d 10s
//
// The demo's /api routes need a token (demo token create) and enforce the
// tenant's plan limit, so past the limit the answers are 429s, which are
// counted by status and left out of the latency quantiles. The in-process
// benchmarks BenchmarkGetPropertiesPage and BenchmarkPropertiesPageLoopback
// measure the data path without those layers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// headers is the repeatable -H flag: "Name: value".
type headers [][2]string

func (h *headers) String() string { return fmt.Sprint(*h) }

func (h *headers) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if name = strings.TrimSpace(name); !ok || name == "" {
		return fmt.Errorf("header %q is not \"Name: value\"", v)
	}
	*h = append(*h, [2]string{name, strings.TrimSpace(value)})
	return nil
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/t/acme/api/properties", "URL to GET")
	host := flag.String("host", "", "Host header (e.g. acme.localhost:8080), default from the URL")
	c := flag.Int("c", 16, "concurrent workers (connections)")
	d := flag.Duration("d", 10*time.Second, "duration")
	warm := flag.Duration("warmup", time.Second, "warm-up before measuring")
	var hdr headers
	flag.Var(&hdr, "H", `request header "Name: value" (repeatable), e.g. "Authorization: Bearer <token>"`)
	flag.Parse()
	if *c < 1 || *d <= 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -c must be >= 1 and -d > 0")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}, Timeout: 10 * time.Second}
	get := func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return 0, err
		}
		if *host != "" {
			req.Host = *host
		}
		for _, h := range hdr {
			req.Header.Add(h[0], h[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(context.Background()); err != nil || code != http.StatusOK {
		fmt.Fprintf(os.Stderr, "loadtest: probe: status %d, error %v\n", code, err)
		if code == http.StatusUnauthorized {
			fmt.Fprintln(os.Stderr, `loadtest: the demo's /api routes need a token: -H "Authorization: Bearer <token>" (demo token create)`)
		}
		os.Exit(1)
	}

	run := func(dur time.Duration) ([]time.Duration, map[string]int, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		defer cancel()
		var mu sync.Mutex
		var all []time.Duration
		other := map[string]int{} // non-200 answers by status, and transport errors
		var wg sync.WaitGroup
		start := time.Now()
		for range *c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, 4096)
				bad := map[string]int{}
				for ctx.Err() == nil {
					t0 := time.Now()
					code, err := get(ctx)
					if ctx.Err() != nil {
						break
					}
					if err != nil {
						bad["error"]++
						continue
					}
					if code != http.StatusOK {
						bad[fmt.Sprint(code)]++
						continue
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				for k, n := range bad {
					other[k] += n
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, other, time.Since(start)
	}
	if *warm > 0 {
		run(*warm)
	}
	lat, other, elapsed := run(*d)
	if len(lat) == 0 {
		fmt.Fprintf(os.Stderr, "loadtest: no request answered 200 (other answers: %v)\n", other)
		os.Exit(1)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("url=%s c=%d duration=%s\nok=%d other=%v ok_rps=%.0f\nlatency of 200s p50=%s p90=%s p99=%s max=%s\n",
		*url, *c, elapsed.Round(time.Millisecond), len(lat), other, float64(len(lat))/elapsed.Seconds(),
		q(0.50).Round(time.Microsecond), q(0.90).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}
