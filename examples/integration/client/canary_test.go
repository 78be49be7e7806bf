package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestSecretsCanary runs every flow of the SDK against the real OP with an
// encrypted file store, and the error paths that are cheap to reach, and
// checks that no secret that crossed the wire or that the test chose
// (client secrets, passwords, the store key, tokens, codes, PKCE
// verifiers, states, nonces, device codes) appears in the SDK's and the
// provider's debug logs, in any error string or formatted error, in any
// formatted or logged value the SDK returned, in the events, in what the
// loopback listener showed the browser, or in the store's files.
func TestSecretsCanary(t *testing.T) {
	noLeaks(t)
	r := newCanaryRun(t)
	r.nativeFlows(t)
	r.webFlows(t)
	r.deviceFlows(t)
	r.echoingEndpoints(t)
	r.w.files(t, r.dir, "end")
	r.w.check(t, "access_token", "refresh_token", "id_token", "code", "code_verifier", "state", "nonce",
		"client_secret", "basic credentials", "password", "device_code", "file key")
}

// nativeFlows: login, profile, refresh with rotation, a failed refresh, a
// failed save, a revoked grant, login again, logout, and the loopback
// listener's error paths, with the native public client.
func (r *canaryRun) nativeFlows(t *testing.T) {
	ctx := t.Context()
	c := r.client(t, client.Config{ClientID: r.p.NativeClient(), AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"profile", "email"}})
	a := r.account(t, c, "native")
	if err := r.login(ctx, a, r.opener(), 20*time.Second); err != nil {
		t.Fatalf("Login: %v", err)
	}
	first := r.tokens(t, a)
	r.profile(t, a)
	r.w.files(t, r.dir, "after login")

	if err := r.refresh(t, a); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if rotated := r.tokens(t, a); rotated.RefreshToken == first.RefreshToken {
		t.Fatal("refresh: the refresh token did not rotate")
	}
	// The refresh retries at the scheduler's back-off steps, the later
	// ones after Retry-After, and fails after three attempts; the next
	// attempt may start once the last Retry-After has passed.
	outage := oidctest.TokenError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the token store is down, retry later"}
	r.p.FailTokenRequests(1, outage)
	outage.RetryAfter = time.Second
	r.p.FailTokenRequests(2, outage)
	var te *tokensource.Error
	if err := r.refresh(t, a); !errors.As(err, &te) || !te.Temporary() {
		t.Fatalf("refresh during an outage: got %v, want a temporary *tokensource.Error", err)
	}
	time.Sleep(1300 * time.Millisecond) // past the back-off step: at most 1 s + a quarter
	r.failedSave(t, a)
	r.p.ExpireAccessTokens() // the resource answers 401 invalid_token: the transport refreshes and replays
	r.resource(t, a)
	r.tokens(t, a)
	r.w.files(t, r.dir, "after rotation")

	r.p.RevokeUser(r.user)
	r.want(t, "refresh of a revoked grant", r.refresh(t, a), tokensource.ErrLoginRequired)
	_, err := a.UserInfo(ctx)
	r.want(t, "UserInfo of a revoked grant", err, tokensource.ErrLoginRequired)
	_, err = a.IDToken(ctx)
	r.want(t, "IDToken of a revoked grant", err, tokensource.ErrLoginRequired)

	if err := r.login(ctx, a, r.opener(), 20*time.Second); err != nil {
		t.Fatalf("Login after revocation: %v", err)
	}
	r.tokens(t, a)
	r.w.err("Logout", a.Logout(ctx))
	_, err = a.IDToken(ctx)
	r.want(t, "IDToken after Logout", err, tokensource.ErrLoginRequired)
	r.w.err("second Logout", a.Logout(ctx))

	r.loopbackErrors(t, r.account(t, c, "native-errors"))
	r.w.err("Close", c.Close())
	_, err = c.Account("after-close")
	r.want(t, "Account after Close", err, client.ErrClosed)
	_, err = a.TokenSource().TokenContext(ctx) // logged out: it would have to refresh
	r.want(t, "TokenContext after Close", err, tokensource.ErrClosed)
}

// failedSave makes the next save fail as a store holding a record sealed
// with another key does, refreshes (the new tokens are kept in memory),
// then refreshes again, which saves first.
func (r *canaryRun) failedSave(t *testing.T, a *client.Account) {
	t.Helper()
	r.store.failNext.Store(true)
	if err := r.refresh(t, a); err != nil {
		t.Fatalf("refresh with a failing store: %v", err)
	}
	if r.store.failNext.Load() {
		t.Fatal("the refresh did not save")
	}
	if err := r.refresh(t, a); err != nil {
		t.Fatalf("refresh after the store recovered: %v", err)
	}
	r.tokens(t, a)
}

// loopbackErrors: a forged state, an iss mix-up, the provider's error
// (prompt=none without a session), an opener that fails quoting the URL,
// and a login that times out.
func (r *canaryRun) loopbackErrors(t *testing.T, a *client.Account) {
	ctx := t.Context()
	answer := func(extra url.Values) func(context.Context, string) error {
		return func(ctx context.Context, authURL string) error {
			q := r.authURL(authURL)
			cb := url.Values{"code": {"forged-code"}, "state": {q.Get("state")}}
			for k, v := range extra {
				cb[k] = v
			}
			_, body, err := get(ctx, http.MethodGet, q.Get("redirect_uri")+"?"+cb.Encode())
			r.w.output("loopback page", body)
			return err
		}
	}
	forged := func(ctx context.Context, authURL string) error { // refused, the login keeps waiting: then time out
		if err := answer(url.Values{"state": {"forged-state"}})(ctx, authURL); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	r.want(t, "Login with a forged state", r.login(ctx, a, forged, time.Second), context.DeadlineExceeded)
	r.want(t, "Login with another iss", r.login(ctx, a, answer(url.Values{"iss": {"https://evil.example"}}), 10*time.Second), client.ErrIssuerMismatch)
	none := func(ctx context.Context, authURL string) error {
		return r.opener()(ctx, authURL+"&prompt=none")
	}
	var ce *client.CallbackError
	if err := r.login(ctx, a, none, 10*time.Second); !errors.As(err, &ce) {
		t.Fatalf("Login with prompt=none: got %v, want a *CallbackError", err)
	}
	quoting := func(_ context.Context, authURL string) error {
		r.authURL(authURL)
		return fmt.Errorf("cannot open %s", authURL)
	}
	if err := r.login(ctx, a, quoting, 10*time.Second); err == nil {
		t.Fatal("Login with a failing opener succeeded")
	}
	waiting := func(ctx context.Context, authURL string) error {
		r.authURL(authURL)
		<-ctx.Done()
		return nil
	}
	r.want(t, "Login timing out", r.login(ctx, a, waiting, 50*time.Millisecond), context.DeadlineExceeded)
}

// webFlows: the web two-step with a confidential client (secret in HTTP
// Basic), its error paths, the password grant and a service account.
func (r *canaryRun) webFlows(t *testing.T) {
	ctx := t.Context()
	const redirect = "http://127.0.0.1:8765/auth/callback" // never requested
	id, secret := r.p.WebClient(redirect)
	c := r.client(t, client.Config{ClientID: id, ClientSecret: secret, AuthStyle: oauth2.AuthStyleInHeader})
	a := r.account(t, c, "web")
	req, cb := r.authorize(t, a, redirect)
	if err := a.Exchange(ctx, req, cb); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	r.tokens(t, a)
	r.profile(t, a)
	r.want(t, "replayed Exchange", a.Exchange(ctx, req, cb), client.ErrAuthRequestUsed)

	req, cb = r.authorize(t, a, redirect)
	cb.Set("state", "forged-state")
	r.want(t, "Exchange with a forged state", a.Exchange(ctx, req, cb), client.ErrStateMismatch)
	req, cb = r.authorize(t, a, redirect)
	cb.Set("iss", "https://evil.example")
	r.want(t, "Exchange with another iss", a.Exchange(ctx, req, cb), client.ErrIssuerMismatch)
	req, cb = r.authorize(t, a, redirect)
	tampered := *req
	tampered.Nonce = "tampered-nonce-" + rand.Text()
	r.w.secret("nonce", tampered.Nonce)
	r.want(t, "Exchange with a tampered nonce", a.Exchange(ctx, &tampered, cb), client.ErrNonceMismatch)
	req, cb = r.authorize(t, a, redirect)
	r.p.FailTokenRequests(1, oidctest.TokenError{Status: http.StatusInternalServerError, Code: "server_error", Description: "database unavailable"})
	var te *tokensource.Error
	if err := a.Exchange(ctx, req, cb); !errors.As(err, &te) || te.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Exchange during an outage: got %v, want a *tokensource.Error with HTTP 500", err)
	} else {
		r.w.err("Exchange during an outage", err)
	}
	r.want(t, "Exchange of an expired request", a.Exchange(ctx, &client.AuthRequest{State: "x"}, url.Values{"state": {"x"}}), client.ErrAuthRequestExpired)

	wrong := r.client(t, client.Config{ClientID: id, ClientSecret: "wrong-secret-CANARY-" + rand.Text(), AuthStyle: oauth2.AuthStyleInParams})
	wa := r.account(t, wrong, "web-wrong-secret")
	req, cb = r.authorize(t, wa, redirect)
	if err := wa.Exchange(ctx, req, cb); !errors.As(err, &te) {
		t.Fatalf("Exchange with a wrong client secret: got %v, want a *tokensource.Error", err)
	} else {
		r.w.err("Exchange with a wrong client secret", err)
	}
	r.w.err("Logout", a.Logout(ctx))
	r.passwordAndService(t, c)
}

// authorize starts a web login and has the user log in; it returns the
// request and the callback's query.
func (r *canaryRun) authorize(t *testing.T, a *client.Account, redirect string) (*client.AuthRequest, url.Values) {
	t.Helper()
	req, err := a.AuthCodeURL(redirect, client.AuthParam("login_hint", r.user))
	if err != nil {
		t.Fatal(err)
	}
	r.w.secret("state", req.State)
	r.w.secret("nonce", req.Nonce)
	r.w.secret("code_verifier", req.Verifier)
	r.w.value("AuthRequest", req)
	r.w.value("AuthRequest value", *req)
	back, err := r.p.Login(t.Context(), req.URL, r.user, r.pw)
	if err != nil {
		t.Fatalf("the user's login: %v", err)
	}
	cb := mustQuery(t, back)
	r.w.secret("code", cb.Get("code"))
	return req, cb
}

// passwordAndService: the password grant (and a wrong password), then a
// service account with the client credentials grant.
func (r *canaryRun) passwordAndService(t *testing.T, c *client.Client) {
	ctx := t.Context()
	a := r.account(t, c, "password")
	wrong := "wrong-pw-CANARY-" + rand.Text()
	r.w.secret("password", wrong)
	var te *tokensource.Error
	if err := a.LoginPassword(ctx, r.user, wrong); !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("LoginPassword with a wrong password: got %v, want invalid_grant", err)
	} else {
		r.w.err("LoginPassword with a wrong password", err)
	}
	if err := a.LoginPassword(ctx, r.user, r.pw); err != nil {
		t.Fatalf("LoginPassword: %v", err)
	}
	r.tokens(t, a)
	if err := r.refresh(t, a); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	r.w.err("Logout", a.Logout(ctx))

	id, secret := r.p.ServiceClient()
	sc := r.client(t, client.Config{ClientID: id, ClientSecret: secret, Scopes: []string{"openid"}})
	sa, err := sc.ServiceAccount("service")
	if err != nil {
		t.Fatal(err)
	}
	r.w.value("service Account", sa)
	if _, err := sa.TokenSource().TokenContext(ctx); err != nil {
		t.Fatalf("service account token: %v", err)
	}
	_, err = sa.AuthCodeURL("http://127.0.0.1/cb")
	r.want(t, "AuthCodeURL of a service account", err, client.ErrUnsupported)
}

// deviceFlows: a device login approved and one denied.
func (r *canaryRun) deviceFlows(t *testing.T) {
	ctx := t.Context()
	c := r.client(t, client.Config{ClientID: r.p.DeviceClient(), AuthStyle: oauth2.AuthStyleInParams})
	var wg sync.WaitGroup
	defer wg.Wait()
	decide := func(approve bool) func(client.DeviceCode) {
		return func(dc client.DeviceCode) {
			r.w.value("DeviceCode", dc)
			wg.Go(func() {
				f := r.p.ApproveDevice
				if !approve {
					f = r.p.DenyDevice
				}
				if err := f(ctx, dc.UserCode, r.user, r.pw); err != nil {
					t.Errorf("the user's decision: %v", err)
				}
			})
		}
	}
	a := r.account(t, c, "device")
	if err := a.LoginDevice(ctx, decide(true)); err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	r.tokens(t, a)
	r.w.err("Logout", a.Logout(ctx))
	r.want(t, "LoginDevice denied", r.account(t, c, "device-denied").LoginDevice(ctx, decide(false)), client.ErrAccessDenied)
}

// echoingEndpoints points endpoints at a server that echoes what it got
// (form and Authorization header) in its error_description, as some
// servers do: first the revocation, userinfo and device authorization
// endpoints of a client that logs in at the OP, then the token endpoint of
// a client with HTTP Basic authentication that refreshes the same account.
func (r *canaryRun) echoingEndpoints(t *testing.T) {
	ctx := t.Context()
	echo := echoServer(t)
	id, secret := r.p.WebClient("http://127.0.0.1:8765/auth/callback")
	c := r.client(t, client.Config{ClientID: id, ClientSecret: secret, AuthStyle: oauth2.AuthStyleInParams,
		Endpoints: client.Endpoints{Revocation: echo + "/revoke", UserInfo: echo + "/userinfo", DeviceAuth: echo + "/device"}})
	a := r.account(t, c, "echo")
	if err := a.LoginPassword(ctx, r.user, r.pw); err != nil {
		t.Fatalf("LoginPassword: %v", err)
	}
	r.tokens(t, a)
	var ee *client.EndpointError
	if _, err := a.UserInfo(ctx); !errors.As(err, &ee) {
		t.Fatalf("UserInfo from an echoing server: got %v, want an *EndpointError", err)
	}
	r.w.err("UserInfo from an echoing server", ee)
	if err := a.LoginDevice(ctx, func(client.DeviceCode) {}); !errors.As(err, &ee) {
		t.Fatalf("LoginDevice with an echoing server: got %v, want an *EndpointError", err)
	}
	r.w.err("LoginDevice with an echoing server", ee)

	basic := r.client(t, client.Config{ClientID: id, ClientSecret: secret, AuthStyle: oauth2.AuthStyleInHeader,
		Endpoints: client.Endpoints{Token: echo + "/token", Revocation: echo + "/revoke"}})
	// The same stored account; the echo's invalid_request asks for a login.
	r.want(t, "refresh at an echoing token endpoint", r.refresh(t, r.account(t, basic, "echo")), tokensource.ErrLoginRequired)
	var te *tokensource.Error
	if err := r.account(t, basic, "echo-password").LoginPassword(ctx, r.user, r.pw); !errors.As(err, &te) {
		t.Fatalf("LoginPassword at an echoing token endpoint: got %v, want a *tokensource.Error", err)
	}
	r.w.err("LoginPassword at an echoing token endpoint", te)
	web := r.account(t, basic, "echo-web")
	req, cb := r.authorize(t, web, "http://127.0.0.1:8765/auth/callback")
	if err := web.Exchange(ctx, req, cb); !errors.As(err, &te) {
		t.Fatalf("Exchange at an echoing token endpoint: got %v, want a *tokensource.Error", err)
	}
	r.w.err("Exchange at an echoing token endpoint", te)
	r.want(t, "Logout with an echoing server", a.Logout(ctx), client.ErrNotRevoked)
}
