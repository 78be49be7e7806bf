package redisstore

import (
	"testing"
	"time"
)

// TestBackoff: the pause between lock attempts starts small, doubles, is
// capped at MaxWait and is jittered over [d/4, d].
func TestBackoff(t *testing.T) {
	s := &Store{cfg: Config{MaxWait: 100 * time.Millisecond}}
	for attempt := range 40 {
		d := min(100*time.Millisecond, 2*time.Millisecond<<min(attempt, 16))
		for range 50 {
			got := s.backoff(attempt)
			if got < d/4 || got > d {
				t.Fatalf("attempt %d: backoff %v, want within [%v, %v]", attempt, got, d/4, d)
			}
		}
	}
}
