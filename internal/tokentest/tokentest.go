// Package tokentest is a fake OAuth 2.0 token endpoint and protected
// resource for tests: it rotates refresh tokens and, like providers with
// reuse detection, revokes the whole token family when a refresh token is
// redeemed twice. It counts what it serves, and lets a test inject faults.
// It is for tests and examples only.
package tokentest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a token endpoint (at /token) and a protected resource (at
// /resource, and any other path) that accepts the access tokens it issued
// until they expire. Configure the exported fields before the first
// request. A Server is safe for concurrent use.
type Server struct {
	*httptest.Server

	// Lifetime is the access tokens' expires_in; 0: one hour. Values under
	// a second are sent as 1.
	Lifetime time.Duration
	// NoRotation keeps the refresh token across refreshes.
	NoRotation bool
	// ClientID and ClientSecret, when set, must authenticate every token
	// request (HTTP Basic or in the body); otherwise invalid_client.
	ClientID, ClientSecret string
	// Assertion, if not nil, must authenticate every token request with
	// private_key_jwt instead (checked before Fault, so that every
	// request's jti counts); otherwise invalid_client, whose description
	// says why.
	Assertion *AssertionChecker
	// Delay is how long the token endpoint waits before answering.
	Delay time.Duration
	// Fault, if not nil, is called first for every token request; if it
	// returns true it has answered and the request is not processed.
	Fault func(w http.ResponseWriter, r *http.Request) bool
	// Now returns the current time; nil: time.Now.
	Now func() time.Time

	// DPoP, if not nil, makes the Server a DPoP server (RFC 9449): see
	// dpopserver.go for what it then checks and answers.
	DPoP *DPoPChecker
	// TokenNonce and ResourceNonce make the token endpoint and the
	// resource demand the Server's current DPoP nonce (see RotateNonce).
	TokenNonce, ResourceNonce bool
	// Downgrade makes the token endpoint answer DPoP requests with Bearer
	// tokens, as a misconfigured or hostile server would.
	Downgrade bool

	requests  atomic.Int64 // token requests received
	refreshes atomic.Int64 // successful refreshes
	rejected  atomic.Int64 // invalid_grant answers

	mu       sync.Mutex
	refresh  map[string]*grant // every refresh token ever issued
	access   map[string]time.Time
	bound    map[string]string // access token → the thumbprint it is bound to
	nonce    string            // the current DPoP nonce
	nonceSeq int
	families int
	seq      int // makes every issued token unique
}

type grant struct {
	jkt     string // the DPoP key the family is bound to; "" for Bearer
	family  int
	used    bool
	revoked *bool // shared by the family
}

// NewServer starts a Server on a loopback address. Close it when done.
func NewServer() *Server {
	s := &Server{refresh: map[string]*grant{}, access: map[string]time.Time{}, bound: map[string]string{}, nonce: "nonce-0"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// TokenURL is the token endpoint's URL.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// Requests returns how many token requests the server received.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Refreshes returns how many refreshes succeeded.
func (s *Server) Refreshes() int { return int(s.refreshes.Load()) }

// Rejected returns how many token requests got invalid_grant.
func (s *Server) Rejected() int { return int(s.rejected.Load()) }

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Login starts a new token family, as an interactive login would, and
// returns its access and refresh tokens and the access token's expiry.
func (s *Server) Login() (access, refresh string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.families++
	revoked := false
	return s.issueLocked(&grant{family: s.families, revoked: &revoked})
}

func (s *Server) issueLocked(g *grant) (access, refresh string, expiry time.Time) {
	s.seq++
	n := s.seq
	access = fmt.Sprintf("at-%d-%d", g.family, n)
	expiry = s.now().Add(s.lifetime())
	s.access[access] = expiry
	if g.jkt != "" {
		s.bound[access] = g.jkt
	}
	refresh = fmt.Sprintf("rt-%d-%d", g.family, n)
	s.refresh[refresh] = &grant{family: g.family, revoked: g.revoked, jkt: g.jkt}
	return access, refresh, expiry
}

func (s *Server) lifetime() time.Duration {
	if s.Lifetime == 0 {
		return time.Hour
	}
	return max(s.Lifetime, time.Second)
}

// Valid reports whether access is an unexpired access token of a family
// that was not revoked.
func (s *Server) Valid(access string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[access]
	return ok && s.now().Before(exp)
}

// ExpireAccess makes every access token issued so far invalid at the
// resource (401 invalid_token), as a resource server that revoked them
// would; refresh tokens keep working.
func (s *Server) ExpireAccess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// RevokeAll revokes every token family, as when the user withdraws
// consent.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refresh {
		*g.revoked = true
	}
	clear(s.access)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		s.serveResource(w, r)
		return
	}
	s.requests.Add(1)
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if s.Assertion != nil {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "POST a form")
			return
		}
		if err := s.Assertion.Check(r); err != nil {
			writeError(w, http.StatusUnauthorized, "invalid_client", "client assertion: "+err.Error())
			return
		}
	}
	jkt, ok := s.tokenProof(w, r)
	if !ok {
		return
	}
	if s.Fault != nil && s.Fault(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	if !s.clientOK(r) {
		writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		s.serveRefresh(w, r.PostForm.Get("refresh_token"), jkt)
	case "client_credentials":
		s.mu.Lock()
		s.families++
		revoked := false
		at, _, _ := s.issueLocked(&grant{family: s.families, revoked: &revoked, jkt: jkt})
		s.mu.Unlock()
		writeJSON(w, map[string]any{"access_token": at, "token_type": s.tokenType(jkt), "expires_in": int(s.lifetime() / time.Second)})
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

func (s *Server) clientOK(r *http.Request) bool {
	if s.ClientID == "" || s.Assertion != nil {
		return true
	}
	id, secret, ok := r.BasicAuth()
	if ok { // RFC 6749 §2.3.1: form-encoded before Basic
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == s.ClientID && secret == s.ClientSecret
}

func (s *Server) serveRefresh(w http.ResponseWriter, rt, jkt string) {
	s.mu.Lock()
	g, ok := s.refresh[rt]
	switch {
	case !ok || *g.revoked:
		s.mu.Unlock()
		s.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or revoked")
		return
	case g.jkt != "" && jkt != g.jkt:
		s.mu.Unlock()
		s.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is DPoP-bound: no proof, or a proof of another key")
		return
	case g.used && !s.NoRotation:
		*g.revoked = true // reuse detected: the whole family dies
		s.mu.Unlock()
		s.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_grant", "refresh token reuse detected; token family revoked")
		return
	}
	g.used = true
	at, newRT, _ := s.issueLocked(g)
	if s.NoRotation {
		delete(s.refresh, newRT)
		newRT = ""
	}
	s.mu.Unlock()
	s.refreshes.Add(1)
	resp := map[string]any{"access_token": at, "token_type": s.tokenType(g.jkt), "expires_in": int(s.lifetime() / time.Second)}
	if newRT != "" {
		resp["refresh_token"] = newRT
	}
	writeJSON(w, resp)
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	if at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP "); ok && s.DPoP != nil {
		s.serveDPoPResource(w, r, at)
		return
	}
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokentest"`)
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	if !s.Valid(at) || s.boundTo(at) != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokentest", error="invalid_token", error_description="expired, unknown or DPoP-bound"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	fmt.Fprintln(w, "ok")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
