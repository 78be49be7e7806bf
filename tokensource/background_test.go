package tokensource

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
)

// TestBackgroundRefreshBlocksNoCaller: callers hammering Token() across
// several token lifetimes never wait for a refresh. The token endpoint
// takes 400 ms, so a caller that waited would show it.
func TestBackgroundRefreshBlocksNoCaller(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Lifetime = 2 * time.Second
	srv.Delay = 400 * time.Millisecond
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.RefreshBefore = time.Second })
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	var slowest atomic.Int64
	var calls atomic.Int64
	stop := time.Now().Add(4500 * time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				start := time.Now()
				tok, err := f.src.Token()
				d := time.Since(start)
				if err != nil || !srv.Valid(tok.AccessToken) {
					t.Errorf("got %v, %v; want a valid token", tok, err)
					return
				}
				calls.Add(1)
				for {
					old := slowest.Load()
					if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got := time.Duration(slowest.Load()); got >= 300*time.Millisecond {
		t.Errorf("slowest of %d calls took %v: a caller waited for a refresh\n%s", calls.Load(), got, f.logs.String())
	}
	if n := srv.Refreshes(); n < 2 {
		t.Errorf("got %d refreshes over 4.5 s of 2 s tokens, want at least 2", n)
	}
	f.src.Close() // waits for a background refresh still in flight
	if r := srv.Requests(); r != srv.Refreshes() {
		t.Errorf("got %d requests for %d refreshes, want one request each", r, srv.Refreshes())
	}
}

// TestTimerRefreshesIdleSource: with no caller at all, the token is
// refreshed before it expires.
func TestTimerRefreshesIdleSource(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Lifetime = time.Second
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.RefreshBefore = 500 * time.Millisecond })
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two background refreshes ran", func() bool { return srv.Refreshes() >= 2 })
	if tok, err := f.src.Token(); err != nil || !srv.Valid(tok.AccessToken) {
		t.Fatalf("got %v, %v; want a valid token", tok, err)
	}
}

func TestNegativeRefreshBeforeDisablesBackground(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Lifetime = time.Second
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.RefreshBefore = -1 })
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if n := srv.Requests(); n != 0 {
		t.Errorf("got %d background requests, want 0", n)
	}
	if _, err := f.src.Token(); err != nil || srv.Requests() != 1 {
		t.Errorf("got %v after %d requests; want one synchronous refresh", err, srv.Requests())
	}
}

// TestBackgroundFailureKeepsServing: while the provider fails, callers keep
// the valid token without error, and the refresh is retried until it works.
func TestBackgroundFailureKeepsServing(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Lifetime = 6 * time.Second
	var failing atomic.Int32
	failing.Store(3) // the first background refresh fails all 3 attempts
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		if failing.Add(-1) < 0 {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.RefreshBefore = 4 * time.Second })
	first, err := f.src.Token()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5300 * time.Millisecond)
	for srv.Refreshes() == 0 && time.Now().Before(deadline) {
		tok, err := f.src.Token()
		if err != nil {
			t.Fatalf("got %v while the token was valid", err)
		}
		if tok.AccessToken != first.AccessToken && !srv.Valid(tok.AccessToken) {
			t.Fatalf("got an invalid token %v", tok)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if srv.Refreshes() != 1 {
		t.Fatalf("got %d refreshes before the token expired, want 1 after the failures", srv.Refreshes())
	}
	// The first background refresh fails after 3 attempts; the retry
	// succeeds: 4 requests, 1 failed refresh.
	if f.events.count(EventRefreshFailed) != 1 || srv.Requests() != 4 {
		t.Errorf("got %d refresh-failed events and %d requests, want 1 and 4", f.events.count(EventRefreshFailed), srv.Requests())
	}
	// The server counts the refresh when it answers; the Source publishes
	// the new token a moment later.
	eventually(t, "the new token is served", func() bool {
		tok, err := f.src.Token()
		return err == nil && tok.AccessToken != first.AccessToken
	})
}

// TestClockJumpMakesOneRefresh: the wall clock jumping 10 minutes forward
// past expiry makes one refresh, not a storm, and never hands out the
// expired token.
func TestClockJumpMakesOneRefresh(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Now = clock.Now
	srv.Lifetime = 5 * time.Minute
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.Now = clock.Now })
	old, err := f.src.Token()
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Minute)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tok, err := f.src.Token()
			if err != nil || tok.AccessToken == old.AccessToken || !srv.Valid(tok.AccessToken) {
				t.Errorf("got %v, %v; want a new valid token", tok, err)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d refreshes after the jump, want 1", n)
	}
	clock.Add(-10 * time.Minute) // and back: the new token stays in use
	if tok, err := f.src.Token(); err != nil || tok.AccessToken == old.AccessToken || srv.Requests() != 1 {
		t.Errorf("after jumping back got %v, %v with %d requests", tok, err, srv.Requests())
	}
}

func TestHookPanicDoesNotBreakRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired, func(c *Config) { c.OnEvent = func(Event) { panic("hook bug") } })
	for range 2 {
		if _, err := f.src.Token(); err != nil {
			t.Fatalf("got %v, want a token despite the panicking hook", err)
		}
	}
	if !strings.Contains(f.logs.String(), "OnEvent panicked") {
		t.Error("the hook's panic was not logged")
	}
}
