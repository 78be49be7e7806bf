//go:build unix

package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
)

// TestReplicasShareOneAccount (fault test a): TKR_PROCS replicas (default
// 8) call a protected resource for TKR_SECONDS (default 10) with 1 s
// access tokens from a token endpoint that rotates refresh tokens and
// revokes the family on reuse. Set TKR_PROCS=16 TKR_SECONDS=30 for the
// full run.
func TestReplicasShareOneAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run; not in -short")
	}
	procs, secs := envInt("TKR_PROCS", 8), envInt("TKR_SECONDS", 10)
	r := startRedis(t, false)
	srv := tokentest.NewServer()
	t.Cleanup(srv.Close) // after the replicas are killed
	srv.Lifetime = time.Second
	s := parentStore(t, r)
	seed(t, s, srv)
	e := replicaEnv{mode: "serve", addr: r.Addr(), tokenURL: srv.TokenURL(), duration: time.Duration(secs) * time.Second,
		leaseTTL: 2 * time.Second, refresh: 5 * time.Second}
	start := time.Now()
	reps := make([]*replica, procs)
	for i := range reps {
		reps[i] = startReplica(t, e)
	}
	totalCalls := 0
	for i, rep := range reps {
		line := rep.next(t, time.Duration(secs)*time.Second+30*time.Second)
		var calls, fails int
		var first string
		if _, err := fmt.Sscanf(line, "result %d %d %q", &calls, &fails, &first); err != nil {
			t.Errorf("replica %d said %q", i, line)
			continue
		}
		totalCalls += calls
		if fails != 0 || calls == 0 {
			t.Errorf("replica %d: %d of %d calls failed, the first with %s", i, fails, calls, first)
		}
	}
	elapsed := time.Since(start)
	// The Source retires a token a tenth of its lifetime early (its
	// skew), so a refresh is due every 0.9 s.
	expiries := int(math.Ceil(elapsed.Seconds() / 0.9))
	refreshes, rejected, requests := srv.Refreshes(), srv.Rejected(), srv.Requests()
	rec := checkLive(t, s, srv)
	t.Logf("%d processes × %d s (%.1f s with start-up): %d resource calls, %d refreshes, %d token requests, %d rejected (spent tokens presented), %d refresh points (elapsed/0.9 s), final version %d",
		procs, secs, elapsed.Seconds(), totalCalls, refreshes, requests, rejected, expiries, rec.Version)
	if rejected != 0 {
		t.Errorf("%d token requests presented a spent or revoked refresh token", rejected)
	}
	if refreshes > expiries+2 {
		t.Errorf("%d refreshes, want at most %d (one per token lifetime, +2)", refreshes, expiries+2)
	}
}

// holdFirst puts a token endpoint fault in front of srv: the first token
// request is held, unprocessed, until its client goes away. It returns
// the token URL to use and a channel closed when that request arrives.
// (srv.Fault cannot be set once srv serves: the race detector sees no
// order between that write and a handler started by another process's
// request.)
func holdFirst(t *testing.T, srv *tokentest.Server) (tokenURL string, arrived chan struct{}) {
	arrived = make(chan struct{})
	stop := make(chan struct{})
	var n atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" && n.Add(1) == 1 {
			close(arrived)
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	t.Cleanup(func() { close(stop) }) // before front.Close, which waits for handlers
	return front.URL + "/token", arrived
}

// TestKilledHolder (fault test b): the lock holder is killed with SIGKILL
// while its token request is in flight; another replica gets the lock
// when the lease runs out and refreshes.
func TestKilledHolder(t *testing.T) {
	r := startRedis(t, false)
	srv := tokentest.NewServer()
	t.Cleanup(srv.Close) // after the replicas are killed
	tokenURL, arrived := holdFirst(t, srv)
	s := parentStore(t, r)
	seed(t, s, srv)
	const ttl = time.Second
	// The holder's Keep before its request extends the lease to the
	// request's budget, RefreshTimeout: that, not LeaseTTL, bounds how
	// long a holder killed mid-request blocks the others.
	const budget = 3 * time.Second
	e := replicaEnv{mode: "once", addr: r.Addr(), tokenURL: tokenURL, leaseTTL: ttl, refresh: budget}
	a := startReplica(t, e)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the first replica sent no token request")
	}
	b := startReplica(t, e)
	time.Sleep(300 * time.Millisecond) // b is waiting for the lock
	killed := time.Now()
	a.signal(t, syscall.SIGKILL)
	line := b.next(t, 20*time.Second)
	waited := time.Since(killed)
	if !strings.HasPrefix(line, "token ") {
		t.Fatalf("the second replica said %q, want a token", line)
	}
	t.Logf("the second replica refreshed %v after the holder was killed (lease %v, kept for the %v request budget); %d token requests, %d rejected",
		waited, ttl, budget, srv.Requests(), srv.Rejected())
	if waited > budget+2*time.Second {
		t.Errorf("the second replica waited %v, want at most about the %v the holder's lease was kept for", waited, budget)
	}
	if srv.Rejected() != 0 {
		t.Errorf("%d spent refresh tokens presented", srv.Rejected())
	}
	checkLive(t, s, srv)
}

// TestStoppedHolder (fault test c): the lock holder is stopped with
// SIGSTOP for longer than its lease, before it sends its token request
// (while reading the record under the lease) or after (the request is
// held at the endpoint, unprocessed); another replica refreshes; the
// holder is resumed. It must neither present the refresh token the other
// replica redeemed nor overwrite the newer record.
func TestStoppedHolder(t *testing.T) {
	for _, when := range []string{"before request", "after request"} {
		t.Run(when, func(t *testing.T) {
			r := startRedis(t, false)
			srv := tokentest.NewServer()
			t.Cleanup(srv.Close)
			s := parentStore(t, r)
			seed(t, s, srv)
			const ttl = 500 * time.Millisecond
			e := replicaEnv{mode: "once", addr: r.Addr(), tokenURL: srv.TokenURL(), leaseTTL: ttl, refresh: 2 * time.Second}
			var a *replica
			if when == "before request" {
				e.pause = "load"
				a = startReplica(t, e)
				if l := a.next(t, 20*time.Second); l != "loaded" {
					t.Fatalf("the holder said %q, want loaded", l)
				}
			} else {
				tokenURL, arrived := holdFirst(t, srv)
				e.tokenURL = tokenURL
				a = startReplica(t, e)
				select {
				case <-arrived:
				case <-time.After(20 * time.Second):
					t.Fatal("the holder sent no token request")
				}
			}
			a.signal(t, syscall.SIGSTOP)
			time.Sleep(ttl + 200*time.Millisecond) // past the lease
			e.pause = ""
			b := startReplica(t, e)
			lb := b.next(t, 20*time.Second)
			if !strings.HasPrefix(lb, "token ") {
				t.Fatalf("the other replica said %q, want a token", lb)
			}
			after, err := s.Load(context.Background(), replicaKey)
			if err != nil {
				t.Fatal(err)
			}
			a.signal(t, syscall.SIGCONT)
			la := a.next(t, 30*time.Second)
			final, err := s.Load(context.Background(), replicaKey)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("holder: %q; other: %q; versions %d then %d; %d token requests, %d refreshes, %d rejected",
				la, lb, after.Version, final.Version, srv.Requests(), srv.Refreshes(), srv.Rejected())
			if srv.Rejected() != 0 {
				t.Errorf("%d spent refresh tokens presented", srv.Rejected())
			}
			if la != lb {
				t.Errorf("the resumed holder got %q, want the other replica's token %q (adopted)", la, lb)
			}
			if final.Version != after.Version || final.RefreshToken != after.RefreshToken {
				t.Errorf("the resumed holder replaced the newer record (version %d) with version %d", after.Version, final.Version)
			}
			checkLive(t, s, srv)
		})
	}
}
