package client_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestWebTwoStep runs the web-app flow against the real OP with both ways
// of sending the client secret: AuthCodeURL, the user's login (the OP's
// redirect is handed to Exchange as a callback handler would), Exchange,
// then a replay of the same callback.
func TestWebTwoStep(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	const redirect = "http://127.0.0.1:8765/auth/callback" // never requested
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(map[oauth2.AuthStyle]string{oauth2.AuthStyleInHeader: "client_secret_basic", oauth2.AuthStyleInParams: "client_secret_post"}[style], func(t *testing.T) {
			ctx := t.Context()
			id, secret := p.WebClient(redirect)
			c := newClient(t, client.Config{Issuer: p.Issuer(), ClientID: id, ClientSecret: secret, AuthStyle: style,
				AuthParams: map[string]string{"prompt": "consent"}})
			a, err := c.Account("alice@web")
			if err != nil {
				t.Fatal(err)
			}
			req, err := a.AuthCodeURL(redirect, client.AuthParam("login_hint", oidctest.DefaultUsername))
			if err != nil {
				t.Fatal(err)
			}
			q := mustQuery(t, req.URL)
			for k, want := range map[string]string{"code_challenge_method": "S256", "prompt": "consent", "login_hint": oidctest.DefaultUsername,
				"scope": "openid offline_access", "redirect_uri": redirect, "response_type": "code", "client_id": id} {
				if got := q.Get(k); got != want {
					t.Errorf("authorization URL %s: got %q, want %q", k, got, want)
				}
			}
			back, err := p.Login(ctx, req.URL, oidctest.DefaultUsername, oidctest.DefaultPassword)
			if err != nil {
				t.Fatalf("the user's login: %v", err)
			}
			callback := mustQuery(t, back)
			if err := a.Exchange(ctx, req, callback); err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			idt, err := a.IDToken(ctx)
			if err != nil || idt.Subject != oidctest.DefaultUsername {
				t.Fatalf("IDToken: got %v, %v; want sub %s", idt, err, oidctest.DefaultUsername)
			}
			wantErr(t, a.Exchange(ctx, req, callback), client.ErrAuthRequestUsed)
			if _, err := a.TokenSource().TokenContext(ctx); err != nil {
				t.Errorf("TokenContext after a refused replay: %v", err)
			}
		})
	}
}

// callbackCase is one authorization response given to Exchange.
type callbackCase struct {
	name     string
	issParam bool // the provider announces RFC 9207 iss
	// callback builds the response to req from op.
	callback func(op *fakeOP, req *client.AuthRequest) url.Values
	want     error // nil: the login succeeds
}

func (tc callbackCase) run(t *testing.T) {
	op := (&fakeOP{issParam: tc.issParam}).serve(t)
	a := account(t, fakeClient(t, op))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	idt := signRS256(t, op.claims(req.Nonce))
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-1", "rt-1", idt) }
	})
	err = a.Exchange(t.Context(), req, tc.callback(op, req))
	if tc.want == nil {
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		return
	}
	wantErr(t, err, tc.want)
	if strings.Contains(err.Error(), req.State) {
		t.Errorf("error %q contains the state", err)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.tokenForms) != 0 {
		t.Errorf("the code was exchanged although the response was refused")
	}
}

func TestExchangeCallbackChecks(t *testing.T) {
	ok := func(op *fakeOP, req *client.AuthRequest) url.Values { return codeCallback(req) }
	withParam := func(k, v string) func(*fakeOP, *client.AuthRequest) url.Values {
		return func(op *fakeOP, req *client.AuthRequest) url.Values {
			q := codeCallback(req)
			q.Set(k, v)
			return q
		}
	}
	for _, tc := range []callbackCase{
		{name: "valid", callback: ok},
		{name: "valid with iss", issParam: true, callback: func(op *fakeOP, req *client.AuthRequest) url.Values {
			return withParam("iss", op.URL)(op, req)
		}},
		{name: "iss sent although not announced", callback: func(op *fakeOP, req *client.AuthRequest) url.Values {
			return withParam("iss", op.URL)(op, req)
		}},
		{name: "state missing", callback: func(op *fakeOP, req *client.AuthRequest) url.Values {
			return url.Values{"code": {"the-code"}}
		}, want: client.ErrStateMismatch},
		{name: "state mismatch", callback: withParam("state", "forged"), want: client.ErrStateMismatch},
		{name: "state of another request", callback: withParam("state", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), want: client.ErrStateMismatch},
		{name: "iss mismatch (mix-up)", callback: withParam("iss", "https://evil.example"), want: client.ErrIssuerMismatch},
		{name: "iss mismatch when announced", issParam: true, callback: withParam("iss", "https://evil.example"), want: client.ErrIssuerMismatch},
		{name: "iss missing when announced", issParam: true, callback: ok, want: client.ErrIssuerMismatch},
		{name: "provider error", callback: func(op *fakeOP, req *client.AuthRequest) url.Values {
			return url.Values{"error": {"access_denied"}, "error_description": {"the user said no"}, "state": {req.State}}
		}, want: client.ErrAccessDenied},
		{name: "no code", callback: func(op *fakeOP, req *client.AuthRequest) url.Values {
			return url.Values{"state": {req.State}}
		}, want: errAny},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestCallbackErrorIsTyped(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Exchange(t.Context(), req, url.Values{"error": {"login_required"}, "error_description": {"<b>log\nin</b>"}, "state": {req.State}})
	var ce *client.CallbackError
	if !errors.As(err, &ce) || ce.Code != "login_required" || ce.Description != "blog in/b" {
		t.Fatalf("got %#v, want a *CallbackError login_required with a sanitised description", err)
	}
	if errors.Is(err, client.ErrAccessDenied) {
		t.Errorf("login_required matches ErrAccessDenied")
	}
	// The request was used up by the error response.
	wantErr(t, a.Exchange(t.Context(), req, codeCallback(req)), client.ErrAuthRequestUsed)
}

func TestExchangeRequestAge(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := account(t, fakeClient(t, op, func(c *client.Config) { c.Now = clock }))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(client.AuthRequestMaxAge + time.Second)
	mu.Unlock()
	wantErr(t, a.Exchange(t.Context(), req, codeCallback(req)), client.ErrAuthRequestExpired)
	wantErr(t, a.Exchange(t.Context(), &client.AuthRequest{State: "x"}, url.Values{"state": {"x"}}), client.ErrAuthRequestExpired)
}

func TestAuthCodeURL(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	seen := map[string]bool{}
	for range 3 {
		req, err := a.AuthCodeURL(webRedirect)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{req.State, req.Nonce, req.Verifier} {
			if len(s) < 43 || seen[s] {
				t.Fatalf("state, nonce or verifier %q is short or repeated", s)
			}
			seen[s] = true
		}
		q := mustQuery(t, req.URL)
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") != req.Nonce || q.Get("state") != req.State {
			t.Errorf("authorization URL %q lacks S256 PKCE, nonce or state", req.URL)
		}
		if q.Has("code_verifier") || strings.Contains(req.URL, req.Verifier) {
			t.Errorf("authorization URL carries the verifier")
		}
	}
	for name, param := range map[string]client.AuthOption{"state": client.AuthParam("state", "x"), "scope": client.AuthParam("scope", "all"), "redirect_uri": client.AuthParam("redirect_uri", "https://evil.example")} {
		if _, err := a.AuthCodeURL(webRedirect, param); err == nil {
			t.Errorf("AuthCodeURL accepted a %s parameter", name)
		}
	}
	for _, bad := range []string{"http://example.com/cb", "/relative", "ftp://127.0.0.1/cb"} {
		if _, err := a.AuthCodeURL(bad); err == nil {
			t.Errorf("AuthCodeURL accepted redirect URI %q", bad)
		}
	}
}

func TestServiceAccountDoesNotLogIn(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	c := fakeClient(t, op, func(c *client.Config) { c.ClientSecret = "s3cret-value" })
	sa, err := c.ServiceAccount("svc")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sa.AuthCodeURL(webRedirect)
	wantErr(t, err, client.ErrUnsupported)
	wantErr(t, sa.LoginPassword(t.Context(), "u", "p"), client.ErrUnsupported)
	if _, err := c.Account("svc"); err == nil {
		t.Error("a service account's key was accepted for a user account")
	}
	if _, err := account(t, c).TokenSource().TokenContext(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Errorf("a user account that never logged in: got %v, want ErrLoginRequired", err)
	}
}
