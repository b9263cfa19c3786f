package backup

import (
	"container/heap"
	"hash/maphash"
	"slices"
	"sort"
)

// keySet holds 64-bit hashes of the keys seen in one table section: 8
// bytes per row (plus 2 for its position while the section streams),
// whatever the key. Hashes use a seed chosen per validation, so no file
// can be crafted to collide; a collision (odds about n²/2⁶⁵) could only
// refuse a good file (a false duplicate), and a missing parent it hid
// would still be refused by the database's own foreign key when the
// restore inserts.
//
// Rows go into chunks of keyChunk hashes, each sorted (with the rows'
// positions) when full, so that sealing finds duplicates by merging the
// chunks without a second copy of the set; only a set that later rows
// look up (needed) is then flattened into one sorted slice.
type keySet struct {
	chunks []*keyChunkT
	n      int
	sorted []uint64
}

const keyChunk = 8192

type keyChunkT struct {
	h   []uint64
	pos []uint16 // row within the chunk, permuted with h
}

func (c *keyChunkT) Len() int           { return len(c.h) }
func (c *keyChunkT) Less(i, j int) bool { return c.h[i] < c.h[j] }
func (c *keyChunkT) Swap(i, j int) {
	c.h[i], c.h[j] = c.h[j], c.h[i]
	c.pos[i], c.pos[j] = c.pos[j], c.pos[i]
}

func (s *keySet) add(h uint64) {
	if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1].h) == keyChunk {
		if len(s.chunks) > 0 {
			sort.Sort(s.chunks[len(s.chunks)-1])
		}
		s.chunks = append(s.chunks, &keyChunkT{h: make([]uint64, 0, keyChunk), pos: make([]uint16, 0, keyChunk)})
	}
	c := s.chunks[len(s.chunks)-1]
	c.pos = append(c.pos, uint16(len(c.h)))
	c.h = append(c.h, h)
	s.n++
}

// cursor heap for the k-way merge of the sorted chunks.
type cursor struct{ chunk, i int }

type cursors struct {
	s  *keySet
	cs []cursor
}

func (c *cursors) Len() int { return len(c.cs) }
func (c *cursors) Less(i, j int) bool {
	a, b := c.cs[i], c.cs[j]
	return c.s.chunks[a.chunk].h[a.i] < c.s.chunks[b.chunk].h[b.i]
}
func (c *cursors) Swap(i, j int) { c.cs[i], c.cs[j] = c.cs[j], c.cs[i] }
func (c *cursors) Push(x any)    { c.cs = append(c.cs, x.(cursor)) }
func (c *cursors) Pop() any {
	x := c.cs[len(c.cs)-1]
	c.cs = c.cs[:len(c.cs)-1]
	return x
}

// seal completes the set and returns the 1-based rows of the first
// duplicate found (0, 0 when there is none). With needed the set is kept
// as one sorted slice for has; otherwise it is released.
func (s *keySet) seal(needed bool) (first, second int64) {
	if len(s.chunks) > 0 {
		sort.Sort(s.chunks[len(s.chunks)-1])
	}
	row := func(c cursor) int64 {
		return int64(c.chunk)*keyChunk + int64(s.chunks[c.chunk].pos[c.i]) + 1
	}
	cs := &cursors{s: s}
	for i, c := range s.chunks {
		if len(c.h) > 0 {
			cs.cs = append(cs.cs, cursor{i, 0})
		}
	}
	heap.Init(cs)
	var prev cursor
	havePrev := false
	var out []uint64
	if needed {
		out = make([]uint64, 0, s.n)
	}
	for cs.Len() > 0 {
		c := cs.cs[0]
		h := s.chunks[c.chunk].h[c.i]
		if havePrev && s.chunks[prev.chunk].h[prev.i] == h && first == 0 {
			first, second = min(row(prev), row(c)), max(row(prev), row(c))
		}
		if needed {
			out = append(out, h)
		}
		prev, havePrev = c, true
		if c.i+1 < len(s.chunks[c.chunk].h) {
			cs.cs[0].i++
			heap.Fix(cs, 0)
		} else {
			heap.Pop(cs)
		}
	}
	s.chunks = nil
	s.sorted = out
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
