package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

const secret = "s3cr3t-access-token"

func okBase(t *testing.T, check func(r *http.Request)) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if check != nil {
			check(r)
		}
		if r.Body != nil {
			r.Body.Close()
		}
		resp, _ := response(http.StatusOK, "")
		return resp, nil
	})
}

func TestRoundTripAuthorizationHeader(t *testing.T) {
	for _, tc := range []struct {
		tokenType string
		want      string
	}{
		{"", "Bearer " + secret},
		{"bearer", "Bearer " + secret},
		{"Bearer", "Bearer " + secret},
		{"BEARER", "Bearer " + secret},
		{"MAC", "MAC " + secret},
	} {
		t.Run("type "+tc.tokenType, func(t *testing.T) {
			var got []string
			tr := &Transport{
				Source: staticSource{tok: &oauth2.Token{AccessToken: secret, TokenType: tc.tokenType}},
				Base:   okBase(t, func(r *http.Request) { got = r.Header.Values("Authorization") }),
			}
			req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
			req.Header.Set("Authorization", "Basic caller") // replaced in the copy, kept in req
			req.Header["authorization"] = []string{"odd spelling"}
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("got Authorization %q, want [%q]", got, tc.want)
			}
		})
	}
}

// TestRoundTripCachesHeader checks that the header value is built once per
// token and shared, and rebuilt when the token changes, even for a source
// that returns a new *Token with the same strings every time.
func TestRoundTripCachesHeader(t *testing.T) {
	var mu sync.Mutex
	current := "one"
	src := sourceFunc(func() (*oauth2.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		return &oauth2.Token{AccessToken: current}, nil
	})
	var sent [][]string
	tr := &Transport{Source: src, Base: okBase(t, func(r *http.Request) { sent = append(sent, r.Header["Authorization"]) })}
	send := func() {
		req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	send()
	send()
	mu.Lock()
	current = "two"
	mu.Unlock()
	send()
	if &sent[0][0] != &sent[1][0] {
		t.Error("got a new header value for the same token, want the cached one")
	}
	if got, want := sent[2][0], "Bearer two"; got != want || &sent[2][0] == &sent[1][0] {
		t.Errorf("got %q after the token changed, want %q in a new value", got, want)
	}
}

type sourceFunc func() (*oauth2.Token, error)

func (f sourceFunc) Token() (*oauth2.Token, error) { return f() }

func TestRoundTripUsesTokenContext(t *testing.T) {
	type key struct{}
	src := &ctxSource{t: t, tok: &oauth2.Token{AccessToken: secret}}
	tr := &Transport{Source: src, Base: okBase(t, nil)}
	ctx := context.WithValue(context.Background(), key{}, "request")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	got, _ := src.got.Load().(context.Context)
	if got == nil || got.Value(key{}) != "request" {
		t.Errorf("got ctx %v in TokenContext, want the request's", got)
	}
}

// TestRoundTripDoesNotModifyRequest checks that the caller's request,
// its Header map and value slices stay as they were, even when a later
// RoundTripper misbehaves and edits the copy it gets.
func TestRoundTripDoesNotModifyRequest(t *testing.T) {
	accept := make([]string, 1, 4) // spare capacity an append could write into
	accept[0] = "application/json"
	req, _ := http.NewRequest(http.MethodPost, "https://user:pw@api.example.com/x?q=1", strings.NewReader("payload"))
	req.Header["Accept"] = accept
	req.Header.Set("Authorization", "Basic caller")
	req.Trailer = http.Header{"X-Sum": {"1"}}
	before := takeSnapshot(req)

	src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh"}
	var calls int
	tr := &Transport{Source: src, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		readAll(t, r.Body)
		r.Body.Close()
		r.Header.Add("Accept", "text/plain") // a misbehaving RoundTripper
		r.Header.Set("X-Added", "1")
		r.Header.Del("Authorization")
		r.URL.Fragment = "" // no-op write must not matter
		if calls == 1 {
			resp, _ := response(http.StatusUnauthorized, `Bearer error="invalid_token"`)
			return resp, nil
		}
		resp, _ := response(http.StatusOK, "")
		return resp, nil
	})}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || calls != 2 {
		t.Fatalf("got status %d after %d sends, want 200 after 2 (a replay)", resp.StatusCode, calls)
	}
	before.checkUnchanged(t, req)
	if spare := accept[:2][1]; spare != "" {
		t.Errorf("got %q written into the caller's spare capacity, want nothing", spare)
	}
}

// TestRoundTripEarlyErrors covers behaviours 2 and 7: on every early error the
// body is closed, no response is returned, and the message has no token.
func TestRoundTripEarlyErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tok := &oauth2.Token{AccessToken: secret}
	for _, tc := range []struct {
		name    string
		source  oauth2.TokenSource
		ctx     context.Context
		base    http.RoundTripper
		wantErr error // errors.Is target, nil for any
	}{
		{name: "nil Source"},
		{name: "Source fails", source: staticSource{err: errSource}, wantErr: errSource},
		{name: "Source returns nil token", source: staticSource{}},
		{name: "Source returns empty token", source: staticSource{tok: &oauth2.Token{TokenType: "Bearer"}}},
		{name: "TokenContext sees canceled ctx", source: &ctxSource{t: t, tok: tok}, ctx: canceled, wantErr: context.Canceled},
		{
			name:   "Base returns a response and an error",
			source: staticSource{tok: tok},
			base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r.Body.Close()
				resp, _ := response(http.StatusOK, "")
				return resp, errSource
			}),
			wantErr: errSource,
		},
		{
			name:   "Base returns nothing",
			source: staticSource{tok: tok},
			base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r.Body.Close()
				return nil, nil
			}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			body := newBody("payload")
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://api.example.com/", body)
			tr := &Transport{Source: tc.source, Base: tc.base}
			if tr.Base == nil {
				tr.Base = roundTripFunc(func(*http.Request) (*http.Response, error) {
					t.Error("Base called after an early error")
					return nil, errSource
				})
			}
			resp, err := tr.RoundTrip(req)
			switch {
			case resp != nil || err == nil:
				t.Fatalf("got (%v, %v), want (nil, error)", resp, err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("got error %v, want errors.Is %v", err, tc.wantErr)
			case !strings.HasPrefix(err.Error(), "transport: ") && tc.base == nil:
				t.Errorf("got error %q, want the prefix \"transport: \"", err)
			case strings.Contains(err.Error(), secret):
				t.Errorf("got error %q, which contains the token", err)
			}
			if n := body.closed.Load(); n != 1 {
				t.Errorf("got request body closed %d times, want 1", n)
			}
		})
	}
}

// TestRoundTripBaseErrorClosesResponse checks that a response returned with
// an error by Base is closed, not leaked.
func TestRoundTripBaseErrorClosesResponse(t *testing.T) {
	resp, respBody := response(http.StatusOK, "")
	tr := &Transport{
		Source: staticSource{tok: &oauth2.Token{AccessToken: secret}},
		Base:   roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, errSource }),
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
	if got, err := tr.RoundTrip(req); got != nil || !errors.Is(err, errSource) {
		t.Fatalf("got (%v, %v), want (nil, %v)", got, err, errSource)
	}
	if respBody.closed.Load() != 1 {
		t.Error("got Base's response body left open, want it closed")
	}
}

// TestTransportFormatHasNoToken checks that no fmt verb prints the token of a
// Transport that has cached a header and whose Source prints its token under
// %s (as oauth2.StaticTokenSource does).
func TestTransportFormatHasNoToken(t *testing.T) {
	tr := &Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secret}), Base: okBase(t, nil)}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		if s := fmt.Sprintf(verb, tr); strings.Contains(s, secret) {
			t.Errorf("got %s of Transport = %q, which contains the token", verb, s)
		}
	}
}

func TestCloseIdleConnections(t *testing.T) {
	base := &closer{}
	(&Transport{Base: base}).CloseIdleConnections()
	(&Transport{Base: okBase(t, nil)}).CloseIdleConnections() // no method: no panic
	if !base.closed {
		t.Error("got Base's idle connections left open, want CloseIdleConnections forwarded")
	}
}

type closer struct {
	http.RoundTripper
	closed bool
}

func (c *closer) CloseIdleConnections() { c.closed = true }

// TestHeaderCacheSharedAcrossTransports: the header cache is shared by every
// Transport of the process and has fewer slots than the tokens used here, so
// tokens collide; each request must still carry its own token, under -race.
func TestHeaderCacheSharedAcrossTransports(t *testing.T) {
	const transports, tokens = 4, 300
	var wg sync.WaitGroup
	for i := range transports {
		wg.Go(func() {
			for j := range tokens {
				want := fmt.Sprintf("tr%d-token-%d", i, j)
				tokenType := []string{"Bearer", "MAC"}[j%2]
				var got string
				tr := &Transport{
					Source: staticSource{tok: &oauth2.Token{AccessToken: want, TokenType: tokenType}},
					Base:   okBase(t, func(r *http.Request) { got = r.Header.Get("Authorization") }),
				}
				for range 2 { // the second request takes the cached value, if still there
					req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
					if _, err := tr.RoundTrip(req); err != nil {
						t.Error(err)
						return
					}
					if got != tokenType+" "+want {
						t.Errorf("got Authorization %q, want %q", got, tokenType+" "+want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
