package backup

import (
	"hash/maphash"
	"slices"
)

// keySet holds 64-bit hashes of the keys seen in one table section, in
// row order while the section streams and sorted once it is complete:
// 8 bytes per row, whatever the key. Hashes use a seed chosen per
// validation, so no file can be crafted to collide; a collision (odds
// about n²/2⁶⁵) could only refuse a good file (a false duplicate), and a
// missing parent it hid would still be refused by the database's own
// foreign key when the restore inserts.
type keySet struct {
	chunks [][]uint64
	n      int
	sorted []uint64
}

const keyChunk = 8192

func (s *keySet) add(h uint64) {
	if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) == keyChunk {
		s.chunks = append(s.chunks, make([]uint64, 0, keyChunk))
	}
	last := len(s.chunks) - 1
	s.chunks[last] = append(s.chunks[last], h)
	s.n++
}

// seal sorts the set and returns the 1-based rows of the first duplicate
// found (0, 0 when there is none). The row-order chunks are released.
func (s *keySet) seal() (first, second int64) {
	s.sorted = make([]uint64, 0, s.n)
	for _, c := range s.chunks {
		s.sorted = append(s.sorted, c...)
	}
	slices.Sort(s.sorted)
	var dup uint64
	found := false
	for i := 1; i < len(s.sorted); i++ {
		if s.sorted[i] == s.sorted[i-1] {
			dup, found = s.sorted[i], true
			break
		}
	}
	if found {
		var row int64
		for _, c := range s.chunks {
			for _, h := range c {
				row++
				if h != dup {
					continue
				}
				if first == 0 {
					first = row
				} else {
					second = row
					break
				}
			}
			if second != 0 {
				break
			}
		}
	}
	s.chunks = nil
	return first, second
}

func (s *keySet) has(h uint64) bool {
	_, ok := slices.BinarySearch(s.sorted, h)
	return ok
}

// hashValues hashes the values at cols of vals (nil cols: all of vals).
func hashValues(seed maphash.Seed, vals []value, cols []int) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	one := func(v value) {
		if v.null {
			h.WriteByte(0)
			return
		}
		h.WriteByte(1)
		var n [8]byte
		l := len(v.s)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.WriteString(v.s)
	}
	if cols == nil {
		for _, v := range vals {
			one(v)
		}
	} else {
		for _, c := range cols {
			one(vals[c])
		}
	}
	return h.Sum64()
}
