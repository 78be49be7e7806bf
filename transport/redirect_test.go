package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// site is a test server that records the Authorization header of each
// request and redirects to the URL in its "to" query parameter, if any.
type site struct {
	srv     *httptest.Server
	foreign bool // a host that must never see the token

	mu   sync.Mutex // guards seen
	seen map[string]string
}

func newSite(t *testing.T, tls, foreign bool) *site {
	s := &site{foreign: foreign, seen: map[string]string{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if s.foreign && auth != "" {
			t.Errorf("foreign host %s got Authorization %q, want none", r.Host, auth)
		}
		s.mu.Lock()
		s.seen[r.URL.Path] = auth
		s.mu.Unlock()
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
		}
	})
	if tls {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	return s
}

// authorization returns the Authorization header the request for path had,
// and whether there was such a request.
func (s *site) authorization(path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	auth, ok := s.seen[path]
	return auth, ok
}

func (s *site) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.seen)
}

// hop is one request of a redirect chain.
type hop struct {
	base      string // scheme://host[:port], e.g. "https://example.com"
	site      *site  // the server that answers base
	wantToken bool
}

// redirectClient returns an http.Client whose Transport is a copy of tr that
// adds tok and whose Base dials the test sites for the host names of the
// cases: example.com:443 (main TLS), example.com:80 (main plain) and
// example.com:8443 (foreign TLS). The httptest certificate is valid for
// example.com and 127.0.0.1.
func redirectClient(t *testing.T, tr Transport, tok string, tlsMain, plainMain, tlsForeign *site) *http.Client {
	routes := map[string]string{
		"example.com:443":  tlsMain.srv.Listener.Addr().String(),
		"example.com:80":   plainMain.srv.Listener.Addr().String(),
		"example.com:8443": tlsForeign.srv.Listener.Addr().String(),
	}
	base := tlsMain.srv.Client().Transport.(*http.Transport).Clone()
	var d net.Dialer
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := routes[strings.ToLower(addr)]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	tr.Source = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
	tr.Base = base
	c := &http.Client{Transport: &tr}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// chainURL builds the URL of the first hop, which redirects through the
// others: hop i has path /hop<i>.
func chainURL(hops []hop) string {
	next := ""
	for i := len(hops) - 1; i >= 0; i-- {
		u := hops[i].base + "/hop" + string(rune('0'+i))
		if next != "" {
			u += "?to=" + url.QueryEscape(next)
		}
		next = u
	}
	return next
}

// TestRedirects covers the redirect rule (the token follows a redirect only
// to the original host, never from https to http) with real servers and a
// real http.Client following redirects, and that the caller's request is
// never modified across them; and that the TLS rule and the allow-list
// (Hosts, Allow) apply to the original request and to every hop that would
// carry the token, while hops the redirect rule sends without the token go
// out whatever the allow-list says.
func TestRedirects(t *testing.T) {
	tlsMain := newSite(t, true, false)
	plainMain := newSite(t, false, false) // http://example.com: main host, but not after https
	tlsForeign := newSite(t, true, true)

	main := hop{base: "https://example.com", site: tlsMain, wantToken: true}
	foreign := hop{base: tlsForeign.srv.URL, site: tlsForeign} // https://127.0.0.1:port
	otherPort := hop{base: "https://example.com:8443", site: tlsForeign}
	downgrade := hop{base: "http://example.com", site: plainMain}
	plainStart := hop{base: "http://example.com", site: plainMain, wantToken: true}
	upper := hop{base: "https://EXAMPLE.com:443", site: tlsMain, wantToken: true}
	insecure := Transport{AllowInsecureHTTP: true}
	apiOnly := Transport{Hosts: []string{"example.com"}}
	notHop1 := Transport{Allow: func(u *url.URL) bool { return u.Path != "/hop1" }}

	for _, tc := range []struct {
		name    string
		tr      Transport // the rules; redirectClient sets Source and Base
		hops    []hop
		wantErr error // errors.Is target when hop stop is refused
		stop    int   // with wantErr: the refused hop, neither it nor later hops visited
	}{
		{name: "same host", hops: []hop{main, main}},
		{name: "same host, letter case and default port", hops: []hop{main, upper}},
		{name: "to another host", hops: []hop{main, foreign}},
		{name: "to another port", hops: []hop{main, otherPort}},
		{name: "https to http on the same host", hops: []hop{main, downgrade}},
		{name: "http to https on the same host, insecure allowed", tr: insecure, hops: []hop{plainStart, main}},
		{name: "leave and return", hops: []hop{main, foreign, main}},
		{name: "leave, downgrade and leave", hops: []hop{main, foreign, downgrade, otherPort}},
		{name: "downgrade and return to https", hops: []hop{main, downgrade, main}},

		{name: "plain http to a non-loopback host refused", hops: []hop{plainStart, main}, wantErr: ErrInsecure, stop: 0},
		{name: "insecure allowed keeps the downgrade rule", tr: insecure, hops: []hop{main, downgrade, main}},
		{name: "allow-list: listed host", tr: apiOnly, hops: []hop{main, upper, main}},
		{name: "allow-list: hop to another host goes without token", tr: apiOnly, hops: []hop{main, foreign, main}},
		{name: "allow-list: hop to another port goes without token", tr: apiOnly, hops: []hop{main, otherPort}},
		{name: "allow-list: start at another port refused", tr: apiOnly, hops: []hop{otherPort, main}, wantErr: ErrHostNotAllowed, stop: 0},
		{name: "allow-list: start at another host refused", tr: apiOnly, hops: []hop{foreign, main}, wantErr: ErrHostNotAllowed, stop: 0},
		{name: "Allow refuses a hop on the same host", tr: notHop1, hops: []hop{main, main, main}, wantErr: ErrHostNotAllowed, stop: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []*site{tlsMain, plainMain, tlsForeign} {
				s.reset()
			}
			client := redirectClient(t, tc.tr, secret, tlsMain, plainMain, tlsForeign)
			req, _ := http.NewRequest(http.MethodGet, chainURL(tc.hops), nil)
			req.Header.Set("X-Caller", "1")
			before := takeSnapshot(req)
			resp, err := client.Do(req)
			visits := len(tc.hops)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr == nil:
				resp.Body.Close()
			case err == nil:
				resp.Body.Close()
				t.Fatalf("got status %d, want an error matching %v", resp.StatusCode, tc.wantErr)
			case !errors.Is(err, tc.wantErr) || strings.Contains(err.Error(), secret):
				t.Fatalf("got error %v, want one matching %v without the token", err, tc.wantErr)
			default:
				visits = tc.stop
			}
			before.checkUnchanged(t, req)
			for i, h := range tc.hops {
				got, visited := h.site.authorization("/hop" + string(rune('0'+i)))
				if i >= visits {
					if visited {
						t.Errorf("hop %d (%s): got a request (Authorization %q), want none after the refusal", i, h.base, got)
					}
					continue
				}
				if !visited {
					t.Errorf("hop %d (%s): not visited", i, h.base)
				}
				want := ""
				if h.wantToken {
					want = "Bearer " + secret
				}
				if got != want {
					t.Errorf("hop %d (%s): got Authorization %q, want %q", i, h.base, got, want)
				}
			}
		})
	}
}

// TestAuthorize checks the redirect rule on hand-built chains, including the
// edge cases a real client does not produce.
func TestAuthorize(t *testing.T) {
	chain := func(urls ...string) *http.Request {
		var req *http.Request
		for _, u := range urls {
			next, _ := http.NewRequest(http.MethodGet, u, nil)
			if req != nil {
				next.Response = &http.Response{Request: req}
			}
			req = next
		}
		return req
	}
	broken := chain("https://example.com/a", "https://example.com/b")
	broken.Response.Request = nil
	for _, tc := range []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"not a redirect", chain("http://example.com/"), true},
		{"same host", chain("https://example.com/a", "https://example.com/b"), true},
		{"explicit default port", chain("https://example.com/a", "https://Example.COM:443/b"), true},
		{"explicit default port on the original", chain("http://example.com:80/a", "http://example.com/b"), true},
		{"443 is not http's default", chain("http://example.com/a", "http://example.com:443/b"), false},
		{"other port", chain("https://example.com/a", "https://example.com:444/b"), false},
		{"subdomain", chain("https://example.com/a", "https://api.example.com/b"), false},
		{"parent domain", chain("https://api.example.com/a", "https://example.com/b"), false},
		{"https to http", chain("https://example.com/a", "http://example.com/b"), false},
		{"http to https", chain("http://example.com/a", "https://example.com/b"), true},
		{"IPv6 same", chain("https://[::1]/a", "https://[::1]:443/b"), true},
		{"IPv6 other", chain("https://[::1]/a", "https://[::2]/b"), false},
		{"multi-hop returns", chain("https://example.com/a", "https://evil.example/b", "https://example.com/c"), true},
		{"multi-hop away", chain("https://example.com/a", "https://example.com/b", "https://evil.example/c"), false},
		{"broken chain", broken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := authorize(tc.req); got != tc.want {
				t.Errorf("got authorize(%s) = %v, want %v", tc.req.URL, got, tc.want)
			}
		})
	}
}
