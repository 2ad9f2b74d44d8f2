package sqlite

import (
	"slices"
	"sync/atomic"
)

// strCache is the str table in memory, indexed by id, read without a lock:
// decoding a record looks up a dozen strings, and under a read lock the
// searches running at once (the non-owner report's workers) contended for
// its cache line.
//
// Ids are the table's rowids, dense from 1: nothing deletes from the table,
// and an id a failed commit took is given to the next new string (so undo
// must forget it). The strings are published whole, a new slice header with
// one atomic store, and a slot that a published slice covers is never
// written again: a string beyond the length is written in place (no reader
// sees that slot yet), any other change is made in a copy. "" marks an id not
// cached (the table holds no empty string), such as one another process
// added. Writers hold Store.mu.
type strCache struct {
	p atomic.Pointer[[]string]
}

func (c *strCache) get(id int64) (string, bool) {
	if p := c.p.Load(); p != nil && uint64(id) < uint64(len(*p)) {
		s := (*p)[id]
		return s, s != ""
	}
	return "", false
}

func (c *strCache) strings() []string {
	if p := c.p.Load(); p != nil {
		return *p
	}
	return nil
}

// A strEntry is an id of the str table and its string.
type strEntry struct {
	id int64
	s  string
}

// set caches id's string.
func (c *strCache) set(id int64, s string) { c.add(strEntry{id, s}) }

// add caches strings, publishing them at once.
func (c *strCache) add(entries ...strEntry) {
	cur := c.strings()
	top, inside := int64(len(cur))-1, false
	for _, e := range entries {
		if e.id > 0 {
			top = max(top, e.id)
			inside = inside || e.id < int64(len(cur))
		}
	}
	var next []string
	switch {
	case top < int64(cap(cur)) && !inside:
		// The slots up to top are beyond every published length, so still
		// empty.
		next = cur[:top+1]
	case inside:
		// A slot readers may see changes: in a copy, as roomy as cur.
		next = make([]string, top+1, max(cap(cur), int(top)+1))
		copy(next, cur)
	default:
		next = make([]string, top+1, max(2*cap(cur), int(top)+1, 1024))
		copy(next, cur)
	}
	for _, e := range entries {
		if e.id > 0 {
			next[e.id] = e.s
		}
	}
	c.p.Store(&next)
}

// forget takes ids back out of the cache.
func (c *strCache) forget(ids []int64) {
	if len(ids) == 0 {
		return
	}
	next := slices.Clone(c.strings())
	for _, id := range ids {
		if id > 0 && id < int64(len(next)) {
			next[id] = ""
		}
	}
	for len(next) > 0 && next[len(next)-1] == "" {
		next = next[:len(next)-1]
	}
	c.p.Store(&next)
}

// replace caches strs (indexed by id) instead of what was cached.
func (c *strCache) replace(strs []string) { c.p.Store(&strs) }
