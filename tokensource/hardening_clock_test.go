package tokensource

// Hardening, clocks (issue 6). The whole case list and where each case is
// proved is in HARDENING.md at the repository root.
//
//	wall clock forward 10 min past expiry, then back    background_test.go:TestClockJumpMakesOneRefresh
//	suspended past expiry (injectable wall clock)        TestSuspendedPastExpiry
//	monotonic and wall clock disagree (suspend, wall     TestMonotonicAndWallDisagree
//	  clock set back 10 min)
//	our clock behind the provider's: the transport's     TestClockBehindProviderTransportRefreshes
//	  401 path as the last line
//
// What cannot be simulated in a test, and why it is still covered:
//
//   - A real suspend. On Linux the monotonic clock (CLOCK_MONOTONIC, which
//     time.Now's monotonic reading uses) stops while the machine sleeps and
//     the wall clock does not. No API lets a test move the monotonic
//     reading of the times Config.Now returns independently of their wall
//     reading (time.Time.Add moves both; Round(0) drops it). So the
//     resulting state is built directly: an entry whose monotonic
//     deadlines are still ahead while its wall-clock deadlines have passed
//     (TestMonotonicAndWallDisagree). The injectable clock shows the rest
//     end to end with wall-only times (TestSuspendedPastExpiry).
//   - Timers during a suspend. The background refresh timer
//     (time.AfterFunc) runs on the runtime's monotonic clock, so it does
//     not fire while the machine sleeps and fires late after waking. The
//     tests show the first caller after waking refreshing synchronously;
//     the late timer then finds a fresh token and makes no request (the
//     refresh's "already done" check), which a fake clock cannot delay.
//   - NTP slewing (the clock sped up or slowed down a little) is a small
//     skew, absorbed by the margin every token is taken to expire early
//     by (a tenth of its lifetime, at most 10 s).

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// wallClock is a fake clock whose times carry no monotonic reading, so
// that every comparison the Source makes uses the wall clock, as happens
// after a suspend, when only the wall clock moved.
func wallClock() *fakeClock { return &fakeClock{t: time.Now().Round(0)} }

// TestSuspendedPastExpiry: the process sleeps for two hours, far past the
// access token's expiry. On waking, 50 callers ask at once: one refresh
// is made, nobody gets the expired token, and when the refresh token
// itself expired during the sleep, the account must log in again, without
// a request.
func TestSuspendedPastExpiry(t *testing.T) {
	tests := []struct {
		name          string
		refreshExpiry time.Duration // from login; 0: unknown
		wantReason    Reason        // 0: want a new token
		wantRequests  int
	}{
		{name: "refresh token still valid", wantRequests: 1},
		{name: "refresh token expired during the sleep", refreshExpiry: time.Hour, wantReason: ReasonRefreshExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := wallClock()
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Now = clock.Now
			srv.Lifetime = 5 * time.Minute
			f := newFixture(t, srv, time.Time{}, func(c *Config) { c.Now = clock.Now })
			if tt.refreshExpiry > 0 {
				rec := f.stored(t)
				rec.RefreshExpiry = clock.Now().Add(tt.refreshExpiry)
				rec.Version++ // a Save that is not newer is refused (storage.ErrStale)
				f.store.Save(context.Background(), "acct", rec)
			}
			old, err := f.src.Token()
			if err != nil {
				t.Fatal(err)
			}

			clock.Add(2 * time.Hour) // suspended

			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					tok, err := f.src.Token()
					var le *LoginRequiredError
					switch {
					case tok != nil && tok.AccessToken == old.AccessToken:
						t.Errorf("got the token that expired during the sleep")
					case tt.wantReason == 0 && (err != nil || !srv.Valid(tok.AccessToken)):
						t.Errorf("got %v, %v; want a new valid token", tok, err)
					case tt.wantReason != 0 && (!errors.As(err, &le) || le.Reason != tt.wantReason):
						t.Errorf("got %v, want ErrLoginRequired (%v)", err, tt.wantReason)
					}
				})
			}
			wg.Wait()
			if n := srv.Requests(); n != tt.wantRequests {
				t.Errorf("got %d token requests after waking, want %d", n, tt.wantRequests)
			}
		})
	}
}

// TestMonotonicAndWallDisagree: a token is fresh only while both the
// monotonic and the wall clock say so. Each case publishes the state the
// Source would be in, with the token's deadlines shifted on one clock
// only, then 50 callers ask at once.
//
//   - Suspended for 2 h: the monotonic clock stopped, so by it the token
//     has 5 minutes left; by the wall clock it expired 1 h 55 min ago.
//     One refresh; the old token is never handed out.
//   - Wall clock set back 10 min after 6 min of use: by the wall clock 9
//     minutes are left; by the monotonic clock the 5-minute token expired
//     a minute ago. One refresh; the old token is never handed out.
//   - Both agree the token is fresh: no refresh.
func TestMonotonicAndWallDisagree(t *testing.T) {
	tests := []struct {
		name         string
		mono, wall   time.Duration // added to the token's deadlines on each clock
		wantRefresh  bool
		wantRequests int
	}{
		{"suspended 2h: monotonic stopped, wall past expiry", 0, -2 * time.Hour, true, 1},
		{"wall clock set back 10m after expiry", -6 * time.Minute, 4 * time.Minute, true, 1},
		{"both clocks fresh", 0, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, time.Now().Add(5*time.Minute))
			e := *f.src.newEntry(f.stored(t))
			e.staleAt, e.expireAt = e.staleAt.Add(tt.mono), e.expireAt.Add(tt.mono)
			e.staleWall, e.expireWall = e.staleWall+int64(tt.wall), e.expireWall+int64(tt.wall)
			f.src.publish(&e)
			old := e.tok.AccessToken

			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					tok, err := f.src.Token()
					switch {
					case err != nil:
						t.Errorf("got %v, want a token", err)
					case tt.wantRefresh && tok.AccessToken == old:
						t.Error("got the expired token")
					case !tt.wantRefresh && tok.AccessToken != old:
						t.Error("got a new token, want the fresh one kept")
					}
				})
			}
			wg.Wait()
			if n := f.srv.Requests(); n != tt.wantRequests {
				t.Errorf("got %d token requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// TestClockBehindProviderTransportRefreshes: our wall clock jumps back 10
// minutes while 6 minutes pass at the provider, so the Source still takes
// its 5-minute token for valid when the resource server already rejects
// it. The transport's 401 invalid_token path is the last line: 20
// concurrent requests are rejected, one refresh is made, and every request
// is replayed with the new token and succeeds.
func TestClockBehindProviderTransportRefreshes(t *testing.T) {
	ours, theirs := wallClock(), wallClock()
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Now = theirs.Now
	srv.Lifetime = 5 * time.Minute
	f := newFixture(t, srv, time.Time{}, func(c *Config) { c.Now = ours.Now })
	old, err := f.src.Token()
	if err != nil {
		t.Fatal(err)
	}
	ours.Add(-10 * time.Minute)
	theirs.Add(6 * time.Minute)
	if tok, _ := f.src.Token(); tok == nil || tok.AccessToken != old.AccessToken || srv.Valid(old.AccessToken) {
		t.Fatal("setup: want the Source to hand out the token the provider considers expired")
	}

	client := &http.Client{Transport: &transport.Transport{Source: f.src}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/resource")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("got status %d, want 200 after one refresh and a replay", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests for 20 rejected requests, want 1", n)
	}
	if tok, err := f.src.Token(); err != nil || tok.AccessToken == old.AccessToken || !srv.Valid(tok.AccessToken) {
		t.Errorf("got %v, %v; want the new token served", tok, err)
	}
}
