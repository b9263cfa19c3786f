package monitor

import (
	"math/bits"
	"math/rand/v2"

	"github.com/tenantkit/tenantkit/tenant"
)

// table is one shard's tenants: an immutable open-addressing hash table
// keyed by the same 64-bit hash of the ID that chose the shard, so a lookup
// hashes the ID once. Writers replace it whole (copy on write) under the
// shard's lock; readers never lock. It is at most three quarters full, so
// every probe sequence reaches an empty entry.
type table struct {
	mask    uint64
	n       int // series held
	entries []entry
}

type entry struct {
	hash uint64
	s    *series // nil: empty
}

// find returns the series of id, whose hash is h, or nil.
func (t *table) find(id tenant.ID, h uint64) *series {
	for i := h >> shardBits; ; i++ {
		e := &t.entries[i&t.mask]
		if e.s == nil {
			return nil
		}
		if e.hash == h && e.s.id == id {
			return e.s
		}
	}
}

// newTable returns an empty table with room for n series.
func newTable(n int) *table {
	size := 4
	for size*3 < n*4 {
		size *= 2
	}
	return &table{mask: uint64(size - 1), entries: make([]entry, size)}
}

func (t *table) put(e entry) {
	i := e.hash >> shardBits
	for t.entries[i&t.mask].s != nil {
		i++
	}
	t.entries[i&t.mask] = e
	t.n++
}

// with returns a copy of t (nil: empty) that also holds s under hash h.
func (t *table) with(s *series, h uint64) *table {
	if t == nil {
		nt := newTable(1)
		nt.put(entry{hash: h, s: s})
		return nt
	}
	nt := newTable(t.n + 1)
	for _, e := range t.entries {
		if e.s != nil {
			nt.put(e)
		}
	}
	nt.put(entry{hash: h, s: s})
	return nt
}

// filter returns a copy of t with only the series keep is true of (nil when
// none is), and how many it dropped. keep is called once per series.
func (t *table) filter(keep func(*series) bool) (*table, int) {
	kept := make([]entry, 0, t.n)
	for _, e := range t.entries {
		if e.s != nil && keep(e.s) {
			kept = append(kept, e)
		}
	}
	dropped := t.n - len(kept)
	if len(kept) == 0 {
		return nil, dropped
	}
	nt := newTable(len(kept))
	for _, e := range kept {
		nt.put(e)
	}
	return nt, dropped
}

// any reports whether f is true of a series of t.
func (t *table) any(f func(*series) bool) bool {
	for _, e := range t.entries {
		if e.s != nil && f(e.s) {
			return true
		}
	}
	return false
}

// hashKeys are the random keys of a Recorder's hash of tenant IDs.
type hashKeys [2]uint64

func newHashKeys() hashKeys {
	// Odd keys, as the runtime's fallback hash requires of its own.
	return hashKeys{rand.Uint64() | 1, rand.Uint64() | 1}
}

// hash is a keyed 64-bit hash of s: the Go runtime's fallback string hash
// (wyhash's multiply-fold mixing), which the runtime uses for maps where AES
// is absent. It is here rather than hash/maphash because it inlines its
// reads of short IDs; maphash reaches the same kind of hash through three
// calls, which on the request path cost more than the hashing. The keys are
// random per Recorder, so tenant IDs chosen to collide cannot be precomputed.
func (k *hashKeys) hash(s string) uint64 {
	n := len(s)
	seed := k[0]
	var a, b uint64
	switch {
	case n == 0:
		return seed
	case n < 4:
		a = uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16
	case n <= 8:
		a, b = le32(s), le32(s[n-4:])
	case n <= 16:
		a, b = le64(s), le64(s[n-8:])
	default:
		i := 0
		for ; n-i > 16; i += 16 {
			seed = mix(le64(s[i:])^k[1], le64(s[i+8:])^seed)
		}
		a, b = le64(s[n-16:]), le64(s[n-8:])
	}
	return mix(0x1d8e4e27c47d124f^uint64(n), mix(a^k[1], b^seed))
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// le32 and le64 read the first 4 or 8 bytes of s, little-endian; the
// compiler turns each into one load.
func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
