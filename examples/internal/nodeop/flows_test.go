package nodeop

import (
	"crypto"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// TestNativeDPoP: the public DPoP client's code exchange needs a proof;
// the tokens are bound to its key: userinfo accepts the access token only
// with a proof of that key (after a nonce challenge), and the refresh token
// works only with a proof of that key and rotates.
func TestNativeDPoP(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	e := s.Endpoints()
	code, verifier := login(t, s, NativeDPoPClientID)

	if a := send(t, http.MethodPost, e.Token, codeForm(NativeDPoPClientID, code, verifier), nil); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
		t.Fatalf("code exchange without a proof: got %d %v, want 400 invalid_grant", a.status, a)
	}
	// A refused request does not consume the code with node-oidc-provider
	// when the proof check comes first; a fresh login keeps the test
	// independent of that detail.
	code, verifier = login(t, s, NativeDPoPClientID)
	p := newProver(t)
	_, tok := p.sendDPoP(t, http.MethodPost, e.Token, fixed(codeForm(NativeDPoPClientID, code, verifier)), "")
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" || tok.str("refresh_token") == "" {
		t.Fatalf("code exchange: got %d %v, want DPoP tokens with a refresh token", tok.status, tok)
	}
	at, rt := tok.str("access_token"), tok.str("refresh_token")

	t.Run("userinfo", func(t *testing.T) {
		if a := send(t, http.MethodGet, e.Userinfo, nil, http.Header{"Authorization": {"Bearer " + at}}); a.status != http.StatusUnauthorized {
			t.Errorf("as a Bearer token: got %d, want 401", a.status)
		}
		other := newProver(t)
		other.nonce = p.nonce
		if _, a := other.sendDPoP(t, http.MethodGet, e.Userinfo, nil, at); a.status != http.StatusUnauthorized {
			t.Errorf("with another key's proof: got %d, want 401", a.status)
		}
		p.nonce = ""
		first, last := p.sendDPoP(t, http.MethodGet, e.Userinfo, nil, at)
		if first.status != http.StatusUnauthorized || !useNonce(first) || first.header.Get("DPoP-Nonce") == "" {
			t.Errorf("without a nonce: got %d %q, want 401 use_dpop_nonce with DPoP-Nonce", first.status, first.header.Get("WWW-Authenticate"))
		}
		if last.status != http.StatusOK || last.str("sub") != "alice" || last.str("name") != "alice" {
			t.Fatalf("with the nonce: got %d %v, want alice's claims", last.status, last)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		form := func(rt string) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "client_id": {NativeDPoPClientID}, "refresh_token": {rt}}
		}
		if a := send(t, http.MethodPost, e.Token, form(rt), nil); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
			t.Errorf("without a proof: got %d %v, want 400 invalid_grant", a.status, a)
		}
		other := newProver(t)
		if _, a := other.sendDPoP(t, http.MethodPost, e.Token, fixed(form(rt)), ""); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
			t.Errorf("with another key's proof: got %d %v, want 400 invalid_grant", a.status, a)
		}
		_, a := p.sendDPoP(t, http.MethodPost, e.Token, fixed(form(rt)), "")
		if a.status != http.StatusOK || a.str("token_type") != "DPoP" {
			t.Fatalf("with the key's proof: got %d %v", a.status, a)
		}
		if a.str("refresh_token") == "" || a.str("refresh_token") == rt {
			t.Errorf("the refresh token was not rotated")
		}
		if _, a := p.sendDPoP(t, http.MethodPost, e.Token, fixed(form(rt)), ""); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
			t.Errorf("the rotated refresh token again: got %d %v, want 400 invalid_grant", a.status, a)
		}
	})
}

// TestNativeBearer: the public client without dpop_bound_access_tokens
// gets Bearer tokens, which userinfo accepts as such, and a rotated refresh
// token.
func TestNativeBearer(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	e := s.Endpoints()
	code, verifier := login(t, s, NativeClientID)
	tok := send(t, http.MethodPost, e.Token, codeForm(NativeClientID, code, verifier), nil)
	if tok.status != http.StatusOK || tok.str("token_type") != "Bearer" || tok.str("refresh_token") == "" {
		t.Fatalf("code exchange: got %d %v", tok.status, tok)
	}
	if a := send(t, http.MethodGet, e.Userinfo, nil, http.Header{"Authorization": {"Bearer " + tok.str("access_token")}}); a.status != http.StatusOK || a.str("sub") != "alice" {
		t.Errorf("userinfo: got %d %v", a.status, a)
	}
	rt := tok.str("refresh_token")
	a := send(t, http.MethodPost, e.Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {NativeClientID}, "refresh_token": {rt}}, nil)
	if a.status != http.StatusOK || a.str("refresh_token") == "" || a.str("refresh_token") == rt {
		t.Fatalf("refresh: got %d, rotated %v", a.status, a.str("refresh_token") != rt)
	}
	rev := send(t, http.MethodPost, e.Revocation, url.Values{"client_id": {NativeClientID}, "token": {a.str("refresh_token")}}, nil)
	if rev.status != http.StatusOK {
		t.Fatalf("revocation: got %d %v", rev.status, rev)
	}
	a = send(t, http.MethodPost, e.Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {NativeClientID}, "refresh_token": {a.str("refresh_token")}}, nil)
	if a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
		t.Fatalf("revoked refresh token: got %d %v, want 400 invalid_grant", a.status, a)
	}
}

// TestDPoPJKT: an authorization request with dpop_jkt (RFC 9449 §10) binds
// the code to that key: the exchange with another key's proof is refused.
func TestDPoPJKT(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	p := newProver(t)
	jkt, err := (&jose.JSONWebKey{Key: p.key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := login(t, s, NativeDPoPClientID, oauth2.SetAuthURLParam("dpop_jkt", base64.RawURLEncoding.EncodeToString(jkt)))
	other := newProver(t)
	if _, a := other.sendDPoP(t, http.MethodPost, s.Endpoints().Token, fixed(codeForm(NativeDPoPClientID, code, verifier)), ""); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
		t.Fatalf("exchange with another key: got %d %v, want 400 invalid_grant", a.status, a)
	}
	code, verifier = login(t, s, NativeDPoPClientID, oauth2.SetAuthURLParam("dpop_jkt", base64.RawURLEncoding.EncodeToString(jkt)))
	if _, a := p.sendDPoP(t, http.MethodPost, s.Endpoints().Token, fixed(codeForm(NativeDPoPClientID, code, verifier)), ""); a.status != http.StatusOK || a.str("token_type") != "DPoP" {
		t.Fatalf("exchange with the key: got %d %v, want DPoP tokens", a.status, a)
	}
}

// TestBrowser: the headless browser completes a loopback login: the app's
// listener, on a port of its own, receives the code.
func TestBrowser(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	got := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
		io.WriteString(w, "you may close this window")
	}))
	t.Cleanup(app.Close)
	cfg := s.OAuth2Config(NativeClientID, "openid")
	cfg.RedirectURL = app.URL + "/callback"
	if err := s.Browser("alice", true)(t.Context(), cfg.AuthCodeURL("st4te", oauthS256()...)); err != nil {
		t.Fatal(err)
	}
	q := <-got
	if q.Get("code") == "" || q.Get("state") != "st4te" {
		t.Fatalf("the app got state %q, code set %v", q.Get("state"), q.Get("code") != "")
	}
}
