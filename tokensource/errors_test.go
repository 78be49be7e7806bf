package tokensource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

func TestInvalidGrantRequiresLogin(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	f := newFixture(t, srv, expired)
	srv.RevokeAll()

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			_, err := f.src.Token()
			var le *LoginRequiredError
			var te *Error
			switch {
			case !errors.Is(err, ErrLoginRequired):
				t.Errorf("got %v, want ErrLoginRequired", err)
			case !errors.As(err, &le) || le.Reason != ReasonRejected:
				t.Errorf("got %v, want ReasonRejected", err)
			case !errors.As(err, &te) || te.Code != "invalid_grant" || te.StatusCode != 400 || te.Description == "":
				t.Errorf("got %#v, want the provider's invalid_grant with its description and status", te)
			case te.Temporary():
				t.Error("invalid_grant reported as temporary")
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests for 100 callers, want 1", n)
	}
	if _, err := f.store.Load(context.Background(), "acct"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the dead refresh token is still stored (Load: %v)", err)
	}
	// Later calls fail fast, with the provider's reason, and no request.
	for range 10 {
		_, err := f.src.Token()
		var te *Error
		if !errors.As(err, &te) || te.Code != "invalid_grant" {
			t.Fatalf("got %v, want the cached invalid_grant", err)
		}
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests after the failure, want still 1", n)
	}
	if f.events.count(EventLoginRequired) != 1 {
		t.Errorf("got %d login-required events, want 1", f.events.count(EventLoginRequired))
	}
	// A new login stored by anyone revives the source, once the Source
	// looks again (at most once a second).
	at, rt, exp := srv.Login()
	f.store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 9})
	eventually(t, "the new login is adopted", func() bool {
		tok, err := f.src.Token()
		return err == nil && tok.AccessToken == at
	})
}

// Dex answers a spent or unknown refresh token with 400 invalid_request:
// on a refresh-token grant that can never succeed on retry, so it is
// login required, and the dead record is deleted (compare-and-delete).
func TestInvalidRequestRequiresLoginAndDeletesDeadRecord(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_request","error_description":"refresh token expired"}`)
		return true
	}
	f := newFixture(t, srv, expired)
	if _, err := f.src.Token(); !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("got %v, want ErrLoginRequired", err)
	}
	if _, err := f.src.Token(); !errors.Is(err, ErrLoginRequired) || srv.Requests() != 1 {
		t.Fatalf("second call: got %v after %d requests, want the cached error after 1", err, srv.Requests())
	}
	if _, err := f.store.Load(context.Background(), "acct"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("got Load error %v, want the dead record deleted (ErrNotFound)", err)
	}
}

func TestDeadTokenNotDeletedWhenPeerSavedNewer(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired)
	// While our request is out, a peer without the lock rotates the token
	// and saves the newer one; the server then rejects ours as reused.
	var once sync.Once
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		handled := false
		once.Do(func() {
			at, rt, exp := srv.Login()
			f.store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp.Add(-2 * time.Hour), Version: 2})
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			handled = true
		})
		return handled
	}
	tok, err := f.src.Token()
	if err != nil {
		t.Fatalf("got %v, want the peer's token to be adopted and refreshed", err)
	}
	rec := f.stored(t)
	if rec.AccessToken != tok.AccessToken || rec.Version != 3 {
		t.Errorf("stored %v, want the token refreshed from the peer's at version 3", rec)
	}
}

func TestLostResponseRereadsStore(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired)
	var once sync.Once
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		handled := false
		once.Do(func() { // a peer's fresh token lands while ours is rejected
			at, rt, exp := srv.Login()
			f.store.Save(context.Background(), "acct", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 5})
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			handled = true
		})
		return handled
	}
	tok, err := f.src.Token()
	if err != nil || tok.AccessToken != f.stored(t).AccessToken {
		t.Fatalf("got %v, %v; want the peer's token adopted", tok, err)
	}
	if srv.Requests() != 1 || f.events.count(EventAdopted) != 1 {
		t.Errorf("got %d requests and %d adoptions, want 1 and 1", srv.Requests(), f.events.count(EventAdopted))
	}
}

func TestTransientFailuresRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(w http.ResponseWriter)
	}{
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503) }},
		{"500 HTML", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			io.WriteString(w, "<html>oops</html>")
		}},
		{"429", func(w http.ResponseWriter) { w.WriteHeader(429) }},
		{"server_error code", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"temporarily_unavailable"}`)
		}},
		{"connection reset", func(w http.ResponseWriter) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tokentest.NewServer()
			defer srv.Close()
			failures := 2
			var mu sync.Mutex
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				if failures == 0 {
					return false
				}
				failures--
				tt.fault(w)
				return true
			}
			f := newFixture(t, srv, expired)
			if _, err := f.src.Token(); err != nil {
				t.Fatalf("got %v, want success on the third attempt", err)
			}
			if n := srv.Requests(); n != 3 {
				t.Errorf("got %d requests, want 3", n)
			}
		})
	}
}

func TestTransientFailureKeepsRefreshToken(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	f := newFixture(t, srv, expired, func(c *Config) { c.RefreshTimeout = 3 * time.Second })
	before := f.stored(t)
	srv.Close() // connection refused from now on
	_, err := f.src.Token()
	var te *Error
	if !errors.As(err, &te) || !te.Temporary() || errors.Is(err, ErrLoginRequired) {
		t.Fatalf("got %v, want a temporary *Error", err)
	}
	if after := f.stored(t); *after != *before {
		t.Errorf("store changed after a transient failure: %v, was %v", after, before)
	}
	if f.events.count(EventRefreshFailed) != 1 {
		t.Error("no refresh-failed event")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	defer srv.Close()
	var mu sync.Mutex
	var times []time.Time
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return true
		}
		return false
	}
	f := newFixture(t, srv, expired)
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Errorf("retried %d times, %v apart; want one retry after Retry-After's 1 s", len(times)-1, times[len(times)-1].Sub(times[0]))
	}
}

func TestRetryAfterTooLongFailsAtOnce(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(503)
		return true
	}
	f := newFixture(t, srv, expired)
	start := time.Now()
	_, err := f.src.Token()
	var te *Error
	if !errors.As(err, &te) || te.RetryAfter != time.Hour || !te.Temporary() {
		t.Fatalf("got %v, want a temporary error with RetryAfter 1h", err)
	}
	if d := time.Since(start); d > 2*time.Second || srv.Requests() != 1 {
		t.Errorf("took %v and %d requests, want one request and an immediate failure", d, srv.Requests())
	}
}

// TestBadTokenResponses: every malformed answer is a clear typed error,
// nothing is persisted and the stored refresh token is untouched.
func TestBadTokenResponses(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		ct        string
		body      string
		temporary bool
		malformed bool
	}{
		{"200 with error", 200, "application/json", `{"error":"invalid_scope"}`, false, false},
		{"missing access_token", 200, "application/json", `{"token_type":"Bearer","expires_in":60}`, false, true},
		{"non-string access_token", 200, "application/json", `{"access_token":42,"token_type":"Bearer"}`, false, true},
		{"unknown token_type", 200, "application/json", `{"access_token":"a","token_type":"MAC"}`, false, true},
		{"negative expires_in", 200, "application/json", `{"access_token":"a","expires_in":-1}`, false, true},
		{"huge expires_in", 200, "application/json", `{"access_token":"a","expires_in":1e40}`, false, true},
		{"non-numeric expires_in", 200, "application/json", `{"access_token":"a","expires_in":"an hour"}`, false, true},
		{"HTML page 200", 200, "text/html", `<html><body>Log in to the Wi-Fi</body></html>`, false, true},
		{"HTML page 502", 502, "text/html", `<html><body>Bad Gateway</body></html>`, true, true},
		{"body over 1 MiB", 200, "application/json", `{"access_token":"` + strings.Repeat("x", 1<<20) + `"}`, false, true},
		{"redirect", 302, "text/html", ``, false, false},
		{"duplicate keys", 200, "application/json", `{"access_token":"a","access_token":"b"}`, false, true},
		{"trailing garbage", 200, "application/json", `{"access_token":"a"}]`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", tt.ct)
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
				return true
			}
			f := newFixture(t, srv, expired, func(c *Config) { c.RefreshTimeout = 5 * time.Second })
			before := f.stored(t)
			_, err := f.src.Token()
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if te.Temporary() != tt.temporary || errors.Is(err, ErrMalformedResponse) != tt.malformed {
				t.Errorf("got %v: temporary %v, malformed %v; want %v, %v", err, te.Temporary(), errors.Is(err, ErrMalformedResponse), tt.temporary, tt.malformed)
			}
			if te.StatusCode != tt.status {
				t.Errorf("got status %d, want %d", te.StatusCode, tt.status)
			}
			if len(te.Body) > maxErrorBody {
				t.Errorf("Body holds %d bytes, want at most %d", len(te.Body), maxErrorBody)
			}
			if after := f.stored(t); *after != *before {
				t.Errorf("store changed: %v, was %v", after, before)
			}
			if errors.Is(err, ErrLoginRequired) {
				t.Error("a malformed answer was taken for a dead refresh token")
			}
		})
	}
}

func TestSlowBodyPastTimeout(t *testing.T) {
	t.Parallel()
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return true
	}
	f := newFixture(t, srv, expired, func(c *Config) { c.RefreshTimeout = 300 * time.Millisecond })
	before := f.stored(t)
	start := time.Now()
	_, err := f.src.Token()
	var te *Error
	if !errors.As(err, &te) || !te.Temporary() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a temporary *Error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about the 300 ms timeout", d)
	}
	if after := f.stored(t); *after != *before {
		t.Errorf("store changed: %v, was %v", after, before)
	}
}

func TestSessionAndRefreshExpiry(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*storage.Token)
		maxAge time.Duration
		want   Reason
	}{
		{"max session age", func(r *storage.Token) { r.AuthTime = time.Now().Add(-25 * time.Hour) }, 24 * time.Hour, ReasonSessionExpired},
		{"refresh token expired", func(r *storage.Token) { r.RefreshExpiry = time.Now().Add(-time.Second) }, 0, ReasonRefreshExpired},
		{"no refresh token", func(r *storage.Token) { r.RefreshToken = "" }, 0, ReasonNoRefreshToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, expired, func(c *Config) { c.MaxSessionAge = tt.maxAge })
			rec := f.stored(t)
			tt.edit(rec)
			rec.Version++ // a Save that is not newer is refused (storage.ErrStale)
			f.store.Save(context.Background(), "acct", rec)
			_, err := f.src.Token()
			var le *LoginRequiredError
			if !errors.As(err, &le) || le.Reason != tt.want {
				t.Fatalf("got %v, want reason %v", err, tt.want)
			}
			if f.srv.Requests() != 0 {
				t.Error("a token request was sent for a session that is over")
			}
		})
	}
}

func TestMaxSessionAgeEndsValidToken(t *testing.T) {
	now := time.Now()
	clock := &fakeClock{t: now}
	f := newFixture(t, nil, now.Add(time.Hour), func(c *Config) { c.MaxSessionAge = 10 * time.Minute; c.Now = clock.Now })
	rec := f.stored(t)
	rec.AuthTime = now.Add(-9 * time.Minute)
	rec.Version++ // a Save that is not newer is refused (storage.ErrStale)
	f.store.Save(context.Background(), "acct", rec)
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Minute) // the access token is valid for 58 more minutes, the session is over
	if _, err := f.src.Token(); !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("got %v, want ErrLoginRequired once the session is over", err)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRefreshExpiryRecorded(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"new","token_type":"bearer","expires_in":3600,"refresh_token":"rt2","refresh_expires_in":86400}`)
		return true
	}
	f := newFixture(t, srv, expired)
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	rec := f.stored(t)
	if d := time.Until(rec.RefreshExpiry); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("refresh expiry in %v, want about 24h", d)
	}
}

func TestCheckRefresh(t *testing.T) {
	t.Run("may edit", func(t *testing.T) {
		f := newFixture(t, nil, expired, func(c *Config) {
			c.CheckRefresh = func(_ context.Context, prev, next *storage.Token) error {
				if prev == nil || prev.RefreshToken == next.RefreshToken {
					t.Errorf("got prev %v and next %v, want the old and the rotated records", prev, next)
				}
				next.Scope = "checked"
				return nil
			}
		})
		if _, err := f.src.Token(); err != nil {
			t.Fatal(err)
		}
		if got := f.stored(t).Scope; got != "checked" {
			t.Errorf("stored scope %q, want the hook's edit", got)
		}
	})
	t.Run("refusal requires login", func(t *testing.T) {
		errSubject := errors.New("subject changed")
		f := newFixture(t, nil, expired, func(c *Config) {
			c.CheckRefresh = func(context.Context, *storage.Token, *storage.Token) error { return errSubject }
		})
		_, err := f.src.Token()
		var le *LoginRequiredError
		if !errors.As(err, &le) || le.Reason != ReasonCheckFailed || !errors.Is(err, errSubject) {
			t.Fatalf("got %v, want ReasonCheckFailed wrapping the hook's error", err)
		}
		if _, err := f.store.Load(context.Background(), "acct"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the refused tokens' predecessor is still stored: %v", err)
		}
	})
}
