package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()

	status, _, doc := getJSON(t, ctx, p.Endpoints().Discovery, "")
	if status != http.StatusOK {
		t.Fatalf("discovery: got status %d, want 200", status)
	}
	if got := doc["issuer"]; got != p.Issuer() {
		t.Errorf("discovery issuer: got %v, want %q", got, p.Issuer())
	}
	if !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Errorf("issuer %q is not on 127.0.0.1", p.Issuer())
	}
	e := p.Endpoints()
	for field, want := range map[string]string{
		"authorization_endpoint":        e.Authorization,
		"token_endpoint":                e.Token,
		"userinfo_endpoint":             e.Userinfo,
		"revocation_endpoint":           e.Revocation,
		"jwks_uri":                      e.JWKS,
		"device_authorization_endpoint": e.DeviceAuthorization,
		"introspection_endpoint":        e.Introspection,
		"end_session_endpoint":          e.EndSession,
	} {
		if got := doc[field]; got != want {
			t.Errorf("discovery %s: got %v, want %q", field, got, want)
		}
	}
	if !contains(doc["id_token_signing_alg_values_supported"], "RS256") {
		t.Errorf("id_token_signing_alg_values_supported: got %v, want RS256", doc["id_token_signing_alg_values_supported"])
	}
	if !contains(doc["code_challenge_methods_supported"], "S256") {
		t.Errorf("code_challenge_methods_supported: got %v, want S256", doc["code_challenge_methods_supported"])
	}

	status, _, jwks := getJSON(t, ctx, e.JWKS, "")
	if status != http.StatusOK {
		t.Fatalf("JWKS: got status %d, want 200", status)
	}
	keys, _ := jwks["keys"].([]any)
	if len(keys) == 0 {
		t.Fatalf("JWKS: no keys in %v", jwks)
	}
	k, _ := keys[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" {
		t.Errorf("JWKS key: got kty=%v alg=%v use=%v kid=%v, want RSA RS256 sig and a kid", k["kty"], k["alg"], k["use"], k["kid"])
	}

	// go-oidc refuses a provider whose discovery issuer differs from the URL it was given.
	if _, err := oidc.NewProvider(ctx, p.Issuer()); err != nil {
		t.Errorf("go-oidc NewProvider: %v", err)
	}
}

func contains(list any, want string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == want {
			return true
		}
	}
	return false
}

// TestNativeAuthCodePKCE runs the native app flow twice, on two loopback listeners with
// different ephemeral ports, against the one registered redirect http://127.0.0.1/callback.
func TestNativeAuthCodePKCE(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	op, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	verifier := op.Verifier(&oidc.Config{ClientID: p.NativeClient()})
	ports := map[string]bool{}
	for range 2 {
		cfg, tok := loginNative(t, ctx, p, oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
		u, _ := url.Parse(cfg.RedirectURL)
		ports[u.Port()] = true
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("token response: got access %t refresh %t, want both", tok.AccessToken != "", tok.RefreshToken != "")
		}
		if !strings.EqualFold(tok.TokenType, "bearer") {
			t.Errorf("token_type: got %q, want Bearer", tok.TokenType)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw) // RS256 signature via JWKS, iss, aud, exp
		if err != nil {
			t.Fatalf("verifying ID token: %v", err)
		}
		if idt.Subject != oidctest.DefaultUsername {
			t.Errorf("ID token sub: got %q, want %q", idt.Subject, oidctest.DefaultUsername)
		}
	}
	if len(ports) != 2 {
		t.Errorf("got callbacks on ports %v, want two different ports", ports)
	}
}

func TestNativeAuthCodeRejections(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	cb := newCallbackServer(t)
	browser := p.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)

	t.Run("wrong redirect path", func(t *testing.T) {
		cfg := nativeConfig(p, cb, oidc.ScopeOpenID)
		cfg.RedirectURL = cb.URL + "/elsewhere"
		err := browser(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err == nil || !strings.Contains(err.Error(), "redirect_uri") {
			t.Fatalf("got %v, want an error about the redirect_uri", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cfg := nativeConfig(p, cb, oidc.ScopeOpenID)
		err := p.Browser(oidctest.DefaultUsername, "nope")(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err == nil || !strings.Contains(err.Error(), "login rejected") || strings.Contains(err.Error(), "nope") {
			t.Fatalf("got %v, want a login rejection that does not repeat the password", err)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		cfg := nativeConfig(p, cb, oidc.ScopeOpenID)
		if err := browser(ctx, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err != nil {
			t.Fatal(err)
		}
		q := cb.wait(t)
		_, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("no PKCE", func(t *testing.T) {
		cfg := nativeConfig(p, cb, oidc.ScopeOpenID)
		if err := browser(ctx, cfg.AuthCodeURL("s")); err != nil {
			t.Fatal(err)
		}
		q := cb.wait(t)
		_, err := cfg.Exchange(ctx, q.Get("code"))
		wantRetrieveError(t, err, "invalid_request")
	})
	t.Run("prompt none", func(t *testing.T) {
		cfg := nativeConfig(p, cb, oidc.ScopeOpenID)
		authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none"))
		if err := browser(ctx, authURL); err != nil {
			t.Fatal(err)
		}
		if got := cb.wait(t).Get("error"); got != "login_required" {
			t.Fatalf("callback error: got %q, want login_required", got)
		}
	})
}

// TestWebClient runs the web-app two-step with both client authentication methods: Login
// returns the redirect URL instead of requesting it, the test exchanges its code.
func TestWebClient(t *testing.T) {
	p := start(t, oidctest.Options{})
	ctx := t.Context()
	const redirect = "http://127.0.0.1:8765/auth/callback" // never requested
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret := p.WebClient(redirect)
			cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: endpoint(p, tc.style), RedirectURL: redirect,
				Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
			verifier := oauth2.GenerateVerifier()
			got, err := p.Login(ctx, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), oidctest.DefaultUsername, oidctest.DefaultPassword)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			u, err := url.Parse(got)
			if err != nil || !strings.HasPrefix(got, redirect+"?") || u.Query().Get("state") != "st" {
				t.Fatalf("Login returned %q, want %s?code=...&state=st", got, redirect)
			}
			tok, err := cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			if _, err := refresh(ctx, cfg, tok.RefreshToken); err != nil {
				t.Fatalf("refresh: %v", err)
			}

			bad := *cfg
			bad.ClientSecret = "wrong"
			_, err = refresh(ctx, &bad, tok.RefreshToken)
			wantRetrieveError(t, err, "invalid_client")
		})
	}
}

// TestNativeLoopbackHosts shows how zitadel matches the native client's registered
// http://127.0.0.1/callback: any port and any loopback host, but the exact path.
func TestNativeLoopbackHosts(t *testing.T) {
	p := start(t, oidctest.Options{})
	for _, tc := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:49152/callback", true},
		{"http://127.0.0.1:61000/callback", true},
		{"http://localhost:49152/callback", true},
		{"http://[::1]:49152/callback", true},
		{"http://127.0.0.1:49152/callback/x", false},
		{"http://192.0.2.1:49152/callback", false},
		{"https://example.com/callback", false},
	} {
		t.Run(tc.redirect, func(t *testing.T) {
			cfg := &oauth2.Config{ClientID: p.NativeClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams), RedirectURL: tc.redirect, Scopes: []string{"openid"}}
			got, err := p.Login(t.Context(), cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), oidctest.DefaultUsername, oidctest.DefaultPassword)
			if tc.ok && (err != nil || !strings.HasPrefix(got, tc.redirect+"?code=")) {
				t.Errorf("got %q, %v; want a redirect with a code", got, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("got %q, want the OP to refuse the redirect URI", got)
			}
		})
	}
}
