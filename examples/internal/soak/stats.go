package main

import (
	"slices"
	"sync"
	"time"
)

// expiredCount counts tokens handed out, or sent, after their expiry.
type expiredCount struct {
	Forced   int64         // the token arrived expired: a fault made its response slower than its lifetime
	Unforced int64         // the token was valid when it arrived: a failure of the SDK
	MaxLate  time.Duration // the most a send was after the token's expiry
}

// Stats is what one process saw. Children send theirs to the parent as
// JSON.
type Stats struct {
	Name            string
	Goroutines      int
	Requests        int64            // resource requests made (each may be sent twice: a replay)
	RequestsOK      int64            // answered 200 in the end
	SendStatus      map[string]int64 // every send to the resource, replays included, by outcome
	ExpiredHandouts expiredCount     // tokens Token() or the transport got that had expired
	ExpiredSends    expiredCount     // resource sends carrying an expired token
	Errors          map[string]int64 // by kind
	Events          map[string]int64 // tokensource events by kind
	EventErrors     map[string]int64 // why refreshes and saves failed, by event and kind
	Waits           []int64          // every Token() wait, in nanoseconds
}

// collector gathers one process's Stats from its goroutines.
type collector struct {
	mu sync.Mutex // guards s
	s  Stats
}

func newCollector(name string, goroutines int) *collector {
	return &collector{s: Stats{Name: name, Goroutines: goroutines, SendStatus: map[string]int64{}, Errors: map[string]int64{}, Events: map[string]int64{}, EventErrors: map[string]int64{}}}
}

// add applies f to the Stats under the lock.
func (c *collector) add(f func(s *Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.s)
}

func (c *collector) error(k string) { c.add(func(s *Stats) { s.Errors[k]++ }) }
func (c *collector) event(k, err string) {
	c.add(func(s *Stats) {
		s.Events[k]++
		if err != "" {
			s.EventErrors[k+": "+err]++
		}
	})
}
func (c *collector) sent(k string)   { c.add(func(s *Stats) { s.SendStatus[k]++ }) }
func (c *collector) request(ok bool) { c.add(func(s *Stats) { s.Requests++; s.RequestsOK += b2i(ok) }) }

// expired counts a token handed out (sends false) or sent after its expiry.
func (c *collector) expired(sends, forced bool, late time.Duration) {
	c.add(func(s *Stats) {
		e := &s.ExpiredHandouts
		if sends {
			e = &s.ExpiredSends
		}
		if forced {
			e.Forced++
		} else {
			e.Unforced++
		}
		e.MaxLate = max(e.MaxLate, late)
	})
}

func (c *collector) addWaits(w []int64) { c.add(func(s *Stats) { s.Waits = append(s.Waits, w...) }) }

// stats returns what was collected; call it once every goroutine is done.
func (c *collector) stats() *Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	return &s
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// merge adds o to s.
func (s *Stats) merge(o *Stats) {
	s.Goroutines += o.Goroutines
	s.Requests += o.Requests
	s.RequestsOK += o.RequestsOK
	for _, p := range []struct{ dst, src *expiredCount }{{&s.ExpiredHandouts, &o.ExpiredHandouts}, {&s.ExpiredSends, &o.ExpiredSends}} {
		p.dst.Forced += p.src.Forced
		p.dst.Unforced += p.src.Unforced
		p.dst.MaxLate = max(p.dst.MaxLate, p.src.MaxLate)
	}
	for _, p := range []struct{ dst, src map[string]int64 }{{s.SendStatus, o.SendStatus}, {s.Errors, o.Errors}, {s.Events, o.Events}, {s.EventErrors, o.EventErrors}} {
		for k, v := range p.src {
			p.dst[k] += v
		}
	}
	s.Waits = append(s.Waits, o.Waits...)
}

// percentile returns the p-th percentile (0-100) of sorted waits.
func percentile(sorted []int64, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)*p/100, len(sorted)-1)
	return time.Duration(sorted[i])
}

func sortedWaits(w []int64) []int64 {
	s := slices.Clone(w)
	slices.Sort(s)
	return s
}
