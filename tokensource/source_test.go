package tokensource

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

func TestCachedTokenNeedsNoRequest(t *testing.T) {
	f := newFixture(t, nil, time.Time{})
	want := f.stored(t).AccessToken
	for range 3 {
		tok, err := f.src.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != want {
			t.Fatalf("got %q, want %q", tok.AccessToken, want)
		}
	}
	if n := f.srv.Requests(); n != 0 {
		t.Errorf("got %d token requests, want 0", n)
	}
	if tok, _ := f.src.Token(); tok.RefreshToken != "" || tok.Type() != "Bearer" {
		t.Errorf("handed-out token: got refresh token %q and type %q, want none and Bearer", tok.RefreshToken, tok.Type())
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	f := newFixture(t, nil, time.Time{})
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { f.src.Token() }); n != 0 {
		t.Errorf("got %v allocations per cached Token(), want 0", n)
	}
}

func TestStampedeMakesOneRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 50 * time.Millisecond
	f := newFixture(t, srv, expired)
	const callers = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	toks := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			<-start
			tok, err := f.src.Token()
			errs[i] = err
			if tok != nil {
				toks[i] = tok.AccessToken
			}
		})
	}
	close(start)
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests, want 1", n)
	}
	for i := range callers {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: got %q, %v; want %q like caller 0", i, toks[i], errs[i], toks[0])
		}
	}
	if got := f.stored(t).AccessToken; got != toks[0] {
		t.Errorf("stored access token %q, want the refreshed %q", got, toks[0])
	}
}

func TestCancelledCallerLeavesRefreshGoesOn(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 300 * time.Millisecond
	f := newFixture(t, srv, expired)

	done := make(chan error, 1)
	go func() { _, err := f.src.Token(); done <- err }()

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := f.src.TokenContext(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 150*time.Millisecond {
				t.Errorf("cancelled caller left after %v, want at once", d)
			}
		})
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("the patient caller got %v, want a token", err)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests, want 1", n)
	}
}

func TestFirstCallerCancelledDoesNotCancelRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 100 * time.Millisecond
	f := newFixture(t, srv, expired)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if _, err := f.src.TokenContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	eventually(t, "the refresh finished", func() bool { return srv.Refreshes() == 1 })
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests, want 1", n)
	}
}

func TestRotationPersistedBeforeCallersSeeIt(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired)
	old := f.stored(t)
	checked := false
	f.src.store = &observingStore{Store: f.store, onSave: func(rec *storage.Token) {
		if e := f.src.cur.Load(); e != nil && e.tok != nil && e.tok.AccessToken == rec.AccessToken {
			t.Error("the new access token was visible before its record was saved")
		}
		checked = true
	}}
	tok, err := f.src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("Save was never called")
	}
	rec := f.stored(t)
	if rec.AccessToken != tok.AccessToken || rec.RefreshToken == old.RefreshToken || rec.Version != old.Version+1 {
		t.Errorf("stored %v after rotation from %v; want the new tokens at version %d", rec, old, old.Version+1)
	}
	if f.events.count(EventRotated) != 1 || f.events.count(EventRefreshed) != 1 {
		t.Errorf("events: %+v, want one refreshed and one rotated", f.events.events)
	}
	// The old refresh token is dead at the server; the next refresh must use the new one.
	f.src.publish(newEntry(rec.Clone(), time.Now(), time.Minute, time.Time{}, randN))
	if _, err := f.src.RefreshRejected(context.Background(), tok); err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	if srv.Rejected() != 0 {
		t.Errorf("server rejected %d requests: an old refresh token was reused", srv.Rejected())
	}
}

type observingStore struct {
	storage.Store
	onSave func(*storage.Token)
}

func (s *observingStore) Save(ctx context.Context, key string, t *storage.Token) error {
	s.onSave(t)
	return s.Store.Save(ctx, key, t)
}

func TestResponseWithoutRefreshTokenKeepsOld(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.NoRotation = true
	f := newFixture(t, srv, expired)
	old := f.stored(t)
	old.IDToken = "id-token-1"
	old.Version++ // a Save that is not newer is refused (storage.ErrStale)
	f.store.Save(context.Background(), "acct", old)
	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	rec := f.stored(t)
	if rec.RefreshToken != old.RefreshToken || rec.IDToken != "id-token-1" || rec.AccessToken == old.AccessToken {
		t.Errorf("got %v, want a new access token and the old refresh and ID tokens", rec)
	}
	if f.events.count(EventRotated) != 0 {
		t.Error("got a rotated event without rotation")
	}
}

func TestSaveFailureKeepsNewestRefreshToken(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired)
	flaky := &flakyStore{Memory: f.store, failing: true}
	f.src.store = flaky

	tok, err := f.src.Token()
	if err != nil {
		t.Fatalf("Token with a failing store: %v, want the token", err)
	}
	if f.events.count(EventSaveFailed) == 0 {
		t.Error("no save-failed event")
	}
	if log := f.logs.String(); !strings.Contains(log, "save failed") || !strings.Contains(log, "disk full") {
		t.Errorf("log does not report the failed save:\n%s", log)
	}
	if e := f.src.cur.Load(); !e.unsaved || e.tok.AccessToken != tok.AccessToken {
		t.Fatal("the unsaved token is not kept in memory")
	}
	flaky.setFailing(false) // the retry timer saves it
	eventually(t, "the newest token is saved", func() bool {
		rec, err := f.store.Load(context.Background(), "acct")
		return err == nil && rec.AccessToken == tok.AccessToken
	})
	// The store holds the record before the retry's flight ends and its
	// events are delivered: wait for the event itself.
	eventually(t, "a saved event after the retry", func() bool { return f.events.count(EventSaved) > 0 })
	// The next refresh redeems the newest refresh token: the server sees no reuse.
	if _, err := f.src.RefreshRejected(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if srv.Rejected() != 0 {
		t.Errorf("server rejected %d refreshes", srv.Rejected())
	}
}

func TestSaveFailureRetriedByNextRefreshAndClose(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, expired)
	flaky := &flakyStore{Memory: f.store, failing: true}
	f.src.store = flaky

	if _, err := f.src.Token(); err != nil {
		t.Fatal(err)
	}
	flaky.setFailing(false)
	newest := f.src.cur.Load().rec
	if err := f.src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rec := f.stored(t); rec.RefreshToken != newest.RefreshToken {
		t.Errorf("after Close the store holds %v, want %v", rec, newest)
	}
}

func TestNoStoredToken(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	src, err := New(Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = src.Token()
	var le *LoginRequiredError
	if !errors.Is(err, ErrLoginRequired) || !errors.As(err, &le) || le.Reason != ReasonNoToken {
		t.Fatalf("got %v, want ErrLoginRequired with ReasonNoToken", err)
	}
	if srv.Requests() != 0 {
		t.Error("a token request was sent without a token")
	}
}

func TestSetTokenAndForget(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	f := newFixture(t, srv, time.Time{})
	at, rt, exp := srv.Login()
	if err := f.src.SetToken(context.Background(), &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, AuthTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A login's Version is at least the time in Unix microseconds, so
	// that it outranks an earlier login's records held elsewhere.
	if rec := f.stored(t); rec.AccessToken != at || rec.Version < uint64(time.Now().Add(-time.Minute).UnixMicro()) {
		t.Errorf("stored %v, want the new token at a version from the clock", rec)
	}
	if tok, _ := f.src.Token(); tok.AccessToken != at {
		t.Errorf("got %q, want %q", tok.AccessToken, at)
	}
	if err := f.src.Forget(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Load(context.Background(), "acct"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after Forget Load got %v, want ErrNotFound", err)
	}
	_, err := f.src.Token()
	var le *LoginRequiredError
	if !errors.As(err, &le) || le.Reason != ReasonLoggedOut {
		t.Fatalf("after Forget got %v, want ReasonLoggedOut", err)
	}
}

func TestTwoSourcesShareOneRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	f := newFixture(t, srv, expired)
	lk := &countingLocker{Memory: f.store}
	f.src.store = lk
	peer, err := New(f.src.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.store = lk
	peerEvents := &eventLog{settle: peer.settle} // events are delivered after the callers are released
	peer.cfg.OnEvent = peerEvents.add
	for _, s := range []*Source{f.src, peer} { // both have loaded the expired token
		s.publish(s.newEntry(f.stored(t)))
	}

	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, 2)
	for i, s := range []*Source{f.src, peer} {
		wg.Go(func() {
			tok, err := s.Token()
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests from two sources, want 1", n)
	}
	if toks[0] == nil || toks[1] == nil || toks[0].AccessToken != toks[1].AccessToken {
		t.Fatalf("sources got different tokens %v and %v", toks[0], toks[1])
	}
	if lk.locks() < 2 {
		t.Errorf("got %d lock acquisitions, want one per source", lk.locks())
	}
	if f.events.count(EventAdopted)+peerEvents.count(EventAdopted) != 1 {
		t.Error("want exactly one source to adopt the other's token")
	}
}

type countingLocker struct {
	*storage.Memory
	mu sync.Mutex
	n  int
}

func (l *countingLocker) Lock(ctx context.Context, key string) (func() error, error) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return l.Memory.Lock(ctx, key)
}

func (l *countingLocker) locks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func TestRefreshRejectedBurstMakesOneRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	f := newFixture(t, srv, time.Time{})
	stale, err := f.src.Token()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tok, err := f.src.RefreshRejected(context.Background(), stale)
			if err != nil || tok.AccessToken == stale.AccessToken {
				t.Errorf("got %v, %v; want a new token", tok, err)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests for a burst of rejections, want 1", n)
	}
}

func TestClientAuthentication(t *testing.T) {
	tests := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"basic", oauth2.AuthStyleInHeader},
		{"post", oauth2.AuthStyleInParams},
		{"autodetect", oauth2.AuthStyleAutoDetect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			srv.ClientID, srv.ClientSecret = "cid", "s3cr:et&"
			var sawBasic bool
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool { _, _, sawBasic = r.BasicAuth(); return false }
			f := newFixture(t, srv, expired, func(c *Config) {
				c.OAuth2.ClientID, c.OAuth2.ClientSecret, c.OAuth2.Endpoint.AuthStyle = "cid", "s3cr:et&", tt.style
			})
			if _, err := f.src.Token(); err != nil {
				t.Fatal(err)
			}
			if want := tt.style != oauth2.AuthStyleInParams; sawBasic != want {
				t.Errorf("Basic auth used: got %v, want %v", sawBasic, want)
			}
		})
	}
	t.Run("public client", func(t *testing.T) {
		srv := tokentest.NewServer()
		defer srv.Close()
		var id string
		srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
			r.ParseForm()
			id = r.PostForm.Get("client_id")
			return false
		}
		f := newFixture(t, srv, expired)
		if _, err := f.src.Token(); err != nil {
			t.Fatal(err)
		}
		if id != "client" {
			t.Errorf("client_id in body: got %q, want %q", id, "client")
		}
	})
}

func TestClientCredentialsGrant(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.ClientID, srv.ClientSecret = "svc", "secret"
	var scope string
	srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
		r.ParseForm()
		scope = r.PostForm.Get("scope")
		return false
	}
	src, err := New(Config{Grant: GrantClientCredentials, OAuth2: &oauth2.Config{ClientID: "svc", ClientSecret: "secret", Scopes: []string{"a", "b"}, Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := src.Token(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if srv.Requests() != 1 || scope != "a b" {
		t.Errorf("got %d requests with scope %q, want 1 with %q", srv.Requests(), scope, "a b")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := tokentest.NewServer()
	srv.Lifetime = 2 * time.Second
	f := newFixture(t, srv, expired, func(c *Config) { c.RefreshBefore = time.Second })
	for range 3 {
		if _, err := f.src.Token(); err != nil {
			t.Fatal(err)
		}
	}
	cur, _ := f.src.Token()
	f.src.Close()
	f.src.Close() // idempotent
	if _, err := f.src.RefreshRejected(context.Background(), cur); !errors.Is(err, ErrClosed) {
		t.Errorf("refresh after Close: got %v, want ErrClosed", err)
	}
	srv.CloseClientConnections()
	srv.Close()
	http.DefaultClient.CloseIdleConnections()
	defaultHTTPClient.CloseIdleConnections()
	eventually(t, "goroutines are gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"nil OAuth2", Config{}},
		{"no token URL", Config{OAuth2: &oauth2.Config{}}},
		{"plain http", Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://idp.example/token"}}}},
		{"not a URL", Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "::"}}}},
		{"negative timeout", Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "https://idp.example/token"}}, RefreshTimeout: -1}},
		{"client credentials without id", Config{Grant: GrantClientCredentials, OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "https://idp.example/token"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
	for _, u := range []string{"https://idp.example/token", "http://127.0.0.1:8080/token", "http://[::1]/t", "http://localhost/t"} {
		s, err := New(Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: u}}})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		s.Close()
	}
}

func TestTokenWithoutExpiryIsServedWithoutRefresh(t *testing.T) {
	f := newFixture(t, nil, time.Time{})
	rec := f.stored(t)
	rec.Expiry = time.Time{}
	rec.Version++ // a Save that is not newer is refused (storage.ErrStale)
	f.store.Save(context.Background(), "acct", rec)
	for range 3 {
		if tok, err := f.src.Token(); err != nil || tok.AccessToken != rec.AccessToken {
			t.Fatalf("got %v, %v; want the stored token", tok, err)
		}
	}
	f.src.mu.Lock()
	timer := f.src.timer
	f.src.mu.Unlock()
	if f.srv.Requests() != 0 || timer != nil {
		t.Errorf("got %d requests and timer %v for a token without expiry, want none", f.srv.Requests(), timer)
	}
}
