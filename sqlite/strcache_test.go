package sqlite

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestStrCache(t *testing.T) {
	var c strCache
	if s, ok := c.get(1); ok || s != "" {
		t.Fatalf("empty cache: get(1) = %q, %v", s, ok)
	}
	c.set(1, "a")
	c.set(2, "b")
	c.set(5, "e") // a gap: ids another process added
	c.set(0, "zero")
	c.set(-1, "negative")
	for _, tc := range []struct {
		id   int64
		want string
		ok   bool
	}{{0, "", false}, {-1, "", false}, {1, "a", true}, {2, "b", true}, {3, "", false}, {4, "", false}, {5, "e", true}, {6, "", false}, {1 << 40, "", false}} {
		if s, ok := c.get(tc.id); s != tc.want || ok != tc.ok {
			t.Errorf("get(%d) = %q, %v; want %q, %v", tc.id, s, ok, tc.want, tc.ok)
		}
	}
	before := c.strings()
	c.set(3, "c") // inside the published length: in a copy
	if before[3] != "" {
		t.Errorf("set(3) changed a slice already published: %q", before)
	}
	c.forget([]int64{5, 3})
	if _, ok := c.get(5); ok {
		t.Error("get(5) after forget(5) still finds it")
	}
	if got := c.strings(); len(got) != 3 || before[5] != "e" {
		t.Errorf("after forget(5, 3): %q (published before: %q); want the trailing ids gone, the old slice untouched", got, before)
	}
	c.set(3, "c2") // the id taken again, for another string
	if s, _ := c.get(3); s != "c2" {
		t.Errorf("get(3) = %q, want c2", s)
	}
	// Several at once, in a gap and beyond the end.
	before = c.strings()
	c.add(strEntry{7, "g"}, strEntry{4, "d"}, strEntry{6, "f"}, strEntry{0, "zero"})
	for id, want := range []string{"", "a", "b", "c2", "d", "", "f", "g"} {
		if s, ok := c.get(int64(id)); s != want || ok != (want != "") {
			t.Errorf("after add: get(%d) = %q, %v; want %q", id, s, ok, want)
		}
	}
	if len(before) != 4 || before[3] != "c2" {
		t.Errorf("add changed a slice already published: %q", before)
	}
	c.replace([]string{"", "x"})
	if s, _ := c.get(1); s != "x" {
		t.Errorf("after replace, get(1) = %q, want x", s)
	}
	if _, ok := c.get(2); ok {
		t.Error("after replace, get(2) still finds the old string")
	}
}

// TestStrCacheConcurrent: readers see, for every id, either nothing or its
// string, while a writer adds ids, forgets some and gives them to other
// strings (as a failed commit and the next one do). Meant for -race.
func TestStrCacheConcurrent(t *testing.T) {
	var c strCache
	var mu sync.Mutex // Store.mu
	const n = 3000
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(1, 2))
			for {
				select {
				case <-done:
					return
				default:
				}
				id := r.Int64N(n + 10)
				if s, ok := c.get(id); ok && !strings.HasPrefix(s, fmt.Sprintf("%d/", id)) {
					select {
					case errs <- fmt.Sprintf("get(%d) = %q", id, s):
					default:
					}
					return
				}
			}
		}()
	}
	next := int64(1)
	for gen := 0; next <= n; gen++ {
		mu.Lock()
		start := next
		for range 50 {
			c.set(next, fmt.Sprintf("%d/%d", next, gen))
			next++
		}
		if gen%3 == 2 { // the commit failed: its ids are taken again
			var ids []int64
			for id := start; id < next; id++ {
				ids = append(ids, id)
			}
			c.forget(ids)
			next = start
		}
		mu.Unlock()
	}
	close(done)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for id := int64(1); id <= n; id++ {
		if s, ok := c.get(id); !ok || !strings.HasPrefix(s, fmt.Sprintf("%d/", id)) {
			t.Fatalf("get(%d) = %q, %v at the end", id, s, ok)
		}
	}
}
