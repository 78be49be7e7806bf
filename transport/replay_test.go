package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	invalidToken      = `Bearer realm="api", error="invalid_token", error_description="The access token expired"`
	insufficientScope = `Bearer error="insufficient_scope", scope="write"`
)

// bodyKind is how a replay test builds its request body.
type bodyKind int

const (
	bodyNil         bodyKind = iota
	bodyNoBody               // http.NoBody
	bodyReplayable           // with GetBody, as http.NewRequest sets for strings.Reader
	bodyOneShot              // without GetBody
	bodyGetBodyFail          // GetBody fails
)

type replayCase struct {
	name      string
	status    int    // answer to the stale token
	challenge string // its WWW-Authenticate
	rejected  func(*http.Response) bool
	body      bodyKind
	plain     bool  // Source is not a Refresher
	refErr    error // RefreshRejected fails
	same      bool  // RefreshRejected returns the rejected token's access token
	replayErr error // Base fails on the replay
	canceled  bool  // the request's context is canceled before RoundTrip
	expired   bool  // the request's context is past its deadline before RoundTrip

	wantStatus    int   // 0: want an error
	wantErr       error // with wantStatus 0: errors.Is target; nil means replayErr
	wantSends     int
	wantRefreshes int32 // RefreshRejected calls
}

// replays reports whether the case wants a refresh and a replay.
func (tc replayCase) replays() bool { return tc.wantSends == 2 }

func (tc replayCase) request(t *testing.T, ctx context.Context) *http.Request {
	t.Helper()
	var body io.Reader
	if tc.body != bodyNil && tc.body != bodyNoBody {
		body = strings.NewReader("payload")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "https://api.example.com/items/1", body)
	if err != nil {
		t.Fatal(err)
	}
	switch tc.body {
	case bodyNoBody:
		req.Body = http.NoBody
	case bodyOneShot:
		req.Body, req.GetBody = io.NopCloser(strings.NewReader("payload")), nil
	case bodyGetBodyFail:
		req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("cannot rewind") }
	}
	return req
}

func (tc replayCase) run(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "request"))
	defer cancel()
	if tc.canceled {
		cancel()
	}
	if tc.expired {
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
	}
	req := tc.request(t, ctx)
	before := takeSnapshot(req)
	refresher := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh", err: tc.refErr}
	if tc.same {
		refresher.next = "stale"
		refresher.current = &oauth2.Token{AccessToken: "stale"} // a new *Token, same access token
	}
	var src oauth2.TokenSource = refresher
	if tc.plain {
		src = staticSource{tok: refresher.current}
	}

	first, firstBody := response(tc.status, tc.challenge)
	var sends []string // Authorization and body of each send
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		var payload string
		if r.Body != nil {
			payload = readAll(t, r.Body)
			r.Body.Close()
		}
		sends = append(sends, r.Header.Get("Authorization")+" "+payload)
		if len(sends) == 1 {
			return first, nil
		}
		if tc.replayErr != nil {
			return nil, tc.replayErr
		}
		resp, _ := response(http.StatusOK, "")
		return resp, nil
	})
	tr := &Transport{Source: src, Base: base, Rejected: tc.rejected}
	resp, err := tr.RoundTrip(req)

	tc.check(t, resp, err, sends, firstBody)
	if got := refresher.calls.Load(); got != tc.wantRefreshes {
		t.Errorf("got %d RefreshRejected calls, want %d", got, tc.wantRefreshes)
	}
	if got, _ := refresher.ctxSeen.Load().(context.Context); tc.wantRefreshes > 0 && (got == nil || got.Value(key{}) != "request") {
		t.Errorf("got ctx %v in RefreshRejected, want the request's", got)
	}
	before.checkUnchanged(t, req)
}

func (tc replayCase) check(t *testing.T, resp *http.Response, err error, sends []string, firstBody *trackedBody) {
	t.Helper()
	wantErr := tc.wantErr
	if wantErr == nil {
		wantErr = tc.replayErr
	}
	switch {
	case tc.wantStatus == 0 && (resp != nil || !errors.Is(err, wantErr)):
		t.Fatalf("got (%v, %v), want (nil, %v)", resp, err, wantErr)
	case tc.wantStatus != 0 && (err != nil || resp.StatusCode != tc.wantStatus):
		t.Fatalf("got (%v, %v), want status %d", resp, err, tc.wantStatus)
	case len(sends) != tc.wantSends:
		t.Fatalf("got %d sends %q, want %d", len(sends), sends, tc.wantSends)
	}
	if tc.wantStatus == 0 && tc.refErr != nil {
		if n := firstBody.closed.Load(); n != 1 {
			t.Errorf("got the rejected response's body closed %d times, want once: RoundTrip returned an error instead", n)
		}
		return
	}
	if !tc.replays() {
		if !firstBody.untouched() {
			t.Error("got the rejected response's body read or closed, want it untouched")
		}
		return
	}
	if firstBody.closed.Load() != 1 {
		t.Error("got the rejected response's body left open, want it drained and closed")
	}
	wantPayload := "payload"
	if tc.body == bodyNil || tc.body == bodyNoBody {
		wantPayload = ""
	}
	want := []string{"Bearer stale " + wantPayload, "Bearer fresh " + wantPayload}
	if sends[0] != want[0] || sends[1] != want[1] {
		t.Errorf("got sends %q, want %q", sends, want)
	}
}

// TestReplay covers the rejection rule: which responses make the Transport
// refresh and replay the request once, and which are returned as they are.
func TestReplay(t *testing.T) {
	status403 := func(r *http.Response) bool { return r.StatusCode == http.StatusForbidden }
	any401 := func(r *http.Response) bool { return r.StatusCode == http.StatusUnauthorized }
	for _, tc := range []replayCase{
		{name: "invalid_token, replayable body", status: 401, challenge: invalidToken, body: bodyReplayable, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "invalid_token, nil body", status: 401, challenge: invalidToken, body: bodyNil, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "invalid_token, NoBody", status: 401, challenge: invalidToken, body: bodyNoBody, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "invalid_token after Basic challenge", status: 401, challenge: `Basic realm="x", ` + invalidToken, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "replay fails", status: 401, challenge: invalidToken, replayErr: errSource, wantSends: 2, wantRefreshes: 1},
		{name: "body not replayable", status: 401, challenge: invalidToken, body: bodyOneShot, wantStatus: 401, wantSends: 1},
		{name: "GetBody fails", status: 401, challenge: invalidToken, body: bodyGetBodyFail, wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "Source is not a Refresher", status: 401, challenge: invalidToken, plain: true, wantStatus: 401, wantSends: 1},
		{name: "refresh fails for good", status: 401, challenge: invalidToken, refErr: errSource, wantErr: errSource, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: login required", status: 401, challenge: invalidToken, refErr: errLogin, wantErr: errLoginSentinel, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: Temporary() true", status: 401, challenge: invalidToken, refErr: tempErr(true), wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: wraps Temporary() true", status: 401, challenge: invalidToken, refErr: fmt.Errorf("refresh: %w", tempErr(true)), wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: Temporary() false", status: 401, challenge: invalidToken, refErr: tempErr(false), wantErr: tempErr(false), wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: refresher's deadline", status: 401, challenge: invalidToken, refErr: fmt.Errorf("refresh: %w", context.DeadlineExceeded), wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: refresher canceled", status: 401, challenge: invalidToken, refErr: context.Canceled, wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: request canceled", status: 401, challenge: invalidToken, canceled: true, refErr: context.Canceled, wantErr: context.Canceled, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: request deadline", status: 401, challenge: invalidToken, expired: true, refErr: context.DeadlineExceeded, wantErr: context.DeadlineExceeded, wantSends: 1, wantRefreshes: 1},
		{name: "refresh fails: request done, refresher's error temporary", status: 401, challenge: invalidToken, canceled: true, refErr: tempErr(true), wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "hook: 403, refresh fails for good", status: 403, rejected: status403, refErr: errLogin, wantErr: errLoginSentinel, wantSends: 1, wantRefreshes: 1},
		{name: "refresh gives the same token", status: 401, challenge: invalidToken, same: true, wantStatus: 401, wantSends: 1, wantRefreshes: 1},
		{name: "401 without challenge", status: 401, wantStatus: 401, wantSends: 1},
		{name: "401 with another error", status: 401, challenge: `Bearer error="invalid_request"`, wantStatus: 401, wantSends: 1},
		{name: "401 Basic only", status: 401, challenge: `Basic realm="x"`, wantStatus: 401, wantSends: 1},
		{name: "401 malformed challenge", status: 401, challenge: `Bearer error="invalid_token`, wantStatus: 401, wantSends: 1},
		{name: "403 invalid_token by default", status: 403, challenge: invalidToken, wantStatus: 403, wantSends: 1},
		{name: "403 insufficient_scope", status: 403, challenge: insufficientScope, wantStatus: 403, wantSends: 1},
		{name: "200", status: 200, challenge: invalidToken, wantStatus: 200, wantSends: 1},
		{name: "hook: 401 without challenge", status: 401, rejected: any401, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "hook: provider answers 403", status: 403, rejected: status403, wantStatus: 200, wantSends: 2, wantRefreshes: 1},
		{name: "hook: 403 insufficient_scope never refreshes", status: 403, challenge: insufficientScope, rejected: status403, wantStatus: 403, wantSends: 1},
		{name: "hook says no", status: 401, challenge: invalidToken, rejected: status403, wantStatus: 401, wantSends: 1},
	} {
		t.Run(tc.name, tc.run)
	}
}

// tempErr is an error with a Temporary method, as tokensource's *Error has.
type tempErr bool

func (e tempErr) Error() string   { return fmt.Sprintf("refresh failed (temporary: %t)", bool(e)) }
func (e tempErr) Temporary() bool { return bool(e) }

// errLoginSentinel and errLogin stand for tokensource.ErrLoginRequired and a
// *LoginRequiredError, which the fake Refresher returns when the provider
// revoked the grant.
var (
	errLoginSentinel = errors.New("login required")
	errLogin         = fmt.Errorf("refresh token rejected: %w", errLoginSentinel)
)

// TestReplayOnce checks that a replay rejected again is returned as is.
func TestReplayOnce(t *testing.T) {
	src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh"}
	sends := 0
	tr := &Transport{Source: src, Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		sends++
		resp, _ := response(http.StatusUnauthorized, invalidToken)
		return resp, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || sends != 2 || src.calls.Load() != 1 {
		t.Errorf("got (%v, %v) after %d sends and %d refreshes, want a 401 after 2 and 1", resp, err, sends, src.calls.Load())
	}
}

// TestReplayBurst checks that 50 concurrent requests rejected for the
// same stale token make one refresh at the token endpoint, and each is
// replayed once, with the new token.
func TestReplayBurst(t *testing.T) {
	const n = 50
	var (
		mu       sync.Mutex // guards stale, sends
		stale    int
		sends    = map[string][]string{} // request id → Authorization of each send
		allStale = make(chan struct{})
		wg       sync.WaitGroup
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		sends[r.Header.Get("X-Request-Id")] = append(sends[r.Header.Get("X-Request-Id")], auth)
		if auth == "Bearer stale" {
			if stale++; stale == n {
				close(allStale)
			}
		}
		mu.Unlock()
		if auth != "Bearer stale" {
			return
		}
		select { // answer 401 only once all n requests carry the stale token
		case <-allStale:
		case <-time.After(5 * time.Second):
			t.Error("timed out waiting for the burst")
		}
		w.Header().Set("WWW-Authenticate", invalidToken)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()

	var refreshes int
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		refreshes++
		mu.Unlock()
	}))
	defer tokenEndpoint.Close()

	src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh"}
	src.refresh = func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenEndpoint.URL, strings.NewReader("grant_type=refresh_token"))
		resp, err := tokenEndpoint.Client().Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	client := &http.Client{Transport: &Transport{Source: src, Base: api.Client().Transport}}

	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, api.URL, strings.NewReader("payload"))
			req.Header.Set("X-Request-Id", fmt.Sprint(i))
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: got status %d, want 200", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if refreshes != 1 {
		t.Errorf("got %d refreshes at the token endpoint, want 1", refreshes)
	}
	for i := range n {
		got := sends[fmt.Sprint(i)]
		if len(got) != 2 || got[0] != "Bearer stale" || got[1] != "Bearer fresh" {
			t.Errorf("request %d: got sends %q, want [Bearer stale, Bearer fresh]", i, got)
		}
	}
}

// TestRefreshFailsThroughClient covers issue 9 defect 9 through a real
// http.Client and server: when the refresh a 401 invalid_token triggered
// fails for good ("log in again"), Do returns that error (errors.Is sees it
// through *url.Error), no response, and the 401 is drained and closed; when
// it fails transiently, Do returns the 401 as it came, body intact.
func TestRefreshFailsThroughClient(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", invalidToken)
		http.Error(w, "token revoked", http.StatusUnauthorized)
	}))
	defer api.Close()
	for _, tc := range []struct {
		name       string
		refErr     error
		wantErr    error // nil: want the 401
		wantStatus int
	}{
		{name: "login required", refErr: errLogin, wantErr: errLoginSentinel},
		{name: "fails for good", refErr: errSource, wantErr: errSource},
		{name: "transient", refErr: tempErr(true), wantStatus: http.StatusUnauthorized},
		{name: "refresher's deadline", refErr: context.DeadlineExceeded, wantStatus: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeRefresher{current: &oauth2.Token{AccessToken: secret}, next: "fresh", err: tc.refErr}
			client := &http.Client{Transport: &Transport{Source: src, Base: api.Client().Transport}}
			resp, err := client.Get(api.URL + "/me")
			if src.calls.Load() != 1 {
				t.Errorf("got %d RefreshRejected calls, want 1", src.calls.Load())
			}
			if tc.wantErr != nil {
				var ue *url.Error
				switch {
				case resp != nil:
					resp.Body.Close()
					t.Fatalf("got status %d and error %v, want no response", resp.StatusCode, err)
				case !errors.Is(err, tc.wantErr) || !errors.As(err, &ue):
					t.Fatalf("got error %v, want a *url.Error matching %v", err, tc.wantErr)
				case strings.Contains(err.Error(), secret):
					t.Errorf("got error %q, which contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want the %d", err, tc.wantStatus)
			}
			defer resp.Body.Close()
			if body := readAll(t, resp.Body); resp.StatusCode != tc.wantStatus || body != "token revoked\n" {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, "token revoked\n")
			}
		})
	}
}
