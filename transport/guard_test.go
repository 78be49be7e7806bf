package transport

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// TestPermit covers the TLS rule (RFC 6750 §5.3) and the allow-list on
// single URLs: which requests may carry the token and which are refused, and
// with which error.
func TestPermit(t *testing.T) {
	onlyA := func(u *url.URL) bool { return u.Hostname() == "a.example" }
	for _, tc := range []struct {
		name string
		tr   Transport
		url  string
		want error // nil: allowed
	}{
		{name: "https", url: "https://api.example.com/x"},
		{name: "https, upper-case scheme", url: "HTTPS://api.example.com/x"},
		{name: "http to a non-loopback host", url: "http://api.example.com/x", want: ErrInsecure},
		{name: "http to a private address", url: "http://10.0.0.1/x", want: ErrInsecure},
		{name: "http to the unspecified address", url: "http://0.0.0.0/x", want: ErrInsecure},
		{name: "http to localhost", url: "http://localhost:8080/x"},
		{name: "http to LOCALHOST", url: "http://LOCALHOST/x"},
		{name: "http to 127.0.0.1", url: "http://127.0.0.1:1234/x"},
		{name: "http to 127.1.2.3", url: "http://127.1.2.3/x"},
		{name: "http to ::1", url: "http://[::1]:8080/x"},
		{name: "http to a name under localhost", url: "http://localhost.example.com/x", want: ErrInsecure},
		{name: "http to a name that looks like 127.0.0.1", url: "http://127.0.0.1.nip.io/x", want: ErrInsecure},
		{name: "http, userinfo naming localhost", url: "http://localhost@api.example.com/x", want: ErrInsecure},
		{name: "ws to loopback", url: "ws://127.0.0.1/x", want: ErrInsecure},
		{name: "no scheme", url: "//api.example.com/x", want: ErrInsecure},
		{name: "insecure allowed", tr: Transport{AllowInsecureHTTP: true}, url: "http://api.example.com/x"},

		{name: "Hosts: listed", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://api.example.com/x"},
		{name: "Hosts: listed, letter case and default port", tr: Transport{Hosts: []string{"API.example.com"}}, url: "https://api.EXAMPLE.com:443/x"},
		{name: "Hosts: listed with its default port", tr: Transport{Hosts: []string{"api.example.com:443"}}, url: "https://api.example.com/x"},
		{name: "Hosts: second entry", tr: Transport{Hosts: []string{"a.example", "api.example.com"}}, url: "https://api.example.com/x"},
		{name: "Hosts: other port", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://api.example.com:8443/x", want: ErrHostNotAllowed},
		{name: "Hosts: listed port", tr: Transport{Hosts: []string{"api.example.com:8443"}}, url: "https://api.example.com:8443/x"},
		{name: "Hosts: listed port, default asked", tr: Transport{Hosts: []string{"api.example.com:8443"}}, url: "https://api.example.com/x", want: ErrHostNotAllowed},
		{name: "Hosts: other host", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://evil.example/x", want: ErrHostNotAllowed},
		{name: "Hosts: subdomain", tr: Transport{Hosts: []string{"example.com"}}, url: "https://api.example.com/x", want: ErrHostNotAllowed},
		{name: "Hosts: suffix trick", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://api.example.com.evil.example/x", want: ErrHostNotAllowed},
		{name: "Hosts: userinfo trick", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://api.example.com@evil.example/x", want: ErrHostNotAllowed},
		{name: "Hosts: entry with a scheme never matches", tr: Transport{Hosts: []string{"https://api.example.com"}}, url: "https://api.example.com/x", want: ErrHostNotAllowed},
		{name: "Hosts: IPv6", tr: Transport{Hosts: []string{"[::1]:8443"}}, url: "https://[::1]:8443/x"},
		{name: "Hosts: loopback http, default port", tr: Transport{Hosts: []string{"127.0.0.1"}}, url: "http://127.0.0.1/x"},
		{name: "Hosts: loopback http, other port", tr: Transport{Hosts: []string{"127.0.0.1"}}, url: "http://127.0.0.1:8080/x", want: ErrHostNotAllowed},
		{name: "Hosts: listed but plain http", tr: Transport{Hosts: []string{"api.example.com"}}, url: "http://api.example.com/x", want: ErrInsecure},
		{name: "Hosts: listed, plain http allowed", tr: Transport{Hosts: []string{"api.example.com"}, AllowInsecureHTTP: true}, url: "http://api.example.com/x"},
		{name: "Allow: accepts", tr: Transport{Allow: onlyA}, url: "https://a.example/x"},
		{name: "Allow: refuses", tr: Transport{Allow: onlyA}, url: "https://b.example/x", want: ErrHostNotAllowed},
		{name: "Hosts or Allow: Hosts", tr: Transport{Hosts: []string{"b.example"}, Allow: onlyA}, url: "https://b.example/x"},
		{name: "Hosts or Allow: Allow", tr: Transport{Hosts: []string{"b.example"}, Allow: onlyA}, url: "https://a.example/x"},
		{name: "Hosts or Allow: neither", tr: Transport{Hosts: []string{"b.example"}, Allow: onlyA}, url: "https://c.example/x", want: ErrHostNotAllowed},
		{name: "empty Hosts allows all", tr: Transport{Hosts: []string{}}, url: "https://c.example/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.tr.permit(u)
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("got %v, want the token allowed", got)
			case tc.want != nil && !errors.Is(got, tc.want):
				t.Errorf("got %v, want an error matching %v", got, tc.want)
			}
		})
	}
	if err := (&Transport{}).permit(nil); err == nil {
		t.Error("got a nil URL allowed, want an error")
	}
}

// countingSource counts Token calls.
type countingSource struct {
	tok   *oauth2.Token
	calls atomic.Int32
}

func (s *countingSource) Token() (*oauth2.Token, error) { s.calls.Add(1); return s.tok, nil }

// TestRoundTripRefused: a request the token must not go to is never sent
// (Base is not called), no token is fetched, the body is closed once, no
// response is returned, the caller's request is untouched, and the error
// names the host but neither the token nor the rest of the URL.
func TestRoundTripRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   Transport
		url  string
		want error
	}{
		{name: "plain http", url: "http://api.example.com/p?access_token=" + secret, want: ErrInsecure},
		{name: "plain http, userinfo", url: "http://user:" + secret + "@api.example.com/p", want: ErrInsecure},
		{name: "host not listed", tr: Transport{Hosts: []string{"api.example.com"}}, url: "https://evil.example/p?q=" + secret, want: ErrHostNotAllowed},
		{name: "Allow refuses", tr: Transport{Allow: func(*url.URL) bool { return false }}, url: "https://api.example.com/" + secret, want: ErrHostNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingSource{tok: &oauth2.Token{AccessToken: secret}}
			tr := tc.tr
			tr.Source = src
			tr.Base = roundTripFunc(func(*http.Request) (*http.Response, error) {
				t.Error("Base called for a refused request")
				return nil, errSource
			})
			body := newBody("payload")
			req, _ := http.NewRequest(http.MethodPost, tc.url, body)
			before := takeSnapshot(req)
			resp, err := tr.RoundTrip(req)
			switch {
			case resp != nil || !errors.Is(err, tc.want):
				t.Fatalf("got (%v, %v), want (nil, an error matching %v)", resp, err, tc.want)
			case strings.Contains(err.Error(), secret):
				t.Errorf("got error %q, which contains the token", err)
			case !strings.Contains(err.Error(), req.URL.Host):
				t.Errorf("got error %q, want it to name the host %q", err, req.URL.Host)
			}
			if n := body.closed.Load(); n != 1 {
				t.Errorf("got request body closed %d times, want 1", n)
			}
			if n := src.calls.Load(); n != 0 {
				t.Errorf("got %d token fetches, want none for a refused request", n)
			}
			before.checkUnchanged(t, req)
		})
	}
}

// TestReplayStaysOnAllowedHost: with an allow-list, a request to a listed
// host that is rejected is refreshed and replayed to that same host, and a
// request to a host off the list is refused before any send, so it can
// never cause a refresh or a replay.
func TestReplayStaysOnAllowedHost(t *testing.T) {
	src := &fakeRefresher{current: &oauth2.Token{AccessToken: "stale"}, next: "fresh"}
	var sent []string
	tr := &Transport{Source: src, Hosts: []string{"api.example.com"}, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.Host+" "+r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") == "Bearer stale" {
			resp, _ := response(http.StatusUnauthorized, invalidToken)
			return resp, nil
		}
		resp, _ := response(http.StatusOK, "")
		return resp, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/x", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got (%v, %v), want a 200 after a replay", resp, err)
	}
	if want := []string{"api.example.com Bearer stale", "api.example.com Bearer fresh"}; len(sent) != 2 || sent[0] != want[0] || sent[1] != want[1] {
		t.Errorf("got sends %q, want %q", sent, want)
	}
	sent = nil
	req, _ = http.NewRequest(http.MethodGet, "https://evil.example/x", nil)
	if resp, err := tr.RoundTrip(req); resp != nil || !errors.Is(err, ErrHostNotAllowed) {
		t.Errorf("got (%v, %v), want (nil, %v)", resp, err, ErrHostNotAllowed)
	}
	if len(sent) != 0 || src.calls.Load() != 1 {
		t.Errorf("got sends %q and %d refreshes in all, want no send and no refresh for the refused host", sent, src.calls.Load())
	}
}

// TestAllowCannotModifyRequest: an Allow hook that writes into the URL it
// gets writes into a copy; the caller's request is untouched.
func TestAllowCannotModifyRequest(t *testing.T) {
	tr := &Transport{
		Source: staticSource{tok: &oauth2.Token{AccessToken: secret}},
		Base:   okBase(t, nil),
		Allow: func(u *url.URL) bool {
			u.Host, u.Path, u.RawQuery = "evil.example", "/stolen", "x=1"
			return true
		},
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/items?q=1", nil)
	before := takeSnapshot(req)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	before.checkUnchanged(t, req)
}
