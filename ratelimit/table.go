package ratelimit

import "math/bits"

// table is an open-addressing hash table with linear probing and
// backward-shift deletion (no tombstones), keyed by a non-zero 64-bit hash.
// Each slot holds the hash, a value and an expiry instant: for rate-limit
// state the value is the TAT and the expiry is the TAT too (a key whose TAT
// has passed holds no information and may be dropped); for quota counters
// the value is the count and the expiry the end of the period.
//
// The table grows by half up to maxSlots, which keeps at most maxLive entries
// under an 85% load; at maxLive, inserting evicts the entry with the
// earliest expiry among a few near the new key's home slot. A table is not
// safe for concurrent use: its shard's mutex guards it.
type table[S slotType] struct {
	slots    []S
	live     int
	maxLive  int
	maxSlots int
	cursor   int
	evicted  uint64
}

// slotType is one of the two slot layouts.
type slotType interface {
	rateSlot | quotaSlot
}

// rateSlot is 16 bytes: the retained cost of one rate-limited key.
type rateSlot struct {
	h   uint64
	tat int64
}

type quotaSlot struct {
	h     uint64
	count int64
	exp   int64
}

func hashOf[S slotType](s *S) uint64 {
	switch p := any(s).(type) {
	case *rateSlot:
		return p.h
	case *quotaSlot:
		return p.h
	}
	return 0
}

func expOf[S slotType](s *S) int64 {
	switch p := any(s).(type) {
	case *rateSlot:
		return p.tat
	case *quotaSlot:
		return p.exp
	}
	return 0
}

const (
	minSlots   = 8
	loadNum    = 17 // maximum load 17/20 = 85%
	loadDen    = 20
	evictProbe = 8 // entries considered when evicting
	sweepStep  = 2 // slots checked for idle entries on each insert
)

func newTable[S slotType](maxLive int) table[S] {
	maxLive = max(maxLive, 1)
	return table[S]{maxLive: maxLive, maxSlots: max((maxLive*loadDen+loadNum-1)/loadNum, minSlots)}
}

// home maps h to a slot index; the shard index uses the top bits of h, so
// the low bits are shifted up first.
func (t *table[S]) home(h uint64) int {
	hi, _ := bits.Mul64(h<<8|h>>56, uint64(len(t.slots)))
	return int(hi)
}

// find returns the index of h, or -1.
func (t *table[S]) find(h uint64) int {
	if len(t.slots) == 0 {
		return -1
	}
	i := t.home(h)
	for {
		sh := hashOf(&t.slots[i])
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

// insert adds a new entry for h (absent) and returns its index. now is used
// to drop idle entries. Growing allocates; a table at maxSlots never does.
func (t *table[S]) insert(h uint64, now int64) int {
	t.sweep(now)
	if t.live >= t.maxLive {
		t.evict(h, now)
	} else if (t.live+1)*loadDen > len(t.slots)*loadNum && len(t.slots) < t.maxSlots {
		t.grow()
	}
	i := t.home(h)
	for hashOf(&t.slots[i]) != 0 {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	t.live++
	return i
}

func (t *table[S]) grow() {
	n := max(len(t.slots)+len(t.slots)/2, minSlots)
	n = min((n+7)&^7, t.maxSlots)
	old := t.slots
	t.slots = make([]S, n)
	for k := range old {
		h := hashOf(&old[k])
		if h == 0 {
			continue
		}
		i := t.home(h)
		for hashOf(&t.slots[i]) != 0 {
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
func (t *table[S]) sweep(now int64) {
	if len(t.slots) == 0 {
		return
	}
	for range sweepStep {
		if t.cursor >= len(t.slots) {
			t.cursor = 0
		}
		s := &t.slots[t.cursor]
		if hashOf(s) != 0 && expOf(s) <= now {
			t.remove(t.cursor)
		} else {
			t.cursor++
		}
	}
}

// evict removes the entry with the earliest expiry among the entries from
// h's home slot onwards (or from the cursor when that run is empty).
func (t *table[S]) evict(h uint64, now int64) {
	i := t.home(h)
	if hashOf(&t.slots[i]) == 0 {
		i = t.cursor % len(t.slots)
		for hashOf(&t.slots[i]) == 0 {
			if i++; i == len(t.slots) {
				i = 0
			}
		}
	}
	victim, oldest := -1, int64(0)
	for range evictProbe {
		s := &t.slots[i]
		if hashOf(s) == 0 {
			break
		}
		if e := expOf(s); victim < 0 || e < oldest {
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
func (t *table[S]) remove(i int) {
	n := len(t.slots)
	var zero S
	for {
		t.slots[i] = zero
		j := i
		for {
			if j++; j == n {
				j = 0
			}
			h := hashOf(&t.slots[j])
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
