package transport

// Hardening, transport (issue 6). The whole case list and where each case
// is proved is in HARDENING.md at the repository root. Already covered by
// the package's other tests:
//
//	cross-host, https→http, chains that leave and     redirect_test.go:TestRedirects, TestAuthorize
//	  come back never carry the Bearer elsewhere
//	caller's request never mutated                    transport_test.go:TestRoundTripDoesNotModifyRequest, redirect_test.go:TestRedirects
//	body closed on early errors                       transport_test.go:TestRoundTripEarlyErrors, TestRoundTripBaseErrorClosesResponse
//	401 without invalid_token returned as is          replay_test.go:TestReplay ("401 without challenge", "401 with another error", "401 Basic only")
//	403 insufficient_scope never refreshes            replay_test.go:TestReplay ("403 insufficient_scope", "hook: 403 insufficient_scope never refreshes")
//	a Rejected hook for providers answering 403       replay_test.go:TestReplay ("hook: provider answers 403")
//	burst of 401s makes one refresh                   replay_test.go:TestReplayBurst, tokensource/transport_test.go
//
// Issue 9 defect 9 and issue 10 item 7 (refresh errors, TLS, allow-list):
//
//	refresh after a rejection fails for good: the     replay_test.go:TestReplay ("refresh fails ..." rows), TestRefreshFailsThroughClient,
//	  error (login required) instead of the 401         login_test.go:TestLoginRequiredEndToEnd, example_login_test.go:Example_loginRequired
//	refresh fails transiently: the 401 as before      the same tests' transient rows
//	plain http to a non-loopback host refused         guard_test.go:TestPermit, TestRoundTripRefused, redirect_test.go:TestRedirects
//	allow-list (Hosts, Allow) on every token hop      guard_test.go:TestPermit, TestRoundTripRefused, TestReplayStaysOnAllowedHost, redirect_test.go:TestRedirects
//	no secret in any verb, nested, or slog            format_test.go:TestFormatHasNoSecret, TestFormatDescribes, TestFormatWhileInUse
//
// Issue 15 (DPoP, RFC 9449):
//
//	"Authorization: DPoP" + one fresh proof per send,   dpop_rules_test.go:TestDPoPHeader, TestDPoPProofPerRequest; dpop_test.go:TestDPoP
//	  replays included; caller's request untouched
//	DPoP-Nonce reported (only for DPoP sends); one      dpop_test.go:TestDPoP, TestDPoPNonceBurst; dpop_rules_test.go:TestDPoPBearerToken
//	  use_dpop_nonce retry, replayable bodies only
//	DPoP invalid_token refreshes; insufficient_scope    dpop_test.go:TestDPoP, TestInvalidToken
//	  and use_dpop_nonce never do
//	no prover / proof error: not sent, body closed,     dpop_rules_test.go:TestDPoPNoProver, TestDPoPProofFails
//	  no token or proof in the error
//	TLS, allow-list and redirect rules for DPoP         dpop_rules_test.go:TestDPoPRefused, TestDPoPRedirects
//	real keys, proofs verified with go-jose             dpop_key_test.go:TestDPoPRealKey
//
// This file adds, against real servers (the test against a real OpenID
// Provider, TestProvider403ForExpiredToken, is in the examples module's
// integration/transport, so that this module does not depend on the
// provider):
//
//	a rejection at a foreign redirect hop never       TestRedirectedRejection
//	  refreshes; at a hop back on the origin it does
//	every request body, and every GetBody copy,       TestBodiesClosedWithRealTransport
//	  closed on every path through net/http
//
// Classification (documented on Transport.Rejected): by default only a 401
// whose Bearer challenge says error="invalid_token" means "this token was
// rejected": a 401 without it (no challenge, another error, another
// scheme) and every 403 are returned to the caller untouched, since a new
// token would not change the answer. Providers that answer expired tokens
// with 403 are handled by setting Rejected, e.g. to
// InvalidToken(r) || r.StatusCode == 403; insufficient_scope never
// causes a refresh, whatever the hook says.

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// recorder is a server that records the Authorization header of each
// request by path; /redirect?to=U redirects to U, /reject answers 401
// invalid_token to any token but "Bearer fresh".
type recorder struct {
	*httptest.Server
	mu   sync.Mutex // guards seen
	seen map[string][]string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{seen: map[string][]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		auth := req.Header.Get("Authorization")
		r.mu.Lock()
		r.seen[req.URL.Path] = append(r.seen[req.URL.Path], auth)
		r.mu.Unlock()
		switch req.URL.Path {
		case "/redirect":
			http.Redirect(w, req, req.URL.Query().Get("to"), http.StatusFound)
		case "/reject":
			if auth != "Bearer fresh" {
				w.Header().Set("WWW-Authenticate", invalidToken)
				w.WriteHeader(http.StatusUnauthorized)
			}
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) auths(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[path]
}

// TestRedirectedRejection: a 401 invalid_token from a host the token was
// not sent to (a redirect hop to another host) says nothing about the
// token: it is returned as is and the Source is not asked to refresh. A
// 401 invalid_token from a hop back on the original host, which did get
// the token, refreshes once and replays that hop with the new token. The
// foreign host never sees either token.
func TestRedirectedRejection(t *testing.T) {
	origin, foreign := newRecorder(t), newRecorder(t)
	foreignURL := strings.Replace(foreign.URL, "127.0.0.1", "localhost", 1) // another host name
	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantCalls  int32
		check      func(t *testing.T)
	}{
		{
			name:       "rejected by the foreign host",
			url:        origin.URL + "/redirect?to=" + url.QueryEscape(foreignURL+"/reject"),
			wantStatus: http.StatusUnauthorized,
			check: func(t *testing.T) {
				if got := foreign.auths("/reject"); len(got) != 1 || got[0] != "" {
					t.Errorf("foreign host got Authorization %q, want one request without", got)
				}
			},
		},
		{
			name:       "rejected back on the origin",
			url:        origin.URL + "/redirect?to=" + url.QueryEscape(foreignURL+"/redirect?to="+url.QueryEscape(origin.URL+"/reject")),
			wantStatus: http.StatusOK,
			wantCalls:  1,
			check: func(t *testing.T) {
				if got := origin.auths("/reject"); len(got) != 2 || got[0] != "Bearer stale" || got[1] != "Bearer fresh" {
					t.Errorf("origin's rejecting hop got %q, want [Bearer stale, Bearer fresh]", got)
				}
				if got := foreign.auths("/redirect"); len(got) != 1 || got[0] != "" {
					t.Errorf("foreign host got Authorization %q, want one request without", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*recorder{origin, foreign} {
				r.mu.Lock()
				clear(r.seen)
				r.mu.Unlock()
			}
			src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh"}
			client := &http.Client{Transport: &Transport{Source: src, Base: http.DefaultTransport.(*http.Transport).Clone()}}
			defer client.CloseIdleConnections()
			resp, err := client.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || src.calls.Load() != tt.wantCalls {
				t.Errorf("got status %d after %d RefreshRejected calls, want %d after %d", resp.StatusCode, src.calls.Load(), tt.wantStatus, tt.wantCalls)
			}
			tt.check(t)
		})
	}
}

// TestBodiesClosedWithRealTransport: with net/http's own Transport as Base
// and a real server, the request body, and every copy GetBody made for a
// replay or a redirect, is closed on every path: success, a replay after
// 401, a 401 that cannot be replayed (one-shot body, transient refresh
// failure), a refresh that fails for good (an error instead of the 401), a
// 307 the client follows, and a connection that cannot be made.
func TestBodiesClosedWithRealTransport(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/307":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		case r.URL.Path == "/reject" && r.Header.Get("Authorization") != "Bearer fresh":
			w.Header().Set("WWW-Authenticate", invalidToken)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name       string
		url        string
		oneShot    bool
		refreshErr error
		wantStatus int // 0: want an error
		wantBodies int // bodies made: the original and GetBody's copies
	}{
		{"200", api.URL + "/ok", false, nil, 200, 1},
		{"401 replayed", api.URL + "/reject", false, nil, 200, 2},
		{"401, one-shot body", api.URL + "/reject", true, nil, 401, 1},
		{"401, refresh fails for good", api.URL + "/reject", false, errSource, 0, 1},
		{"401, refresh fails transiently", api.URL + "/reject", false, tempErr(true), 401, 1},
		{"307 followed", api.URL + "/307", false, nil, 200, 2},
		{"connection refused", refused + "/ok", false, nil, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []*trackedBody
			newTracked := func() *trackedBody {
				b := newBody("payload")
				mu.Lock()
				bodies = append(bodies, b)
				mu.Unlock()
				return b
			}
			req, _ := http.NewRequest(http.MethodPost, tt.url, nil)
			req.Body, req.ContentLength = newTracked(), int64(len("payload"))
			if !tt.oneShot {
				req.GetBody = func() (io.ReadCloser, error) { return newTracked(), nil }
			}
			src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh", err: tt.refreshErr}
			base := http.DefaultTransport.(*http.Transport).Clone()
			defer base.CloseIdleConnections()
			client := &http.Client{Transport: &Transport{Source: src, Base: base}}
			resp, err := client.Do(req)
			switch {
			case tt.wantStatus == 0 && err == nil:
				resp.Body.Close()
				t.Fatalf("got status %d, want an error", resp.StatusCode)
			case tt.wantStatus != 0 && err != nil:
				t.Fatal(err)
			case tt.wantStatus != 0:
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
			}
			// net/http closes request bodies from its own goroutines.
			deadline := time.Now().Add(2 * time.Second)
			for {
				mu.Lock()
				open := 0
				for _, b := range bodies {
					if b.closed.Load() == 0 {
						open++
					}
				}
				n := len(bodies)
				mu.Unlock()
				if open == 0 {
					if n != tt.wantBodies {
						t.Errorf("got %d bodies made, want %d", n, tt.wantBodies)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d request bodies never closed", open, n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
