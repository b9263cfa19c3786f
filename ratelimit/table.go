package ratelimit

import (
	"math"
	"math/bits"
)

// table is an open-addressing hash table with linear probing and
// backward-shift deletion (no tombstones), keyed by a non-zero 64-bit hash.
// Each slot holds the hash, an expiry instant and a value: for rate-limit
// state the expiry is the TAT and there is no value (a key whose TAT has
// passed holds no information and may be dropped); for quota counters the
// value is the count and the expiry the end of the period.
//
// The table grows by half up to maxSlots, which keeps at most maxLive entries
// under an 85% load; at maxLive, inserting evicts the entry with the
// earliest expiry among a few near the new key's home slot. A table is not
// safe for concurrent use: its shard's mutex guards it.
//
// Idle entries (expiry at or before now) are dropped lazily, only when
// room is needed: an insert at maxLive first sweeps every slot, at most
// once per len/4 inserts (so at most 4 slot visits per insert), and
// between full sweeps the next few slots of a round-robin cursor. If that
// leaves no room, the cursor moves on until it drops an idle entry; only a
// whole lap without one evicts a live entry. The lap also learns the
// earliest expiry, minExp, and no lap runs again before now reaches it, so
// a table full of live entries is not scanned on every insert. Below
// maxLive a table with sweepToGrow sweeps the same way before it grows
// (quota counters: one past its period is never looked up again), and one
// without it (rate-limit state) just grows to the high-water mark of its
// keys: an idle entry that is found again is reused, so a key that comes
// back costs no insert.
//
// An entry's expiry may be raised after insert but never lowered: minExp
// is a lower bound of every expiry in the table.
type table[V any] struct {
	slots    []slot[V]
	live     int
	maxLive  int
	maxSlots int
	cursor   int
	evicted  uint64
	// inserts left before the next full sweep may run
	sweepWait int
	// sweep before growing, not only at maxLive
	sweepToGrow bool
	// no entry expires before minExp (exact after a full sweep or lap)
	minExp int64
}

// slot is one entry: its key's hash (0: empty), its expiry and a value.
// The value comes first so that a zero-size value (rateSlot) adds no
// padding.
type slot[V any] struct {
	v   V
	h   uint64
	exp int64
}

// rateSlot is 16 bytes, the retained cost of one rate-limited key: its
// expiry is its TAT.
type rateSlot = slot[struct{}]

// quotaSlot holds a quota counter: the value is the count, the expiry the
// end of the counter's period.
type quotaSlot = slot[int64]

const (
	minSlots   = 8
	loadNum    = 17 // maximum load 17/20 = 85%
	loadDen    = 20
	evictProbe = 8 // entries considered when evicting
	sweepStep  = 2 // slots checked for idle entries on an insert at maxLive
)

func newTable[V any](maxLive int) table[V] {
	maxLive = max(maxLive, 1)
	return table[V]{maxLive: maxLive, maxSlots: max((maxLive*loadDen+loadNum-1)/loadNum, minSlots), minExp: math.MaxInt64}
}

// home maps h to a slot index. The shard index uses up to the top 16 bits
// of h (NewMemory makes at most 1<<16 shards), which all keys of a table
// share, so h is rotated by 16 bits first: a rotation by less would leave
// the top bits of the product the same for every key of a shard when there
// are more shards than 1<<rotation, and pile the keys into one run.
func (t *table[V]) home(h uint64) int {
	hi, _ := bits.Mul64(bits.RotateLeft64(h, 16), uint64(len(t.slots)))
	return int(hi)
}

// find returns the index of h, or -1.
func (t *table[V]) find(h uint64) int {
	if len(t.slots) == 0 {
		return -1
	}
	i := t.home(h)
	for {
		sh := t.slots[i].h
		if sh == h {
			return i
		}
		if sh == 0 {
			return -1
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// insert adds a new entry for h (absent) expiring at exp, with a zero
// value, and returns its index. now is used to drop idle entries. Growing
// allocates; a table at maxSlots never does.
func (t *table[V]) insert(h uint64, exp, now int64) int {
	t.sweepWait--
	if t.live >= t.maxLive || t.sweepToGrow && t.full() {
		if t.sweepWait <= 0 {
			t.sweepAll(now)
			t.sweepWait = len(t.slots) / 4
		} else if t.live >= t.maxLive {
			t.sweep(now)
		}
		if t.live >= t.maxLive && !t.reclaim(now) {
			t.evict(h, now)
		} else if t.full() {
			t.grow()
		}
	} else if t.full() {
		t.grow()
	}
	i := t.home(h)
	for t.slots[i].h != 0 {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	t.live++
	t.slots[i].h, t.slots[i].exp = h, exp
	t.minExp = min(t.minExp, exp)
	return i
}

// reclaim moves the cursor on until it drops one idle entry, and reports
// whether it did. A whole lap without one proves that every entry is
// live: minExp is then the earliest expiry, and until now reaches it
// reclaim returns at once.
func (t *table[V]) reclaim(now int64) bool {
	if t.minExp > now || len(t.slots) == 0 {
		return false
	}
	low := int64(math.MaxInt64)
	for range len(t.slots) {
		if t.cursor >= len(t.slots) {
			t.cursor = 0
		}
		s := &t.slots[t.cursor]
		if s.h != 0 {
			if s.exp <= now {
				t.remove(t.cursor)
				return true
			}
			low = min(low, s.exp)
		}
		t.cursor++
	}
	t.minExp = low
	return false
}

// full reports whether one more entry needs a larger table.
func (t *table[V]) full() bool {
	return (t.live+1)*loadDen > len(t.slots)*loadNum && len(t.slots) < t.maxSlots
}

// sweepAll drops every idle entry (expiry at or before now). A removal
// shifts later entries of the run back into the slot just checked, which
// is then checked again; entries only ever move into that slot or into
// slots of a run that wrapped past the end, which were visited (and kept)
// already.
func (t *table[V]) sweepAll(now int64) {
	low := int64(math.MaxInt64)
	for i := 0; i < len(t.slots); {
		s := &t.slots[i]
		if s.h != 0 && s.exp <= now {
			t.remove(i)
		} else {
			if s.h != 0 {
				low = min(low, s.exp)
			}
			i++
		}
	}
	t.cursor = 0
	t.minExp = low
}

func (t *table[V]) grow() {
	n := max(len(t.slots)+len(t.slots)/2, minSlots)
	n = min((n+7)&^7, t.maxSlots)
	old := t.slots
	t.slots = make([]slot[V], n)
	for k := range old {
		h := old[k].h
		if h == 0 {
			continue
		}
		i := t.home(h)
		for t.slots[i].h != 0 {
			if i++; i == len(t.slots) {
				i = 0
			}
		}
		t.slots[i] = old[k]
	}
	t.cursor = 0
}

// sweep drops idle entries (expiry at or before now) among the next few
// slots of a round-robin cursor, so idle keys leave without a full scan.
func (t *table[V]) sweep(now int64) {
	if len(t.slots) == 0 {
		return
	}
	for range sweepStep {
		if t.cursor >= len(t.slots) {
			t.cursor = 0
		}
		s := &t.slots[t.cursor]
		if s.h != 0 && s.exp <= now {
			t.remove(t.cursor)
		} else {
			t.cursor++
		}
	}
}

// evict removes the entry with the earliest expiry among the entries from
// h's home slot onwards (or from the cursor when that run is empty).
func (t *table[V]) evict(h uint64, now int64) {
	i := t.home(h)
	if t.slots[i].h == 0 {
		i = t.cursor % len(t.slots)
		for t.slots[i].h == 0 {
			if i++; i == len(t.slots) {
				i = 0
			}
		}
	}
	victim, oldest := -1, int64(0)
	for range evictProbe {
		s := &t.slots[i]
		if s.h == 0 {
			break
		}
		if e := s.exp; victim < 0 || e < oldest {
			victim, oldest = i, e
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	if oldest > now {
		t.evicted++ // live state lost: counted so operators can size Capacity
	}
	t.remove(victim)
}

// remove deletes the entry at i by shifting later entries of its run back.
func (t *table[V]) remove(i int) {
	n := len(t.slots)
	var zero slot[V]
	for {
		t.slots[i] = zero
		j := i
		for {
			if j++; j == n {
				j = 0
			}
			h := t.slots[j].h
			if h == 0 {
				t.live--
				return
			}
			k := t.home(h)
			// The entry at j may stay only if its home lies cyclically in (i, j].
			if i <= j {
				if i < k && k <= j {
					continue
				}
			} else if i < k || k <= j {
				continue
			}
			break
		}
		t.slots[i] = t.slots[j]
		i = j
	}
}
