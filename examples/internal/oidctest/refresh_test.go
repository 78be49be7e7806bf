package oidctest_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func TestRefreshTokenNeedsOfflineAccess(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	_, tok := loginNative(t, ctx, p, "openid")
	if tok.RefreshToken != "" {
		t.Errorf("got a refresh token without offline_access")
	}
	_, tok = loginNative(t, ctx, p, "openid", "offline_access")
	if tok.RefreshToken == "" {
		t.Errorf("got no refresh token with offline_access (and no prompt=consent)")
	}
}

// TestRefreshRotation shows that each refresh returns a new refresh token, that the old
// one then fails with invalid_grant, and that the newest keeps working.
func TestRefreshRotation(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")

	first, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	if first.RefreshToken == "" || first.RefreshToken == tok.RefreshToken {
		t.Fatalf("first refresh: got refresh token changed=%t, want a new one", first.RefreshToken != tok.RefreshToken)
	}
	if first.AccessToken == tok.AccessToken {
		t.Errorf("first refresh: access token unchanged")
	}
	if _, ok := first.Extra("id_token").(string); !ok {
		t.Errorf("refresh response has no id_token")
	}

	_, err = refresh(ctx, cfg, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant")

	second, err := refresh(ctx, cfg, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the newest token: %v", err)
	}
	if second.RefreshToken == first.RefreshToken {
		t.Errorf("second refresh did not rotate")
	}
	// The example OP also revokes the access token issued with the rotated refresh token.
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, first.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("previous access token after refresh: got %d, want 401", status)
	}
	if got := p.TokenRequests("refresh_token"); got != 3 {
		t.Errorf("TokenRequests(refresh_token): got %d, want 3", got)
	}
	if got := p.TokenRequests("authorization_code"); got != 1 {
		t.Errorf("TokenRequests(authorization_code): got %d, want 1", got)
	}
}

func TestReusePolicies(t *testing.T) {
	t.Run("revoke family", func(t *testing.T) {
		p := start(t, oidctest.Options{RefreshReuse: oidctest.ReuseRevokeFamily})
		ctx := t.Context()
		cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
		next, err := refresh(ctx, cfg, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = refresh(ctx, cfg, tok.RefreshToken) // theft detected
		wantRetrieveError(t, err, "invalid_grant")
		_, err = refresh(ctx, cfg, next.RefreshToken)
		wantRetrieveError(t, err, "invalid_grant")
		if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, next.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("family's access token: got %d, want 401", status)
		}
	})
	t.Run("reject keeps family", func(t *testing.T) {
		p := start(t, oidctest.Options{})
		ctx := t.Context()
		cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
		next, err := refresh(ctx, cfg, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = refresh(ctx, cfg, tok.RefreshToken)
		wantRetrieveError(t, err, "invalid_grant")
		if _, err := refresh(ctx, cfg, next.RefreshToken); err != nil {
			t.Errorf("newest token after a rejected reuse: %v", err)
		}
	})
	t.Run("grace interval", func(t *testing.T) {
		p := start(t, oidctest.Options{RefreshReuseInterval: time.Minute})
		ctx := t.Context()
		cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
		a, err := refresh(ctx, cfg, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		b, err := refresh(ctx, cfg, tok.RefreshToken) // a second process with the old token
		if err != nil {
			t.Fatalf("reuse within the grace interval: %v", err)
		}
		if b.RefreshToken == a.RefreshToken || b.RefreshToken == tok.RefreshToken {
			t.Errorf("reuse within the grace interval did not return a new refresh token")
		}
		for name, rt := range map[string]string{"first": a.RefreshToken, "second": b.RefreshToken} {
			if _, err := refresh(ctx, cfg, rt); err != nil {
				t.Errorf("%s successor: %v", name, err)
			}
		}
	})
}

// TestAccessTokenLifetime shows a 1 s lifetime reported as expires_in and enforced by
// userinfo (403, as zitadel does) and by the resource endpoint (401 invalid_token).
func TestAccessTokenLifetime(t *testing.T) {
	p := start(t, oidctest.Options{AccessTokenLifetime: time.Second})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "profile", "offline_access")
	if got := tok.ExpiresIn; got != 1 {
		t.Errorf("expires_in: got %d, want 1", got)
	}
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Userinfo, tok.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo with a fresh token: got %d, want 200", status)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		status, _, _ := getJSON(t, ctx, p.Endpoints().Userinfo, tok.AccessToken)
		if status == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("userinfo still answers %d 3 s after a 1 s token was issued", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, h, _ := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken)
	if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("resource with an expired token: got %d %q, want 401 invalid_token", status, h.Get("WWW-Authenticate"))
	}
	next, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after expiry: %v", err)
	}
	if next.ExpiresIn != 1 {
		t.Errorf("refreshed expires_in: got %d, want 1", next.ExpiresIn)
	}
}

func TestExpireAccessTokens(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	_, tok := loginNative(t, ctx, p, "openid", "offline_access")
	if tok.ExpiresIn != 300 {
		t.Errorf("default expires_in: got %d, want 300", tok.ExpiresIn)
	}
	p.ExpireAccessTokens()
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("resource after ExpireAccessTokens: got %d, want 401", status)
	}
}

func TestRefreshTokenLifetime(t *testing.T) {
	p := start(t, oidctest.Options{RefreshTokenLifetime: 300 * time.Millisecond})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
	time.Sleep(400 * time.Millisecond)
	_, err := refresh(ctx, cfg, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant")
}

func TestUserinfo(t *testing.T) {
	p := start(t, oidctest.Options{})
	if err := p.AddUser(oidctest.User{Username: "alice", Password: "pw-alice", GivenName: "Alice", FamilyName: "Liddell", Email: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cb := newCallbackServer(t)
	cfg := nativeConfig(p, cb, "openid", "profile", "email")
	v := oauth2.GenerateVerifier()
	if err := p.Browser("alice", "pw-alice")(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v))); err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, cb.wait(t).Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	status, _, info := getJSON(t, ctx, p.Endpoints().Userinfo, tok.AccessToken)
	if status != http.StatusOK {
		t.Fatalf("userinfo: got %d, want 200", status)
	}
	for k, want := range map[string]any{"sub": "alice", "email": "alice@example.com", "email_verified": true, "given_name": "Alice", "family_name": "Liddell", "name": "Alice Liddell"} {
		if info[k] != want {
			t.Errorf("userinfo %s: got %v, want %v", k, info[k], want)
		}
	}
	status, _, res := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken)
	if status != http.StatusOK || res["sub"] != "alice" || res["client_id"] != p.NativeClient() {
		t.Errorf("resource: got %d %v, want 200 sub=alice client_id=%s", status, res, p.NativeClient())
	}
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Userinfo, "garbage"); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a garbage token: got %d, want 401", status)
	}
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, ""); status != http.StatusUnauthorized {
		t.Errorf("resource without a token: got %d, want 401", status)
	}
}

// TestRevocation revokes a refresh token through the RFC 7009 endpoint as a public client:
// it and its access token are dead afterwards.
func TestRevocation(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
	form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {p.NativeClient()}}
	if status, body := postForm(t, ctx, p.Endpoints().Revocation, form, "", ""); status != http.StatusOK {
		t.Fatalf("revocation: got %d %v, want 200", status, body)
	}
	_, err := refresh(ctx, cfg, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant")
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token after revoking its refresh token: got %d, want 401", status)
	}
	// Revoking an unknown or already revoked token succeeds (RFC 7009 §2.2).
	if status, body := postForm(t, ctx, p.Endpoints().Revocation, form, "", ""); status != http.StatusOK {
		t.Errorf("second revocation: got %d %v, want 200", status, body)
	}
}

func TestRevocationOfAccessTokenByWebClient(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	const redirect = "http://127.0.0.1:8765/cb"
	id, secret := p.WebClient(redirect)
	cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: endpoint(p, oauth2.AuthStyleInHeader), RedirectURL: redirect, Scopes: []string{"openid", "offline_access"}}
	got, err := p.Login(ctx, cfg.AuthCodeURL("s"), oidctest.DefaultUsername, oidctest.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	tok, err := cfg.Exchange(ctx, u.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	if status, body := postForm(t, ctx, p.Endpoints().Revocation, form, id, secret); status != http.StatusOK {
		t.Fatalf("revocation: got %d %v, want 200", status, body)
	}
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("revoked access token: got %d, want 401", status)
	}
	if _, err := refresh(ctx, cfg, tok.RefreshToken); err != nil {
		t.Errorf("refresh token after revoking only the access token: %v", err)
	}
}

func TestRevokeUser(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
	if n := p.RevokeUser(oidctest.DefaultUsername); n != 1 {
		t.Errorf("RevokeUser: got %d refresh tokens, want 1", n)
	}
	_, err := refresh(ctx, cfg, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant")
	if status, _, _ := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token after RevokeUser: got %d, want 401", status)
	}
}

func TestFailTokenRequests(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
	p.FailTokenRequests(1, oidctest.TokenError{Status: http.StatusTooManyRequests, Code: "slow_down", RetryAfter: 1500 * time.Millisecond})
	p.FailTokenRequests(1, oidctest.TokenError{})

	_, err := refresh(ctx, cfg, tok.RefreshToken)
	var re *oauth2.RetrieveError
	wantRetrieveError(t, err, "slow_down")
	_ = errors.As(err, &re)
	if re.Response.StatusCode != http.StatusTooManyRequests || re.Response.Header.Get("Retry-After") != "2" {
		t.Errorf("first failure: got %d Retry-After %q, want 429 and 2", re.Response.StatusCode, re.Response.Header.Get("Retry-After"))
	}
	_, err = refresh(ctx, cfg, tok.RefreshToken)
	wantRetrieveError(t, err, "temporarily_unavailable")
	_ = errors.As(err, &re)
	if re.Response.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second failure: got %d, want 503", re.Response.StatusCode)
	}
	if _, err := refresh(ctx, cfg, tok.RefreshToken); err != nil {
		t.Errorf("refresh after the failures: %v (the refresh token must be untouched)", err)
	}
	if got := p.TokenRequests("refresh_token"); got != 3 {
		t.Errorf("TokenRequests(refresh_token): got %d, want 3", got)
	}
	if got := p.TokenRequests(""); got != 4 {
		t.Errorf("TokenRequests(\"\"): got %d, want 4", got)
	}
}

// TestConcurrentRefreshOneWins refreshes with one refresh token from several goroutines, as
// processes without a shared lock would: exactly one gets new tokens, the others
// invalid_grant, and nothing fails with a server error.
func TestConcurrentRefreshOneWins(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cfg, tok := loginNative(t, ctx, p, "openid", "offline_access")
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := refresh(ctx, cfg, tok.RefreshToken)
			code := "ok"
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				code = re.ErrorCode
			} else if err != nil {
				code = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
		})
	}
	wg.Wait()
	if codes["ok"] != 1 || codes["invalid_grant"] != 7 {
		t.Errorf("got outcomes %v, want 1 ok and 7 invalid_grant", codes)
	}
}
