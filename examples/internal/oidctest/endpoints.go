package oidctest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// resourcePath is where the wrapper serves its protected resource.
const resourcePath = "/resource"

// deviceUserPath is where exampleop serves the device flow's user pages.
const deviceUserPath = "/device"

// Endpoints lists a provider's URLs. All but Resource and DeviceVerification are also in
// the discovery document.
type Endpoints struct {
	Discovery           string // /.well-known/openid-configuration
	Authorization       string
	Token               string
	Userinfo            string
	Revocation          string // RFC 7009
	Introspection       string // RFC 7662
	EndSession          string
	JWKS                string
	DeviceAuthorization string // RFC 8628 §3.1
	DeviceVerification  string // the page a user opens to enter a user code
	// Resource is a protected resource added by the wrapper. A GET with a valid access token
	// answers 200 and JSON {"sub","client_id","scope"}; a missing, expired or revoked token
	// answers 401 with WWW-Authenticate: Bearer (error="invalid_token" when a token was sent).
	Resource string

	tokenPath, devicePath, authorizePath string
}

func newEndpoints(issuer string, e *op.Endpoints) Endpoints {
	return Endpoints{
		Discovery:           issuer + oidcDiscoveryPath,
		Authorization:       e.Authorization.Absolute(issuer),
		Token:               e.Token.Absolute(issuer),
		Userinfo:            e.Userinfo.Absolute(issuer),
		Revocation:          e.Revocation.Absolute(issuer),
		Introspection:       e.Introspection.Absolute(issuer),
		EndSession:          e.EndSession.Absolute(issuer),
		JWKS:                e.JwksURI.Absolute(issuer),
		DeviceAuthorization: e.DeviceAuthorization.Absolute(issuer),
		DeviceVerification:  issuer + deviceUserPath,
		Resource:            issuer + resourcePath,
		tokenPath:           e.Token.Relative(),
		devicePath:          e.DeviceAuthorization.Relative(),
		authorizePath:       e.Authorization.Relative(),
	}
}

const oidcDiscoveryPath = "/.well-known/openid-configuration"

// TokenRequests returns how many requests reached the token endpoint with the given
// grant_type ("refresh_token", "authorization_code", ...), or with any grant_type when
// grantType is "". Requests answered by [Provider.FailTokenRequests] count too.
func (p *Provider) TokenRequests(grantType string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if grantType != "" {
		return p.counts[grantType]
	}
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}

// TokenError describes a failure injected with [Provider.FailTokenRequests].
type TokenError struct {
	Status      int           // HTTP status; 0 means 503
	Code        string        // RFC 6749 error code; "" means "temporarily_unavailable"
	Description string        // error_description; may be empty
	RetryAfter  time.Duration // when positive, a Retry-After header in whole seconds
}

// FailTokenRequests makes the next n token-endpoint requests, of any grant type, fail with
// e without reaching the OP. Calls add up: failures are served in the order they were
// added.
func (p *Provider) FailTokenRequests(n int, e TokenError) {
	if e.Status == 0 {
		e.Status = http.StatusServiceUnavailable
	}
	if e.Code == "" {
		e.Code = "temporarily_unavailable"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.failures = append(p.failures, e)
	}
}

// serveToken counts the request, serves an injected failure or the emulated password
// grant, and otherwise hands the request to the OP.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	grant := ""
	if r.Method == http.MethodPost && r.ParseForm() == nil {
		grant = r.PostForm.Get("grant_type")
	}
	p.mu.Lock()
	p.counts[grant]++
	var fail *TokenError
	if len(p.failures) > 0 {
		fail = &p.failures[0]
		p.failures = p.failures[1:]
	}
	p.mu.Unlock()
	p.log.Debug("oidctest: token request", "grant_type", grant, "injected_failure", fail != nil)
	switch {
	case fail != nil:
		if fail.RetryAfter > 0 {
			secs := int64(math.Ceil(fail.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		writeOAuthError(w, fail.Status, fail.Code, fail.Description)
	case grant == grantTypePassword && p.opts.PasswordGrant:
		p.servePassword(w, r)
	default:
		p.op.ServeHTTP(w, r)
	}
}

// writeOAuthError writes an RFC 6749 §5.2 error response.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// serveDeviceAuthorization lets the OP answer and replaces the poll interval it advertises
// (5 s, hard-coded in exampleop) with Options.DevicePollInterval.
func (p *Provider) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.op.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err == nil {
			m["interval"] = int64(math.Ceil(p.opts.DevicePollInterval.Seconds()))
			if b, err := json.Marshal(m); err == nil {
				body = b
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// serveResource is a protected resource that checks access tokens the way a resource
// server of this provider would (RFC 6750).
func (p *Provider) serveResource(w http.ResponseWriter, r *http.Request) {
	const realm = `Bearer realm="oidctest"`
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", realm)
		http.Error(w, "bearer token required", http.StatusUnauthorized)
		return
	}
	at, ok := p.checkAccessToken(token)
	if !ok {
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"sub":       at.user,
		"client_id": at.client,
		"scope":     strings.Join(at.scopes, " "),
	})
}

// checkAccessToken decrypts an opaque access token and reports whether it is live.
func (p *Provider) checkAccessToken(token string) (accessToken, bool) {
	plain, err := p.crypto.Decrypt(token)
	if err != nil {
		return accessToken{}, false
	}
	id, _, ok := strings.Cut(plain, ":")
	if !ok {
		return accessToken{}, false
	}
	return p.store.liveAccess(id)
}

// String describes the provider without secrets.
func (p *Provider) String() string { return fmt.Sprintf("oidctest.Provider(%s)", p.issuer) }
