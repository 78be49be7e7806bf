package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// get requests target and returns the status and body.
func get(ctx context.Context, method, target string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// redirectOf returns the redirect_uri and state of an authorization URL.
func redirectOf(authURL string) (redirect, state string) {
	u, _ := url.Parse(authURL)
	return u.Query().Get("redirect_uri"), u.Query().Get("state")
}

// TestLoginStrayRequestsAndProviderError plays a browser that first hits
// other paths of the listener (they get 404 and the login keeps waiting),
// then delivers the provider's error, which the page shows escaped.
func TestLoginStrayRequestsAndProviderError(t *testing.T) {
	noLeaks(t)
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	page := make(chan string, 1)
	opener := func(ctx context.Context, authURL string) error {
		redirect, state := redirectOf(authURL)
		if !strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/callback") {
			t.Errorf("redirect_uri: got %q, want http://127.0.0.1:<port>/callback", redirect)
		}
		base := strings.TrimSuffix(redirect, "/callback")
		for _, r := range []struct {
			method, target string
			want           int
		}{
			{"GET", base + "/favicon.ico", 404},
			{"GET", base + "/", 404},
			{"GET", base + "/callbackx?code=c&state=" + state, 404},
			{"POST", redirect + "?code=c&state=" + state, 405},
			{"GET", redirect, 400}, // no authorization response at all
		} {
			status, _, err := get(ctx, r.method, r.target)
			if err != nil || status != r.want {
				t.Errorf("%s %s: got %d, %v; want %d", r.method, r.target, status, err, r.want)
			}
		}
		q := url.Values{"error": {"access_denied"}, "error_description": {`<script>alert("x")</script> & more`}, "state": {state}}
		status, body, err := get(ctx, "GET", redirect+"?"+q.Encode())
		t.Logf("page: %d %v", status, err)
		page <- body
		return err
	}
	err := a.Login(t.Context(), client.LoginOptions{OpenBrowser: opener, Output: io.Discard, Timeout: 10 * time.Second})
	var ce *client.CallbackError
	if !errors.As(err, &ce) || !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("Login: got %v, want a *CallbackError matching ErrAccessDenied", err)
	}
	body := <-page
	if strings.Contains(body, "<script>") || !strings.Contains(body, "access_denied") || !strings.Contains(body, "&amp; more") {
		t.Errorf("error page does not show the escaped provider error:\n%s", body)
	}
}

// TestLoginStateMismatch: responses with a forged, missing or repeated
// state get an error page and the login keeps waiting; the response with
// the login's state then ends it.
func TestLoginStateMismatch(t *testing.T) {
	noLeaks(t)
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	opener := func(ctx context.Context, authURL string) error {
		redirect, state := redirectOf(authURL)
		for _, q := range []string{"code=c&state=forged", "code=c", "error=access_denied&state=forged", "code=c&state=" + state + "&state=forged"} {
			status, body, err := get(ctx, "GET", redirect+"?"+q)
			if err != nil {
				return err
			}
			if status != 400 || !strings.Contains(body, "keeps waiting") {
				t.Errorf("page for %q: got %d %q, want 400 and a page that says the login keeps waiting", q, status, body)
			}
		}
		status, body, err := get(ctx, "GET", redirect+"?error=access_denied&state="+state)
		if err == nil && (status != 200 || !strings.Contains(body, "access_denied")) {
			t.Errorf("page for the login's own response: got %d %q", status, body)
		}
		return err
	}
	err := a.Login(t.Context(), client.LoginOptions{OpenBrowser: opener, Output: io.Discard, Timeout: 10 * time.Second})
	wantErr(t, err, client.ErrAccessDenied)
}

// TestLoginForgedStateTimesOut: a login that only ever gets a forged
// state ends at its timeout, saying so.
func TestLoginForgedStateTimesOut(t *testing.T) {
	noLeaks(t)
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	opener := func(ctx context.Context, authURL string) error {
		redirect, _ := redirectOf(authURL)
		_, _, err := get(ctx, "GET", redirect+"?code=c&state=forged")
		return err
	}
	err := a.Login(t.Context(), client.LoginOptions{OpenBrowser: opener, Output: io.Discard, Timeout: 300 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrStateMismatch) || !strings.Contains(err.Error(), "1 with a wrong state") {
		t.Fatalf("got %v, want the timeout, counting the refused response", err)
	}
}

// TestLoopbackHostHeader: the listener answers only requests whose Host
// is its own address or localhost with its port (DNS rebinding); others
// get 421 and the login keeps waiting.
func TestLoopbackHostHeader(t *testing.T) {
	noLeaks(t)
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	opener := func(ctx context.Context, authURL string) error {
		redirect, state := redirectOf(authURL)
		u, _ := url.Parse(redirect)
		for _, tc := range []struct {
			host string
			want int
		}{
			{"attacker.example:" + u.Port(), 421},
			{"attacker.example", 421},
			{"127.0.0.1", 421},
			{"127.0.0.1:1", 421},
			{"localhost", 421},
			{"localhost.attacker.example:" + u.Port(), 421},
			{"LOCALHOST:" + u.Port(), 400}, // accepted; forged state: error page
			{u.Host, 400},
		} {
			req, _ := http.NewRequestWithContext(ctx, "GET", redirect+"?code=c&state=forged", nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("Host %q: got %d, want %d", tc.host, resp.StatusCode, tc.want)
			}
		}
		_, _, err := get(ctx, "GET", strings.Replace(redirect, "127.0.0.1", "localhost", 1)+"?error=access_denied&state="+state)
		return err
	}
	err := a.Login(t.Context(), client.LoginOptions{OpenBrowser: opener, Output: io.Discard, Timeout: 10 * time.Second})
	wantErr(t, err, client.ErrAccessDenied)
}

// TestLoginTwiceAtOnce: while one login waits for the browser, a second
// login on the same account fails at once; another account is not
// affected; cancelling the first leaves nothing behind.
func TestLoginTwiceAtOnce(t *testing.T) {
	noLeaks(t)
	p := startOP(t, oidctest.Options{})
	c := newClient(t, nativeConfig(p, nil))
	a := account(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	waiting := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- a.Login(ctx, client.LoginOptions{Output: io.Discard, OpenBrowser: func(ctx context.Context, _ string) error {
			close(waiting)
			<-ctx.Done() // a user who never comes back
			return nil
		}})
	}()
	<-waiting
	if clientGoroutines() == "" {
		t.Error("the leak check does not see the running login's goroutines")
	}
	wantErr(t, a.Login(t.Context(), loginOptions(p)), client.ErrLoginInProgress)
	wantErr(t, a.LoginDevice(t.Context(), nil), client.ErrLoginInProgress)
	wantErr(t, a.LoginPassword(t.Context(), "u", "p"), client.ErrLoginInProgress)

	other, err := c.Account("other")
	if err != nil {
		t.Fatal(err)
	}
	login(t, p, other)

	cancel()
	wantErr(t, <-first, context.Canceled)
	login(t, p, a) // the slot is free again
}

func TestLoginTimeoutAndOpenerError(t *testing.T) {
	noLeaks(t)
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	err := a.Login(t.Context(), client.LoginOptions{Output: io.Discard, Timeout: 100 * time.Millisecond,
		OpenBrowser: func(context.Context, string) error { return nil }})
	wantErr(t, err, context.DeadlineExceeded)

	boom := errors.New("no display")
	var state string
	err = a.Login(t.Context(), client.LoginOptions{Output: io.Discard,
		OpenBrowser: func(_ context.Context, authURL string) error {
			_, state = redirectOf(authURL)
			return fmt.Errorf("cannot open %s: %w", authURL, boom)
		}})
	wantErr(t, err, boom)
	if strings.Contains(err.Error(), state) {
		t.Errorf("error %q contains the state", err)
	}
}

// TestLoginFixedPortAndOutput logs in on a chosen port against the real
// OP and checks that the URL is printed.
func TestLoginFixedPortAndOutput(t *testing.T) {
	noLeaks(t)
	p := startOP(t, oidctest.Options{})
	a := account(t, newClient(t, nativeConfig(p, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var out strings.Builder
	opts := loginOptions(p)
	opts.Port, opts.Output = port, &out
	browser := opts.OpenBrowser
	opts.OpenBrowser = func(ctx context.Context, authURL string) error {
		if redirect, _ := redirectOf(authURL); redirect != "http://127.0.0.1:"+strconv.Itoa(port)+"/callback" {
			t.Errorf("redirect_uri: got %q, want port %d", redirect, port)
		}
		return browser(ctx, authURL)
	}
	if err := a.Login(t.Context(), opts); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if !strings.Contains(out.String(), p.Endpoints().Authorization+"?") {
		t.Errorf("output does not show the authorization URL:\n%s", out.String())
	}
	// The listener is closed.
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		t.Error("the loopback listener still accepts connections")
	}
}

func TestLoginOptionsValidation(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	for name, o := range map[string]client.LoginOptions{
		"port":     {Port: 70000},
		"timeout":  {Timeout: -1},
		"reserved": {AuthParams: map[string]string{"state": "x"}},
	} {
		if err := a.Login(t.Context(), o); err == nil {
			t.Errorf("%s: Login accepted invalid options", name)
		}
	}
}

// TestLoginIPv6Fallback takes the port on 127.0.0.1 so that Login falls
// back to [::1], which the OP accepts for its native client.
func TestLoginIPv6Fallback(t *testing.T) {
	noLeaks(t)
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := ln6.Addr().(*net.TCPAddr).Port
	ln6.Close()
	ln4, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("port %d is taken on 127.0.0.1: %v", port, err)
	}
	defer ln4.Close()

	p := startOP(t, oidctest.Options{})
	a := account(t, newClient(t, nativeConfig(p, nil)))
	opts := loginOptions(p)
	opts.Port = port
	browser := opts.OpenBrowser
	opts.OpenBrowser = func(ctx context.Context, authURL string) error {
		if redirect, _ := redirectOf(authURL); redirect != "http://[::1]:"+strconv.Itoa(port)+"/callback" {
			t.Errorf("redirect_uri: got %q, want http://[::1]:%d/callback", redirect, port)
		}
		return browser(ctx, authURL)
	}
	if err := a.Login(t.Context(), opts); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

// TestLoginWithoutAuthEndpoint fails at once, without waiting for an
// opener, and leaves no listener behind.
func TestLoginWithoutAuthEndpoint(t *testing.T) {
	noLeaks(t)
	c := newClient(t, client.Config{ClientID: "app", Endpoints: client.Endpoints{Token: "https://op.example/token"}})
	start := time.Now()
	wantErr(t, account(t, c).Login(t.Context(), client.LoginOptions{Output: io.Discard}), client.ErrUnsupported)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Login took %v to fail", d)
	}
}
