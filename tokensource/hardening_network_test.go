package tokensource

// Hardening, network faults between a Source and the token endpoint
// (issue 6). The whole case list and where each case is proved is in
// HARDENING.md at the repository root.
//
//	connection refused            TestNetworkFaults/refused (and errors_test.go:TestTransientFailureKeepsRefreshToken)
//	DNS failure                   TestNetworkFaults/DNS
//	reset mid-body                TestNetworkFaults/reset_mid-body
//	slow body past the timeout    errors_test.go:TestSlowBodyPastTimeout
//	TLS certificate invalid       TestNetworkFaults/TLS_*
//	3xx from the token endpoint   TestNetworkFaults/redirect_* (and errors_test.go:TestBadTokenResponses/redirect)
//	429/503 with Retry-After      errors_test.go:TestRetryAfterHonoured, TestRetryAfterTooLongFailsAtOnce, TestRetryAfterBounds
//
// Every fault is checked against an encrypted storage.File store: the
// record file's bytes are unchanged and no other file appears (nothing
// half-saved), the error is a typed *Error, never ErrLoginRequired, and its
// text holds no secret.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// fileFixture is a Source on an encrypted File store holding one account
// whose access token has expired, so that the first Token() refreshes.
type fileFixture struct {
	src  *Source
	dir  string
	logs *syncBuffer
}

const networkRT = "rt-NETWORK-SECRET-1"

func newFileFixture(t *testing.T, tokenURL string, hc *http.Client, timeout time.Duration) *fileFixture {
	t.Helper()
	key, err := storage.KeyFromBytes([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rec := &storage.Token{AccessToken: "at-NETWORK-SECRET-1", TokenType: "Bearer", RefreshToken: networkRT, Expiry: expired, Version: 1}
	if err := store.Save(context.Background(), "acct", rec); err != nil {
		t.Fatal(err)
	}
	f := &fileFixture{dir: dir, logs: &syncBuffer{}}
	f.src, err = New(Config{
		OAuth2:         &oauth2.Config{ClientID: "client", ClientSecret: "CLIENT-SECRET-1", Endpoint: oauth2.Endpoint{TokenURL: tokenURL}},
		Store:          store,
		Key:            "acct",
		HTTPClient:     hc,
		Logger:         slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RefreshBefore:  -1,
		RefreshTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.src.Close() })
	return f
}

// files returns the name and contents of every file in the store's
// directory but the lock file, which the refresh creates to take the lock
// and which holds no data.
func (f *fileFixture) files(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// netCase is one fault: setup starts what the token URL points at and
// returns the URL, the HTTP client the Source uses (nil: its default) and
// a counter of the attempts that reached the fault (nil: not countable).
type netCase struct {
	name      string
	setup     func(t *testing.T) (url string, hc *http.Client, attempts func() int)
	temporary bool // want Temporary(): retried maxAttempts times
	cause     func(err error) bool
}

func (tc netCase) run(t *testing.T) {
	t.Parallel()
	url, hc, attempts := tc.setup(t)
	f := newFileFixture(t, url, hc, 10*time.Second)
	before := f.files(t)

	tok, err := f.src.Token()
	var te *Error
	switch {
	case tok != nil:
		t.Fatalf("got token %v, want an error", tok)
	case !errors.As(err, &te):
		t.Fatalf("got %v (%T), want an *Error", err, err)
	case te.Temporary() != tc.temporary:
		t.Errorf("got Temporary() = %v for %v, want %v", te.Temporary(), err, tc.temporary)
	case errors.Is(err, ErrLoginRequired):
		t.Errorf("got %v, a network fault taken for a dead refresh token", err)
	case !tc.cause(err):
		t.Errorf("got %v, want the cause kept in the chain", err)
	}
	want := 1
	if tc.temporary {
		want = maxAttempts
	}
	if attempts != nil {
		if n := attempts(); n != want {
			t.Errorf("got %d attempts, want %d", n, want)
		}
	}
	if after := f.files(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store directory changed: %d files now, %d before", len(after), len(before))
	}
	for _, out := range []string{err.Error(), fmt.Sprintf("%+v %#v", err, err), f.logs.String()} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("secret in output: %s", out)
		}
	}
}

// TestNetworkFaults: each fault between the Source and the token endpoint
// is a typed *Error, temporary (retried: 3 attempts) when trying again may
// help, and leaves the stored record exactly as it was.
//
// A 3xx is deliberately not temporary: the token endpoint is misconfigured
// (or something intercepts it), and the same request would be redirected
// again. It is never followed, whatever the HTTP client's CheckRedirect
// says, so the refresh token and client secret in the POST body never
// reach the Location's host (a 307/308 would have re-sent them).
func TestNetworkFaults(t *testing.T) {
	t.Parallel()
	cases := []netCase{
		{
			name: "refused",
			setup: func(t *testing.T) (string, *http.Client, func() int) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close() // nothing listens there now
				return "http://" + addr + "/token", nil, nil
			},
			temporary: true,
			cause:     func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) },
		},
		{
			name:      "DNS",
			setup:     failingDNS,
			temporary: true,
			cause: func(err error) bool {
				var de *net.DNSError
				return errors.As(err, &de) && de.Name == "idp.example.test"
			},
		},
		{
			name: "reset mid-body",
			setup: func(t *testing.T) (string, *http.Client, func() int) {
				// The headers and half the body arrive, then the connection is reset.
				return rawServer(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"+`{"access_token":"at-NEW-SECRET","refresh_token":"rt-N`), nil, nil
			},
			temporary: true,
			cause: func(err error) bool {
				var te *Error
				return errors.As(err, &te) && te.StatusCode == http.StatusOK && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF))
			},
		},
		{
			name: "TLS unknown authority (default client)",
			setup: func(t *testing.T) (string, *http.Client, func() int) {
				srv, conns := tlsTokenServer(t)
				return srv.URL + "/token", nil, conns
			},
			temporary: true,
			cause: func(err error) bool {
				var ua x509.UnknownAuthorityError
				var cv *tls.CertificateVerificationError
				return errors.As(err, &ua) && errors.As(err, &cv)
			},
		},
		{
			name: "TLS wrong host name (trusting client)",
			setup: func(t *testing.T) (string, *http.Client, func() int) {
				srv, conns := tlsTokenServer(t)
				// The client trusts the certificate, issued for 127.0.0.1
				// and example.com, but is asked for localhost.
				return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/token", srv.Client(), conns
			},
			temporary: true,
			cause: func(err error) bool {
				var he x509.HostnameError
				return errors.As(err, &he)
			},
		},
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		cases = append(cases, netCase{
			name:  fmt.Sprintf("redirect %d to another host", code),
			setup: func(t *testing.T) (string, *http.Client, func() int) { return redirectingEndpoint(t, code) },
			cause: func(err error) bool {
				var te *Error
				return errors.Is(err, errRedirect) && errors.As(err, &te) && te.StatusCode == code
			},
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// failingDNS gives a client whose resolver cannot reach any DNS server
// (whatever the machine's DNS does) and a token URL that needs it.
func failingDNS(t *testing.T) (string, *http.Client, func() int) {
	resolver := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no route to the DNS server")
	}}
	dialer := &net.Dialer{Resolver: resolver}
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return "https://idp.example.test/token", &http.Client{Transport: tr}, func() int { return int(dials.Load()) }
}

// tlsTokenServer is a TLS token endpoint that would issue tokens, and a
// count of the TCP connections it accepted. A request that reaches the
// handler fails the test: the handshake must fail first.
func tlsTokenServer(t *testing.T) (*httptest.Server, func() int) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a token request got through an invalid certificate")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at-x","token_type":"Bearer","expires_in":60}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() int { return int(conns.Load()) }
}

// redirectingEndpoint answers every token request with a redirect to a
// second server, which must never be reached. The client the Source gets
// follows redirects (CheckRedirect allows everything).
func redirectingEndpoint(t *testing.T, code int) (string, *http.Client, func() int) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		t.Errorf("redirect followed: %s %s reached another host (refresh token sent: %v)", r.Method, r.URL, r.PostForm.Get("refresh_token") != "")
	}))
	t.Cleanup(elsewhere.Close)
	var hits atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/token", code)
	}))
	t.Cleanup(endpoint.Close)
	follow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	return endpoint.URL + "/token", follow, func() int { return int(hits.Load()) }
}

// rawServer accepts connections on a loopback address; on each it reads
// one request, writes raw, waits for the client to read it, and resets
// the connection (RST, not an orderly close). It returns the token URL.
func rawServer(t *testing.T, raw string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(conn, raw)
				time.Sleep(50 * time.Millisecond) // the client reads the headers and starts on the body
				conn.(*net.TCPConn).SetLinger(0)
			})
		}
	})
	return "http://" + ln.Addr().String() + "/token"
}

// TestRetryAfterBounds: Retry-After is honoured in its HTTP-date form too,
// and never beyond the refresh's own deadline: a delay that would outlast
// RefreshTimeout fails the refresh at once, as a temporary error carrying
// the delay, rather than sleeping into the timeout. An unparseable value
// falls back to the normal backoff. (Delay-seconds and the 30 s cap:
// errors_test.go:TestRetryAfterHonoured, TestRetryAfterTooLongFailsAtOnce.)
func TestRetryAfterBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		retryAfter func() string
		timeout    time.Duration
		wantReqs   int
		wantErr    bool
		minGap     time.Duration // between the first two requests
		maxElapsed time.Duration
	}{
		{"503 with HTTP-date", 503, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, 2, false, 900 * time.Millisecond, 3 * time.Second},
		{"429 past the refresh deadline", 429, func() string { return "5" }, time.Second, 1, true, 0, 500 * time.Millisecond},
		{"503 with garbage", 503, func() string { return "soon" }, 5 * time.Second, 2, false, 200 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var times []time.Time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				times = append(times, time.Now())
				first := len(times) == 1
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if first {
					w.Header().Set("Retry-After", tt.retryAfter())
					w.WriteHeader(tt.status)
					return
				}
				io.WriteString(w, `{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}`)
			}))
			defer srv.Close()
			f := newFileFixture(t, srv.URL+"/token", nil, tt.timeout)
			before := f.files(t)
			start := time.Now()
			_, err := f.src.Token()
			elapsed := time.Since(start)
			var te *Error
			if tt.wantErr != (err != nil) {
				t.Fatalf("got error %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr && (!errors.As(err, &te) || !te.Temporary() || te.RetryAfter != 5*time.Second) {
				t.Errorf("got %v, want a temporary *Error with RetryAfter 5s", err)
			}
			if tt.wantErr && fmt.Sprint(f.files(t)) != fmt.Sprint(before) {
				t.Error("store changed after a failed refresh")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(times) != tt.wantReqs {
				t.Fatalf("got %d requests, want %d", len(times), tt.wantReqs)
			}
			if len(times) > 1 && times[1].Sub(times[0]) < tt.minGap {
				t.Errorf("retried after %v, want at least %v", times[1].Sub(times[0]), tt.minGap)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("took %v, want at most %v", elapsed, tt.maxElapsed)
			}
		})
	}
}
