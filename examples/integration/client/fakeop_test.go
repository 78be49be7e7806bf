package client_test

// This file is identical in client/ and examples/integration/client/ (the
// client tests of the SDK module and those against the in-process OpenID
// Provider both use the fake); .ci/run fails when the copies differ.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The fake OP's signing keys: generated once per test binary.
var (
	opKey    = sync.OnceValue(func() *rsa.PrivateKey { return newRSAKey() })
	otherKey = sync.OnceValue(func() *rsa.PrivateKey { return newRSAKey() })
)

func newRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

const (
	fakeClientID = "app"
	fakeKID      = "key-1"
)

// fakeOP is a small OpenID Provider for rejection tests: a discovery
// document, a JWKS with one RSA key, and token, userinfo, revocation and
// device endpoints whose answers the test sets. It is an http.Handler;
// serve starts it on a loopback port.
type fakeOP struct {
	URL string // issuer; set by serve or by the test

	mu          sync.Mutex
	issuer      string // discovery's issuer; "" means URL
	issParam    bool   // discovery's authorization_response_iss_parameter_supported
	noRevoke    bool   // no revocation endpoint in discovery
	jwksStatus  int    // non-zero: the JWKS answers with this status
	token       func(form url.Values) (int, any)
	userinfoSub string            // userinfo's sub; "" means "user-1"
	revokeCode  int               // revocation status; 0 means 200
	revoked     []url.Values      // revocation requests received
	tokenForms  []url.Values      // token requests received
	device      func() (int, any) // device authorization answer
	pkce        []string          // code_challenge_methods_supported; nil: left out
	jwksFetches int               // JWKS requests received
}

// serve starts op on a loopback port until the test ends.
func (op *fakeOP) serve(t *testing.T) *fakeOP {
	t.Helper()
	srv := httptest.NewServer(op)
	t.Cleanup(srv.Close)
	op.URL = srv.URL
	return op
}

func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *fakeOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		op.serveDiscovery(w)
	case "/jwks":
		op.jwksFetches++
		if op.jwksStatus != 0 {
			http.Error(w, "unavailable", op.jwksStatus)
			return
		}
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &opKey().PublicKey, KeyID: fakeKID, Algorithm: "RS256", Use: "sig"}}})
	case "/token":
		r.ParseForm()
		op.tokenForms = append(op.tokenForms, r.PostForm)
		if op.token == nil {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		status, body := op.token(r.PostForm)
		writeJSON(w, status, body)
	case "/userinfo":
		sub := op.userinfoSub
		if sub == "" {
			sub = "user-1"
		}
		writeJSON(w, 200, map[string]any{"sub": sub, "email": "u@example.com", "email_verified": true})
	case "/revoke":
		r.ParseForm()
		op.revoked = append(op.revoked, r.PostForm)
		if op.revokeCode != 0 {
			writeJSON(w, op.revokeCode, map[string]string{"error": "temporarily_unavailable"})
			return
		}
		w.WriteHeader(200)
	case "/device":
		status, body := op.device()
		writeJSON(w, status, body)
	default:
		http.NotFound(w, r)
	}
}

func (op *fakeOP) serveDiscovery(w http.ResponseWriter) {
	iss := op.issuer
	if iss == "" {
		iss = op.URL
	}
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                op.URL + "/authorize",
		"token_endpoint":                        op.URL + "/token",
		"userinfo_endpoint":                     op.URL + "/userinfo",
		"jwks_uri":                              op.URL + "/jwks",
		"device_authorization_endpoint":         op.URL + "/device",
		"end_session_endpoint":                  op.URL + "/logout",
		"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
		"authorization_response_iss_parameter_supported": op.issParam,
	}
	if op.pkce != nil {
		doc["code_challenge_methods_supported"] = op.pkce
	}
	if !op.noRevoke {
		doc["revocation_endpoint"] = op.URL + "/revoke"
	}
	writeJSON(w, 200, doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// claims returns valid ID token claims for fakeClientID from op.
func (op *fakeOP) claims(nonce string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": op.URL,
		"sub": "user-1",
		"aud": fakeClientID,
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return c
}

// tokenResponse is a token response with an access token, a refresh token
// and idToken (if not "").
func tokenResponse(access, refresh, idToken string) map[string]any {
	m := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh}
	if idToken != "" {
		m["id_token"] = idToken
	}
	return m
}

// sign signs claims as a JWT with alg and key (an *rsa.PrivateKey or an
// HMAC secret) under kid.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRS256 signs claims with the fake OP's key.
func signRS256(t testing.TB, claims map[string]any) string {
	return sign(t, jose.RS256, opKey(), fakeKID, claims)
}

// unsigned returns an "alg": "none" JWT of claims.
func unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// atHash is the at_hash of an access token for RS256 (OIDC Core §3.1.3.6).
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
