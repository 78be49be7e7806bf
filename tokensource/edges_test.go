package tokensource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// The defects of the refresh machine that the edges issue lists, each
// reproduced in virtual time (testing/synctest) against the model provider
// of simnet_test.go. Each test failed before its fix.

// simSource makes a Source for proc on store, talking to p. The store
// holds rec (if not nil) first.
func simSource(t *testing.T, p *simProvider, store storage.Store, rec *storage.Token, opts ...option) *Source {
	t.Helper()
	if rec != nil {
		if err := store.Save(context.Background(), "acct", rec); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		OAuth2:     &oauth2.Config{ClientID: "sim", Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}},
		Store:      store,
		Key:        "acct",
		HTTPClient: &http.Client{Transport: &simNet{p: p, proc: 1, budget: DefaultRefreshTimeout}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// expiredLogin is a login whose access token expired a minute ago.
func expiredLogin(p *simProvider) *storage.Token {
	rec := p.login()
	rec.Expiry = time.Now().Add(-time.Minute)
	rec.Version = 1
	return rec
}

func (p *simProvider) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

func (p *simProvider) setFault(k faultKind, retryAfter int) {
	p.mu.Lock()
	p.fault, p.retryAfter = k, retryAfter
	p.mu.Unlock()
}

// Defect 1: with an expired token, no caller and a failing endpoint, the
// old scheduler fired at once, forever (17,000 requests in 3 s), and
// ignored a long Retry-After. Now every attempt waits for the back-off.
func TestNoRetryStormAfterExpiry(t *testing.T) {
	for _, tt := range []struct {
		fault      faultKind
		retryAfter int
		max        int // requests in 10 minutes
	}{
		{fault429, 120, 6},          // one per Retry-After
		{faultInvalidClient, 0, 20}, // back-off doubling to a minute
		{faultRefused, 0, 20},
		{fault503, 0, 20},
	} {
		t.Run(tt.fault.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newSimProvider(time.Hour)
				p.setFault(tt.fault, tt.retryAfter)
				src := simSource(t, p, storage.NewMemory(), expiredLogin(p))
				if _, err := src.Token(); err == nil {
					t.Fatal("got a token from a failing endpoint")
				}
				time.Sleep(10 * time.Minute)
				if n := p.requests(); n > tt.max || n < 2 {
					t.Errorf("got %d token requests in 10 minutes, want between 2 and %d", n, tt.max)
				}
				p.mu.Lock()
				reqs := p.reqs
				p.mu.Unlock()
				for i := 1; i < len(reqs); i++ {
					if gap := reqs[i].at.Sub(reqs[i-1].at); gap < time.Duration(tt.retryAfter)*time.Second || gap < firstBackoff {
						t.Errorf("request %d came %v after the previous one, want at least the back-off and Retry-After %d s", i, gap, tt.retryAfter)
					}
				}
			})
		})
	}
}

// Defect 1, within the refresh window: a background refresh answered
// 429 Retry-After: 120 waits 120 s while the valid token is served.
func TestBackgroundRefreshHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		rec := p.login()
		rec.Expiry = time.Now().Add(5 * time.Minute)
		src := simSource(t, p, storage.NewMemory(), rec, func(c *Config) { c.RefreshBefore = 4 * time.Minute })
		if _, err := src.Token(); err != nil {
			t.Fatal(err)
		}
		p.setFault(fault429, 120)
		for p.requests() == 0 { // into the window: the lead is capped at half the life, plus jitter
			time.Sleep(time.Second)
			if tok, err := src.Token(); err != nil || tok.AccessToken != rec.AccessToken {
				t.Fatalf("got %v, %v while the token is valid, want it", tok, err)
			}
		}
		for range 119 {
			time.Sleep(time.Second)
			if tok, err := src.Token(); err != nil || tok.AccessToken != rec.AccessToken {
				t.Fatalf("got %v, %v while the token is valid, want it", tok, err)
			}
		}
		if n := p.requests(); n != 1 {
			t.Errorf("got %d requests within Retry-After, want 1", n)
		}
		time.Sleep(2 * time.Second)
		if n := p.requests(); n != 2 {
			t.Errorf("got %d requests once Retry-After passed, want 2", n)
		}
	})
}

// Callers that arrive during a back-off get the last error at once, and
// make no request.
func TestCallersDuringBackoffGetLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		p.setFault(fault503, 0)
		src := simSource(t, p, storage.NewMemory(), expiredLogin(p), func(c *Config) { c.RefreshBefore = -1 })
		_, first := src.Token()
		n := p.requests()
		for range 1000 {
			_, err := src.Token()
			var te *Error
			if !errors.As(err, &te) || !te.Temporary() {
				t.Fatalf("got %v, want the last temporary *Error", err)
			}
		}
		if p.requests() != n || first == nil {
			t.Errorf("got %d requests after 1000 calls in the back-off, want %d", p.requests(), n)
		}
	})
}

// Defect 15: the back-off has jitter, so replicas that failed together
// spread out; it never goes below the step.
func TestBackoffHasJitter(t *testing.T) {
	s := &Source{}
	seen := map[time.Duration]bool{}
	for n := 1; n <= 12; n++ {
		step := min(firstBackoff<<(n-1), maxBackoff)
		for range 50 {
			d := s.backoff(n)
			if d < step || d >= step+step/4 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, d, step, step+step/4)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("got %d distinct delays in 600 draws, want jitter", len(seen))
	}
}

// Defect 2: hooks run after waiters are released and outside every lock:
// OnEvent may call Token, TokenContext and Close; CheckRefresh calling the
// Source with its context gets ErrReentrant instead of waiting for itself.
func TestHooksMayCallTheSource(t *testing.T) {
	for _, call := range []string{"Token", "TokenContext", "Close", "RefreshRejected"} {
		t.Run("OnEvent calls "+call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newSimProvider(time.Hour)
				var src *Source
				var calls atomic.Int32
				src = simSource(t, p, storage.NewMemory(), expiredLogin(p), func(c *Config) {
					c.RefreshTimeout = 0 // the default; an OnEvent stuck on its own flight would block forever
					c.OnEvent = func(Event) {
						if calls.Add(1) > 1 {
							return // a hook that refreshes on every event would refresh forever
						}
						switch call {
						case "Token":
							src.Token()
						case "TokenContext":
							src.TokenContext(context.Background())
						case "Close":
							src.Close()
						case "RefreshRejected":
							tok, _ := src.Token()
							src.RefreshRejected(context.Background(), tok)
						}
					}
				})
				if _, err := src.Token(); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // a hook that waited for itself would leave the bubble deadlocked
				if calls.Load() == 0 {
					t.Fatal("OnEvent was not called")
				}
			})
		})
	}
	t.Run("CheckRefresh calls TokenContext", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newSimProvider(time.Hour)
			var src *Source
			var got error
			src = simSource(t, p, storage.NewMemory(), expiredLogin(p), func(c *Config) {
				c.CheckRefresh = func(ctx context.Context, prev, next *storage.Token) error {
					_, got = src.TokenContext(ctx)
					return nil
				}
			})
			if _, err := src.Token(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(got, ErrReentrant) {
				t.Errorf("CheckRefresh's TokenContext got %v, want ErrReentrant", got)
			}
		})
	})
}

// slowLock is a Memory whose Lock takes wait.
type slowLock struct {
	*storage.Memory
	wait time.Duration
}

func (s *slowLock) Lock(ctx context.Context, key string) (func() error, error) {
	select {
	case <-time.After(s.wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Memory.Lock(ctx, key)
}

// Defect 5: waiting for the lock does not eat the request's budget: a
// request sent after a long lock wait still gets its answer and saves the
// rotated refresh token.
func TestLockWaitDoesNotEatTheRequestBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		p.latency = 8 * time.Second
		store := &slowLock{Memory: storage.NewMemory(), wait: 9 * time.Second}
		src := simSource(t, p, store, expiredLogin(p), func(c *Config) { c.RefreshTimeout = 10 * time.Second })
		if _, err := src.Token(); err != nil {
			t.Fatalf("got %v, want the token the provider sent after the lock wait", err)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		rec, _ := store.Load(context.Background(), "acct")
		if fam := p.fams[0]; rec.RefreshToken != fam.newest || len(p.violations) > 0 {
			t.Errorf("stored %s, want the rotated %s; violations %v", rec.RefreshToken, fam.newest, p.violations)
		}
	})
}

// echoNet answers every token request with body and echoes the request's
// secrets in a response header.
type echoNet struct{ body string }

func (n echoNet) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	h := http.Header{"X-Echo": {string(b) + " " + req.Header.Get("Authorization")}}
	return simResponse(req, 200, n.body, h), nil
}

// Defect 6: a 200 that rotated the refresh token but is refused for
// another reason (expires_in -1) still gets its refresh token saved, and
// neither the error's Body nor its Header holds a token or a credential.
func TestRefusedAnswerKeepsRotatedRefreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storage.NewMemory()
		rec := &storage.Token{AccessToken: "AT-OLD-secret", RefreshToken: "RT-OLD-secret", Expiry: time.Now().Add(-time.Minute), Version: 1}
		var logs bytes.Buffer
		src := simSource(t, nil, store, rec, func(c *Config) {
			c.OAuth2.ClientSecret = "CLIENT-SECRET"
			c.HTTPClient = &http.Client{Transport: echoNet{`{"access_token":"AT-NEW-secret","token_type":"Bearer","expires_in":-1,"refresh_token":"RT-NEW-secret"}`}}
			c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		_, err := src.Token()
		src.settle() // the log lines are written after the waiters are released
		var te *Error
		if !errors.As(err, &te) || !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("got %v, want a malformed-response *Error", err)
		}
		if got, _ := store.Load(context.Background(), "acct"); got.RefreshToken != "RT-NEW-secret" || got.Version != 2 {
			t.Errorf("stored %v, want the rotated refresh token at version 2", got)
		}
		j, _ := json.Marshal(struct{ E Event }{Event{Err: err}})
		out := fmt.Sprintf("%s %v %+v %#v %s %q %s %s %s", err.Error(), err, *te, te, te.Body, te.Header, j, logs.String(), te.Header.Get("X-Echo"))
		for _, secret := range []string{"AT-NEW-secret", "RT-NEW-secret", "RT-OLD-secret", "CLIENT-SECRET", basicOf("sim", "CLIENT-SECRET")} {
			if strings.Contains(out, secret) {
				t.Errorf("%q appears in the error, its Body, Header or the logs:\n%s", secret, out)
			}
		}
	})
}

func basicOf(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// Defect 7: any 5xx is temporary whatever its error code (Dex answers a
// storage failure with 500 invalid_request); the refresh token is kept
// and works once the provider recovers.
func TestServerErrorIsTemporaryWhateverItsCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		p.setFault(fault500Invalid, 0)
		store := storage.NewMemory()
		src := simSource(t, p, store, expiredLogin(p))
		_, err := src.Token()
		var te *Error
		if !errors.As(err, &te) || !te.Temporary() || errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want a temporary *Error, not login required", err)
		}
		p.setFault(faultNone, 0)
		time.Sleep(2 * time.Second) // the next back-off step
		if tok, err := src.Token(); err != nil || tok == nil {
			t.Fatalf("after the provider recovered got %v, want a token", err)
		}
	})
}

// Defects 8 and 10: the dead record is deleted only if the store still
// holds it at its Version; a newer record that carries the same refresh
// token (a provider that reissues it) is adopted, not deleted.
func TestDeadRecordDeletedOnlyAtItsVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storage.NewMemory()
		rec := &storage.Token{AccessToken: "at-1", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}
		newer := &storage.Token{AccessToken: "at-2", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour), Version: 2}
		src := simSource(t, nil, store, rec, func(c *Config) {
			c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				store.Save(context.Background(), "acct", newer) // a peer saves while our request is out
				return simResponse(req, 400, `{"error":"invalid_grant"}`, nil), nil
			})}
		})
		tok, err := src.Token()
		if err != nil || tok.AccessToken != "at-2" {
			t.Fatalf("got %v, %v; want the newer record with the same refresh token adopted", tok, err)
		}
		if got, err := store.Load(context.Background(), "acct"); err != nil || got.Version != 2 {
			t.Errorf("stored %v, %v; want the newer record kept", got, err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingLoads counts Loads.
type countingLoads struct {
	*storage.Memory
	loads atomic.Int32
}

func (s *countingLoads) Load(ctx context.Context, key string) (*storage.Token, error) {
	s.loads.Add(1)
	return s.Memory.Load(ctx, key)
}

// Defect 13: after login required, Token returns the cached error at
// once, with no store access, and notices a login another process stored
// within about a second, with at most one Load a second.
func TestLoginRequiredIsCachedAndRecheckedCheaply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		store := &countingLoads{Memory: storage.NewMemory()}
		rec := expiredLogin(p)
		src := simSource(t, p, store, rec)
		p.mu.Lock()
		p.fams[0].revoked = true
		p.mu.Unlock()
		if _, err := src.Token(); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want ErrLoginRequired", err)
		}
		loads, reqs := store.loads.Load(), p.requests()
		for range 10 {
			for range 1000 {
				if _, err := src.Token(); !errors.Is(err, ErrLoginRequired) {
					t.Fatalf("got %v, want the cached ErrLoginRequired", err)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := store.loads.Load() - loads; n > 2 || p.requests() != reqs {
			t.Errorf("10,000 calls in 1 s made %d Loads and %d requests, want at most 2 and 0", n, p.requests()-reqs)
		}
		login := p.login()
		login.Version = 1 << 60
		store.Save(context.Background(), "acct", login)
		time.Sleep(1100 * time.Millisecond)
		if tok, err := src.Token(); err != nil || tok.AccessToken != login.AccessToken {
			t.Errorf("got %v, %v a second after another process's login, want its token", tok, err)
		}
	})
}

// Defect 14: a Source the program dropped without Close is collected,
// and its timer then makes no request.
func TestUnclosedSourceIsCollected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimProvider(time.Hour)
		cfg := Config{
			OAuth2:     &oauth2.Config{ClientID: "sim", Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}},
			Store:      storage.NewMemory(),
			HTTPClient: &http.Client{Transport: &simNet{p: p, proc: 1, budget: DefaultRefreshTimeout}},
		}
		rec := p.login()
		cfg.Store.Save(context.Background(), DefaultKey, rec)
		w := func() weak.Pointer[Source] {
			src, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Token(); err != nil { // arms the refresh timer
				t.Fatal(err)
			}
			return weak.Make(src)
		}()
		for i := 0; i < 10 && w.Value() != nil; i++ {
			runtime.GC()
		}
		if w.Value() != nil {
			t.Fatal("the dropped Source was not collected")
		}
		time.Sleep(2 * time.Hour)
		if n := p.requests(); n != 0 {
			t.Errorf("got %d requests from a dropped Source, want 0", n)
		}
	})
}
