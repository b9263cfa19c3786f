package monitor

import (
	"math"
	"math/bits"
	"time"
)

// NumBuckets is the number of latency buckets: 18 finite log₂ buckets from
// about 0.122 ms to 16 s, plus one for everything slower.
const NumBuckets = 19

// bucketUnit is 2000 ms / 2¹⁴ expressed as a fraction: 1953125/16 ns. Bucket
// k has the upper bound bucketUnit·2ᵏ, so bucket 14 ends exactly at 2000 ms
// and "slower than 2000 ms" is a count of whole buckets, not an estimate.
const (
	bucketNum = 1953125
	bucketDen = 16
	// SlowBucket is the index of the bucket whose upper bound is exactly
	// 2000 ms, the original design's "slow" threshold.
	SlowBucket = 14
)

// BucketUpperBound returns the inclusive upper bound of bucket k, or +Inf for
// the last bucket.
func BucketUpperBound(k int) time.Duration {
	if k >= NumBuckets-1 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(bucketNum * (int64(1) << k) / bucketDen)
}

// bucketOf returns the bucket of a duration: the smallest k with
// d ≤ BucketUpperBound(k).
func bucketOf(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	if d > BucketUpperBound(NumBuckets-2) {
		return NumBuckets - 1
	}
	q := (uint64(d)*bucketDen - 1) / bucketNum
	return bits.Len64(q)
}

// Histogram is a latency distribution in the package's fixed log₂ buckets
// (see BucketUpperBound). The zero value is empty and ready to use. It is a
// plain value: not safe for concurrent mutation.
type Histogram struct {
	Counts [NumBuckets]uint64
}

// Observe adds one request of duration d.
func (h *Histogram) Observe(d time.Duration) { h.Counts[bucketOf(d)]++ }

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
}

// Total returns the number of requests in h.
func (h *Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// CountAbove returns how many requests took longer than d. It is exact when
// d is a bucket boundary (2000 ms is); otherwise it counts every bucket whose
// upper bound exceeds d, an over-estimate by at most one bucket.
func (h *Histogram) CountAbove(d time.Duration) uint64 {
	var n uint64
	for k := NumBuckets - 1; k >= 0; k-- {
		if BucketUpperBound(k) <= d {
			break
		}
		n += h.Counts[k]
	}
	return n
}

// Quantile returns the q-quantile (0 < q ≤ 1) in milliseconds, interpolated
// linearly inside the bucket that holds it, or an absent Value when h is
// empty or q is out of range. A quantile that falls in the last, unbounded
// bucket is reported as that bucket's lower bound (16 s): "at least".
func (h *Histogram) Quantile(q float64) Value {
	total := h.Total()
	if total == 0 || !(q > 0 && q <= 1) {
		return Value{}
	}
	rank := q * float64(total)
	var cum float64
	for k, c := range h.Counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lower := 0.0
			if k > 0 {
				lower = ms(BucketUpperBound(k - 1))
			}
			if k == NumBuckets-1 {
				return Some(lower)
			}
			upper := ms(BucketUpperBound(k))
			return Some(lower + (upper-lower)*(rank-cum)/float64(c))
		}
		cum += float64(c)
	}
	return Some(ms(BucketUpperBound(NumBuckets - 2)))
}

// Mean returns an estimate of the mean latency in milliseconds, taking each
// bucket's midpoint (the lower bound for the last bucket), or an absent Value
// when h is empty. Quantiles are the better signal; the mean is kept for
// parity with the original design's "average response time".
func (h *Histogram) Mean() Value {
	total := h.Total()
	if total == 0 {
		return Value{}
	}
	var sum float64
	for k, c := range h.Counts {
		if c == 0 {
			continue
		}
		lower := 0.0
		if k > 0 {
			lower = ms(BucketUpperBound(k - 1))
		}
		mid := lower
		if k < NumBuckets-1 {
			mid = (lower + ms(BucketUpperBound(k))) / 2
		}
		sum += mid * float64(c)
	}
	return Some(sum / float64(total))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
