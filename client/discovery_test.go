package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// endlessBody is a response body that never ends and counts what is read.
type endlessBody struct{ n *atomic.Int64 }

func (b endlessBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	b.n.Add(int64(len(p)))
	return len(p), nil
}

func (endlessBody) Close() error { return nil }

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDiscoveryBodyCapped: a discovery document that never ends is
// refused with ErrResponseTooLarge after reading just over 1 MiB.
func TestDiscoveryBodyCapped(t *testing.T) {
	var read atomic.Int64
	hc := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: endlessBody{&read}, Request: r}, nil
	})}
	_, err := client.New(t.Context(), client.Config{Issuer: "https://op.example", ClientID: "app", HTTPClient: hc})
	var ee *client.EndpointError
	if !errors.Is(err, client.ErrResponseTooLarge) || !errors.As(err, &ee) || ee.Endpoint != "discovery" {
		t.Fatalf("got %v, want a discovery *EndpointError matching ErrResponseTooLarge", err)
	}
	if n := read.Load(); n > 1<<20+64<<10 {
		t.Fatalf("read %d bytes of the endless body, want at most 1 MiB and a little", n)
	}
}

// TestDiscoveryErrorSanitised: what a failing discovery endpoint answers
// reaches the error without control characters, line breaks, bidi
// overrides or markup.
func TestDiscoveryErrorSanitised(t *testing.T) {
	const evil = "\x1b[31mdown\r\nlevel=ERROR msg=forged\u202etxt.exe<script>alert(1)</script>\x00"
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"text", "text/plain", evil},
		{"html", "text/html", "<html><body>" + evil + "</body></html>"},
		{"JSON error", "application/json", `{"error":"server_error","error_description":"` + strings.ReplaceAll(strings.ReplaceAll(evil, "\x1b", `\u001b`), "\x00", `\u0000`) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, strings.ReplaceAll(tc.body, "\r\n", "\r\n"))
			}))
			defer srv.Close()
			_, err := client.New(t.Context(), client.Config{Issuer: srv.URL, ClientID: "app"})
			var ee *client.EndpointError
			if !errors.As(err, &ee) || ee.StatusCode != 500 {
				t.Fatalf("got %v, want a discovery *EndpointError with status 500", err)
			}
			msg := err.Error()
			if i := strings.IndexFunc(msg, func(r rune) bool {
				return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '<' || r == '>'
			}); i >= 0 {
				t.Fatalf("error has %U: %q", []rune(msg[i:])[0], msg)
			}
			if !strings.Contains(msg, "down") {
				t.Errorf("error %q does not say what the server answered", msg)
			}
		})
	}
}

// TestProviderRedirects: discovery and JWKS requests follow a redirect
// to the same origin only; another host, or http from https, gets no
// request.
func TestProviderRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		http.NotFound(w, r)
	}))
	defer other.Close()
	tlsOther := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		http.NotFound(w, r)
	}))
	defer tlsOther.Close()

	for _, tc := range []struct {
		name   string
		tls    bool
		path   string // the path that redirects
		target func(self string) string
		want   error // nil: works
	}{
		{"discovery, same origin", false, "/.well-known/openid-configuration", func(self string) string { return self + "/moved/.well-known/openid-configuration" }, nil},
		{"discovery, other host", false, "/.well-known/openid-configuration", func(string) string { return other.URL + "/.well-known/openid-configuration" }, errAny},
		{"discovery, https to http", true, "/.well-known/openid-configuration", func(string) string { return other.URL + "/.well-known/openid-configuration" }, errAny},
		{"JWKS, same origin", false, "/jwks", func(self string) string { return self + "/moved/jwks" }, nil},
		{"JWKS, other host", false, "/jwks", func(string) string { return other.URL + "/jwks" }, client.ErrKeysUnavailable},
		{"JWKS, https to http", true, "/jwks", func(string) string { return other.URL + "/jwks" }, client.ErrKeysUnavailable},
		{"JWKS, https to another https host", true, "/jwks", func(string) string { return tlsOther.URL + "/jwks" }, client.ErrKeysUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere.Store(0)
			op := &fakeOP{}
			var self string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path {
					http.Redirect(w, r, tc.target(self), http.StatusFound)
					return
				}
				r.URL.Path = strings.TrimPrefix(r.URL.Path, "/moved")
				op.ServeHTTP(w, r)
			})
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()
			self, op.URL = srv.URL, srv.URL
			hc := srv.Client()
			if tc.tls { // trust the other TLS server too: only the redirect rule stops it
				hc.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(tlsOther.Certificate())
			}
			c, err := client.New(t.Context(), client.Config{Issuer: srv.URL, ClientID: fakeClientID, HTTPClient: hc})
			if err == nil {
				t.Cleanup(func() { c.Close() })
				err = idTokenLogin(t, op, account(t, c))
			}
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want != nil:
				wantErr(t, err, tc.want)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the redirect target got %d requests, want 0", n)
			}
		})
	}
}

// idTokenLogin runs a web login at op whose ID token is valid.
func idTokenLogin(t *testing.T, op *fakeOP, a *client.Account) error {
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		return err
	}
	idt := signRS256(t, op.claims(req.Nonce))
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	return a.Exchange(t.Context(), req, codeCallback(req))
}

// TestPKCEMethods: a provider that lists code challenge methods without
// S256 cannot be logged in to (never plain); an absent or empty list, or
// one with S256, gets S256.
func TestPKCEMethods(t *testing.T) {
	for _, tc := range []struct {
		name    string
		methods []string
		want    error
	}{
		{"absent", nil, nil},
		{"empty", []string{}, nil},
		{"S256", []string{"S256"}, nil},
		{"plain and S256", []string{"plain", "S256"}, nil},
		{"plain only", []string{"plain"}, client.ErrPKCEUnsupported},
		{"lower-case s256", []string{"s256"}, client.ErrPKCEUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := (&fakeOP{pkce: tc.methods}).serve(t)
			a := account(t, fakeClient(t, op))
			req, err := a.AuthCodeURL(webRedirect)
			if tc.want != nil {
				wantErr(t, err, tc.want)
				wantErr(t, a.Login(t.Context(), client.LoginOptions{Output: io.Discard,
					OpenBrowser: func(ctx context.Context, u string) error { t.Error("browser opened"); return nil }}), tc.want)
				return
			}
			if err != nil {
				t.Fatalf("AuthCodeURL: %v", err)
			}
			u, _ := url.Parse(req.URL)
			if got := u.Query().Get("code_challenge_method"); got != "S256" {
				t.Errorf("code_challenge_method: got %q, want S256", got)
			}
		})
	}
}
