package tokensource

// Hardening, concurrency (issue 6). The whole case list and where each case
// is proved is in HARDENING.md at the repository root. This file holds the
// cases no other test covers:
//
//	failure delivered to every waiter, not cached   TestFailureReachesEveryWaiter
//	panic in a Store's Load, Save or Delete          TestStorePanicNeitherCrashesNorDeadlocks
//	panic in CheckRefresh                            TestCheckRefreshPanicRequiresLogin
//	Close while a token request is in transit        TestCloseDuringTokenRequestKeepsRotatedToken
//	Close while a refresh waits (lock, Retry-After)  TestCloseEndsWaitsPromptly
//
// Already covered elsewhere: login-required delivered to 100 waiters
// (errors_test.go:TestInvalidGrantRequiresLogin), a panicking OnEvent hook
// (background_test.go:TestHookPanicDoesNotBreakRefresh), cancelled waiters
// (source_test.go:TestCancelledCallerLeavesRefreshGoesOn).

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestFailureReachesEveryWaiter: 50 callers wait for one refresh that
// fails. Every one of them gets the failure (the same *Error, never a token
// and never nil, nil), one refresh was made (3 attempts), the store is
// untouched, and the failure is not cached: the next call refreshes again
// and, the provider having recovered, succeeds.
func TestFailureReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		requests  int // token requests for the failed refresh
		temporary bool
	}{
		{"temporary (503, retried)", http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`, maxAttempts, true},
		{"permanent (invalid_client, not retried)", http.StatusUnauthorized, `{"error":"invalid_client"}`, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Delay = 30 * time.Millisecond // let every caller join the flight
			var failing atomic.Bool
			failing.Store(true)
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				if !failing.Load() {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
				return true
			}
			f := newFixture(t, srv, expired, func(c *Config) { c.RefreshTimeout = 5 * time.Second })
			before := f.stored(t)

			const callers = 50
			errs := make([]error, callers)
			toks := make([]*oauth2.Token, callers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range callers {
				wg.Go(func() {
					<-start
					toks[i], errs[i] = f.src.Token()
				})
			}
			close(start)
			wg.Wait()
			for i := range callers {
				var te *Error
				switch {
				case toks[i] != nil:
					t.Fatalf("caller %d: got token %v, want the failure", i, toks[i])
				case !errors.As(errs[i], &te):
					t.Fatalf("caller %d: got %v, want an *Error", i, errs[i])
				case te.Temporary() != tt.temporary || errors.Is(errs[i], ErrLoginRequired):
					t.Fatalf("caller %d: got %v (temporary %v), want temporary %v and no login required", i, errs[i], te.Temporary(), tt.temporary)
				case errs[i] != errs[0]:
					t.Fatalf("caller %d: got %v, want the shared flight's error %v", i, errs[i], errs[0])
				}
			}
			if n := srv.Requests(); n != tt.requests {
				t.Errorf("got %d token requests for %d callers, want %d (one refresh)", n, callers, tt.requests)
			}
			if after := f.stored(t); *after != *before {
				t.Errorf("store changed after a failed refresh: %v, was %v", after, before)
			}

			// Not cached for good: once the back-off step has passed, the
			// next call asks the provider again.
			failing.Store(false)
			var tok *oauth2.Token
			var err error
			eventually(t, "a call after the back-off succeeds", func() bool {
				tok, err = f.src.Token()
				return err == nil
			})
			if !srv.Valid(tok.AccessToken) {
				t.Fatalf("after the provider recovered got %v, want a valid token", tok)
			}
			if n := srv.Requests(); n != tt.requests+1 {
				t.Errorf("got %d token requests, want %d: the failure was cached", n, tt.requests+1)
			}
		})
	}
}

// panicStore is a user Store (and Locker) whose Load, Save or Delete panic
// while their counter is positive.
type panicStore struct {
	*storage.Memory
	load, save, del atomic.Int32 // calls left that panic
}

func (s *panicStore) Load(ctx context.Context, key string) (*storage.Token, error) {
	if s.load.Add(-1) >= 0 {
		panic("store bug: Load")
	}
	return s.Memory.Load(ctx, key)
}

func (s *panicStore) Save(ctx context.Context, key string, t *storage.Token) error {
	if s.save.Add(-1) >= 0 {
		panic("store bug: Save")
	}
	return s.Memory.Save(ctx, key, t)
}

func (s *panicStore) Delete(ctx context.Context, key string) error {
	if s.del.Add(-1) >= 0 {
		panic("store bug: Delete")
	}
	return s.Memory.Delete(ctx, key)
}

// TestStorePanicNeitherCrashesNorDeadlocks: a user Store that panics inside
// a refresh neither crashes the program nor leaves a waiter, the
// semaphore or the store's lock held; and the panic costs no token:
//
//   - Load panics: the refresh fails (every waiter of that flight gets
//     the error); the next call works.
//   - Save panics after a rotation: the panic counts as a failed save. The
//     new tokens are served and kept in memory and the save is retried,
//     so the rotated refresh token is not lost (before the fix it was
//     dropped and the next refresh redeemed the dead one: reuse, token
//     family revoked).
//   - Delete panics while removing a rejected refresh token: the account
//     still gets ErrLoginRequired (before the fix every caller got an
//     untyped "refresh panicked" error and each call redeemed the dead
//     token again).
func TestStorePanicNeitherCrashesNorDeadlocks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		arm   func(*panicStore)
		fault func(*tokentest.Server)
		check func(t *testing.T, f *fixture, ps *panicStore, errs []error)
	}{
		{
			name: "Load",
			arm:  func(s *panicStore) { s.load.Store(1) },
			check: func(t *testing.T, f *fixture, _ *panicStore, errs []error) {
				// Callers that joined the panicking flight get its error;
				// later ones start a new flight, which succeeds.
				failed := 0
				for _, err := range errs {
					if err != nil {
						failed++
					}
				}
				if failed == 0 {
					t.Fatal("no caller got the failed refresh's error")
				}
				eventually(t, "a call after the back-off gets a token", func() bool {
					_, err := f.src.Token()
					return err == nil
				})
			},
		},
		{
			name: "Save after rotation",
			arm:  func(s *panicStore) { s.save.Store(1) },
			check: func(t *testing.T, f *fixture, ps *panicStore, errs []error) {
				for i, err := range errs {
					if err != nil {
						t.Fatalf("caller %d: got %v, want the refreshed token", i, err)
					}
				}
				if f.events.count(EventSaveFailed) == 0 {
					t.Error("no save-failed event for the panicking Save")
				}
				newest := f.src.record()
				eventually(t, "the retried save stores the rotated token", func() bool {
					rec, err := ps.Memory.Load(context.Background(), "acct")
					return err == nil && rec.RefreshToken == newest.RefreshToken
				})
				tok, _ := f.src.Token()
				if _, err := f.src.RefreshRejected(context.Background(), tok); err != nil {
					t.Fatalf("refresh with the rotated token: %v", err)
				}
				if n := f.srv.Rejected(); n != 0 {
					t.Errorf("got %d rejected refreshes, want 0: the rotated refresh token was lost", n)
				}
			},
		},
		{
			name:  "Delete of a rejected token",
			arm:   func(s *panicStore) { s.del.Store(1) },
			fault: func(s *tokentest.Server) { s.RevokeAll() },
			check: func(t *testing.T, f *fixture, _ *panicStore, errs []error) {
				for i, err := range errs {
					var le *LoginRequiredError
					if !errors.As(err, &le) || le.Reason != ReasonRejected {
						t.Fatalf("caller %d: got %v, want ErrLoginRequired (ReasonRejected)", i, err)
					}
				}
				if _, err := f.src.Token(); !errors.Is(err, ErrLoginRequired) || f.srv.Requests() != 1 {
					t.Fatalf("got %v after %d token requests, want the cached ErrLoginRequired after 1", err, f.srv.Requests())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Delay = 20 * time.Millisecond
			f := newFixture(t, srv, expired)
			ps := &panicStore{Memory: f.store}
			f.src.store = ps
			if tt.fault != nil {
				tt.fault(srv)
			}
			tt.arm(ps)

			errs := make([]error, 20)
			done := make(chan struct{})
			go func() {
				defer close(done)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Go(func() { _, errs[i] = f.src.Token() })
				}
				wg.Wait()
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("waiters still blocked 5 s after the store panicked: deadlock")
			}
			tt.check(t, f, ps, errs)
			// The store's lock is free: a writer can take it at once.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := f.src.SetToken(ctx, f.stored(t)); err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("SetToken after the panic: %v, want the lock and semaphore free", err)
			}
			closed := make(chan error, 1)
			go func() { closed <- f.src.Close() }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close blocked after the store panicked")
			}
		})
	}
}

// TestCheckRefreshPanicRequiresLogin: a CheckRefresh hook that panics is
// taken as a hook that refused the new tokens (the tokens were not vetted,
// and the refresh token they replace is dead after the rotation): every
// waiter gets ErrLoginRequired with ReasonCheckFailed, nothing is
// redeemed twice, and the Source stays usable once a new login is stored.
// Before the fix waiters got an untyped "refresh panicked" error and the
// next call redeemed the rotated-away refresh token (reuse: the provider
// revoked the whole family).
func TestCheckRefreshPanicRequiresLogin(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	var panics atomic.Int32
	f := newFixture(t, srv, expired, func(c *Config) {
		c.CheckRefresh = func(context.Context, *storage.Token, *storage.Token) error {
			panics.Add(1)
			panic("hook bug")
		}
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := f.src.Token()
			var le *LoginRequiredError
			var pe *panicError
			if !errors.As(err, &le) || le.Reason != ReasonCheckFailed || !errors.As(err, &pe) {
				t.Errorf("got %v, want ErrLoginRequired (ReasonCheckFailed) wrapping a *panicError", err)
			}
		})
	}
	wg.Wait()
	if _, err := f.src.Token(); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("second call: got %v, want the cached ErrLoginRequired", err)
	}
	if n, p := srv.Requests(), panics.Load(); n != 1 || p != 1 {
		t.Errorf("got %d token requests and %d hook calls, want 1 and 1", n, p)
	}
	if srv.Rejected() != 0 {
		t.Error("a rotated-away refresh token was redeemed")
	}
	// A new login revives the Source (the hook is fine now).
	at, rt, exp := srv.Login()
	f.src.cfg.CheckRefresh = nil
	if err := f.src.SetToken(context.Background(), &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp}); err != nil {
		t.Fatal(err)
	}
	if tok, err := f.src.Token(); err != nil || tok.AccessToken != at {
		t.Fatalf("after a new login got %v, %v; want %q", tok, err, at)
	}
}

// TestCloseDuringTokenRequestKeepsRotatedToken: Close is called while a
// refresh's token request is in transit and the provider has already
// rotated the refresh token (its answer is slow to arrive). Close lets that
// request finish and saves the answer, so the rotated refresh token is not
// lost: a new Source on the same store refreshes without reuse. (A CLI
// calls Close on exit, often while the background refresh that its last
// Token() started is in flight.) Before the fix Close cancelled the
// request, the answer carrying the rotated refresh token was dropped, and
// the next refresh redeemed the dead one: reuse, token family revoked.
func TestCloseDuringTokenRequestKeepsRotatedToken(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	// slow relays token requests to srv and holds each answer 300 ms.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		resp, err := http.PostForm(srv.TokenURL(), r.PostForm)
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	defer slow.Close()
	f := newFixture(t, srv, expired, func(c *Config) { c.OAuth2.Endpoint.TokenURL = slow.URL })

	go f.src.Token()
	eventually(t, "the provider rotated the refresh token", func() bool { return srv.Refreshes() == 1 })
	start := time.Now()
	if err := f.src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v, want about the 300 ms the answer needed", d)
	}

	peer, err := New(Config{OAuth2: &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}, Store: f.store, Key: "acct"})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if tok, err := peer.Token(); err != nil {
		t.Fatalf("a new Source on the store got %v, want a token", err)
	} else if _, err := peer.RefreshRejected(context.Background(), tok); err != nil {
		t.Fatalf("refreshing with the stored refresh token: %v (the rotated one was lost)", err)
	}
	if n := srv.Rejected(); n != 0 {
		t.Errorf("got %d rejected refreshes, want 0: the rotated refresh token was lost at Close", n)
	}
}

// TestCloseEndsWaitsPromptly: what Close does end at once is a refresh
// that has nothing in transit: one waiting for the store's lock, or for a
// Retry-After delay between attempts. The caller waiting on it gets an
// error, nothing is sent after Close, and the store is untouched.
func TestCloseEndsWaitsPromptly(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, f *fixture)
		requests int
	}{
		{"waiting for the store's lock", func(t *testing.T, f *fixture) {
			unlock, err := f.store.Lock(context.Background(), "acct") // another writer holds it
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unlock() })
		}, 0},
		{"waiting out Retry-After", func(t *testing.T, f *fixture) {
			f.srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Retry-After", "20")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			f := newFixture(t, srv, expired)
			tt.setup(t, f)
			before := f.stored(t)
			errc := make(chan error, 1)
			go func() { _, err := f.src.Token(); errc <- err }()
			time.Sleep(100 * time.Millisecond) // the refresh is waiting
			start := time.Now()
			f.src.Close()
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v, want it to end the wait at once", d)
			}
			if err := <-errc; err == nil {
				t.Error("the waiting caller got a token, want an error")
			}
			if n := srv.Requests(); n != tt.requests {
				t.Errorf("got %d token requests, want %d", n, tt.requests)
			}
			if after := f.stored(t); *after != *before {
				t.Errorf("store changed: %v, was %v", after, before)
			}
		})
	}
}
