package oidctest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func TestClientCredentials(t *testing.T) {
	p := start(t, oidctest.Options{AccessTokenLifetime: 2 * time.Second})
	ctx := t.Context()
	id, secret := p.ServiceClient()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: p.Endpoints().Token, AuthStyle: style}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client_credentials (style %d): %v", style, err)
		}
		// clientcredentials does not fill Token.ExpiresIn; read the wire field.
		if tok.RefreshToken != "" || tok.Extra("expires_in") != float64(2) {
			t.Errorf("client_credentials: got refresh %t expires_in %v, want none and 2", tok.RefreshToken != "", tok.Extra("expires_in"))
		}
		status, _, res := getJSON(t, ctx, p.Endpoints().Resource, tok.AccessToken)
		if status != http.StatusOK || res["sub"] != id || res["client_id"] != id {
			t.Errorf("resource: got %d %v, want 200 with sub and client_id %s", status, res, id)
		}
	}
	bad := clientcredentials.Config{ClientID: id, ClientSecret: "wrong", TokenURL: p.Endpoints().Token}
	_, err := bad.Token(ctx)
	wantRetrieveError(t, err, "invalid_client")
}

func TestPasswordGrant(t *testing.T) {
	t.Run("not supported by zitadel", func(t *testing.T) {
		p := start(t, oidctest.Options{})
		cfg := &oauth2.Config{ClientID: p.NativeClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams), Scopes: []string{"openid"}}
		_, err := cfg.PasswordCredentialsToken(t.Context(), oidctest.DefaultUsername, oidctest.DefaultPassword)
		wantRetrieveError(t, err, "unsupported_grant_type")
	})
	t.Run("emulated", func(t *testing.T) {
		p := start(t, oidctest.Options{PasswordGrant: true})
		ctx := t.Context()
		cfg := &oauth2.Config{ClientID: p.NativeClient(), Endpoint: endpoint(p, oauth2.AuthStyleInParams), Scopes: []string{"openid", "offline_access"}}
		tok, err := cfg.PasswordCredentialsToken(ctx, oidctest.DefaultUsername, oidctest.DefaultPassword)
		if err != nil {
			t.Fatalf("password grant: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("password grant with offline_access: no refresh token")
		}
		op, err := oidc.NewProvider(ctx, p.Issuer())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: p.NativeClient()}).Verify(ctx, raw)
		if err != nil || idt.Subject != oidctest.DefaultUsername {
			t.Fatalf("ID token: got %v, %v; want a valid token for %s", idt, err, oidctest.DefaultUsername)
		}
		next, err := refresh(ctx, cfg, tok.RefreshToken)
		if err != nil || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh after the password grant: %v (rotated %t)", err, err == nil && next.RefreshToken != tok.RefreshToken)
		}
		_, err = cfg.PasswordCredentialsToken(ctx, oidctest.DefaultUsername, "wrong")
		wantRetrieveError(t, err, "invalid_grant")

		id, secret := p.WebClient("http://127.0.0.1:1/cb")
		web := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: endpoint(p, oauth2.AuthStyleInHeader), Scopes: []string{"openid"}}
		if _, err := web.PasswordCredentialsToken(ctx, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
			t.Errorf("password grant by a web client: %v", err)
		}
		web.ClientSecret = "wrong"
		_, err = web.PasswordCredentialsToken(ctx, oidctest.DefaultUsername, oidctest.DefaultPassword)
		wantRetrieveError(t, err, "invalid_client")
	})
}
