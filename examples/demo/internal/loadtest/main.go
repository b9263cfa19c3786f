// Command loadtest is a closed-loop HTTP load generator for the demo: c
// workers send GET requests to one URL back to back for a duration, then it
// prints requests per second and latency quantiles.
//
//	go run ./examples/demo/internal/loadtest -url http://127.0.0.1:8080/t/acme/api/properties -c 16 -d 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/t/acme/api/properties", "URL to GET")
	host := flag.String("host", "", "Host header (e.g. acme.localhost:8080), default from the URL")
	c := flag.Int("c", 16, "concurrent workers (connections)")
	d := flag.Duration("d", 10*time.Second, "duration")
	warm := flag.Duration("warmup", time.Second, "warm-up before measuring")
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
		os.Exit(1)
	}

	run := func(dur time.Duration) ([]time.Duration, int, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		defer cancel()
		var mu sync.Mutex
		var all []time.Duration
		errs := 0
		var wg sync.WaitGroup
		start := time.Now()
		for range *c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, 4096)
				bad := 0
				for ctx.Err() == nil {
					t0 := time.Now()
					code, err := get(ctx)
					if ctx.Err() != nil {
						break
					}
					if err != nil || code != http.StatusOK {
						bad++
						continue
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				errs += bad
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, errs, time.Since(start)
	}
	if *warm > 0 {
		run(*warm)
	}
	lat, errs, elapsed := run(*d)
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "loadtest: no successful request")
		os.Exit(1)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("url=%s c=%d duration=%s\nrequests=%d errors=%d rps=%.0f\nlatency p50=%s p90=%s p99=%s max=%s\n",
		*url, *c, elapsed.Round(time.Millisecond), len(lat), errs, float64(len(lat))/elapsed.Seconds(),
		q(0.50).Round(time.Microsecond), q(0.90).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}
