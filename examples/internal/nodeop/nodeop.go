package nodeop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// Defaults applied by [Start] to zero [Options] fields.
const (
	DefaultAccessTokenLifetime  = time.Minute
	DefaultRefreshTokenLifetime = 14 * 24 * time.Hour
	DefaultDevicePollInterval   = time.Second
)

// DefaultUsers are the users who can log in when Options.Users is nil.
var DefaultUsers = []string{"alice", "bob"}

// Password is every user's password on the login page.
const Password = "correct horse battery staple"

// ClientKeyID is the kid of [Server.ClientKey] in the confidential clients'
// registered JWK set.
const ClientKeyID = "tk-client-key"

// startTimeout bounds how long Start waits for the provider to answer.
const startTimeout = 30 * time.Second

// Options configures [Start]. The zero value gives 60 s access tokens,
// 14-day refresh tokens rotated on every refresh, required DPoP nonces, the
// users [DefaultUsers], a fresh P-256 client key and a 1 s device poll
// interval.
type Options struct {
	// AccessTokenLifetime is the lifetime of every access token (also those
	// of the client credentials grant), rounded up to whole seconds. Zero
	// means DefaultAccessTokenLifetime.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the lifetime of refresh tokens, rounded up to
	// whole seconds. Zero means DefaultRefreshTokenLifetime.
	RefreshTokenLifetime time.Duration
	// ProviderRotation, if true, keeps node-oidc-provider's own rotation
	// policy: rotate the refresh tokens of public clients that are not
	// sender-constrained, and the others once 70% of their lifetime has
	// passed. false: every refresh rotates the refresh token. Either way a
	// rotated refresh token used again revokes the whole grant.
	ProviderRotation bool
	// OptionalDPoPNonce, if true, accepts DPoP proofs without a nonce
	// (their iat must then be within a minute); the server still sends
	// DPoP-Nonce headers, and a proof with a stale nonce still gets
	// use_dpop_nonce. false: every proof needs a nonce the server issued,
	// so the first token request of a DPoP client gets use_dpop_nonce.
	OptionalDPoPNonce bool
	// Users are the user names that can log in, each with [Password]; the
	// userinfo endpoint gives name (the user name) and email
	// (user@example.com). nil means DefaultUsers.
	Users []string
	// ClientKey signs the private_key_jwt assertions of [ServiceClientID]
	// and [ServiceDPoPClientID]: an RSA, P-256 or Ed25519 key. nil: a new
	// P-256 key.
	ClientKey crypto.Signer
	// DevicePollInterval is the interval of device authorizations
	// (RFC 8628 §3.2), rounded up to whole seconds. Zero means
	// DefaultDevicePollInterval. The provider does not enforce it.
	DevicePollInterval time.Duration
}

// Endpoints are the provider's endpoints, from its discovery document.
type Endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Userinfo      string `json:"userinfo_endpoint"`
	Revocation    string `json:"revocation_endpoint"`
	JWKS          string `json:"jwks_uri"`
	EndSession    string `json:"end_session_endpoint"`
	// DeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1).
	DeviceAuthorization string `json:"device_authorization_endpoint"`
}

// Server is a running node-oidc-provider. Its methods are safe for
// concurrent use. It stops when the test that started it ends.
type Server struct {
	issuer    string
	endpoints Endpoints
	discovery map[string]any
	key       crypto.Signer
}

// Issuer returns the provider's issuer, http://127.0.0.1:PORT.
func (s *Server) Issuer() string { return s.issuer }

// Endpoints returns the provider's endpoints.
func (s *Server) Endpoints() Endpoints { return s.endpoints }

// Discovery returns the named member of the provider's discovery document
// (OpenID Connect Discovery §3), or nil.
func (s *Server) Discovery(name string) any { return s.discovery[name] }

// ClientKey returns the private key of the confidential clients.
func (s *Server) ClientKey() crypto.Signer { return s.key }

// ClientAssertion returns a new private_key_jwt configuration for the
// confidential clients: [Server.ClientKey] with kid [ClientKeyID] and the
// default audience. node-oidc-provider accepts the issuer, the token
// endpoint URL or the URL of the endpoint that receives the assertion as
// the assertion's aud.
func (s *Server) ClientAssertion() *tokensource.ClientAssertion {
	return &tokensource.ClientAssertion{Signer: s.key, KeyID: ClientKeyID}
}

// OAuth2Config returns an oauth2.Config for clientID with the provider's
// endpoints, redirect URI [RedirectURI] and scopes.
func (s *Server) OAuth2Config(clientID string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       s.endpoints.Authorization,
			TokenURL:      s.endpoints.Token,
			DeviceAuthURL: s.endpoints.DeviceAuthorization,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		RedirectURL: RedirectURI,
		Scopes:      scopes,
	}
}

// Start runs node-oidc-provider for the duration of t: it installs the npm
// dependencies if needed, starts the provider on a free loopback port,
// waits until its discovery document answers (usually well under 2 s) and
// registers a cleanup that stops the process. The provider's stderr is
// logged through t when t failed. Without node or npm, or when the install
// fails, Start calls t.Skip, or t.Fatal when the environment variable CI is
// "true".
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout+startTimeout)
	defer cancel()
	dir, err := serverDir() // fails under go test -trimpath
	var node string
	if err == nil {
		node, err = ensureInstalled(ctx, dir)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: node-oidc-provider is required)", err)
		}
		t.Skipf("skipping the node-oidc-provider tests: %v", err)
	}
	key := opts.ClientKey
	if key == nil {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := opts.config(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := startProcess(node, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("nodeop: stopping the provider: %v", err)
		}
		if t.Failed() {
			t.Logf("node-oidc-provider stderr:\n%s", p.stderr.String())
		}
	})
	s := &Server{issuer: p.issuer, key: key}
	if err := s.discover(ctx); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr.String())
	}
	return s
}

// config returns the NODEOP_CONFIG of server.mjs.
func (o Options) config(key crypto.Signer) ([]byte, error) {
	cs, err := clients(key, ClientKeyID)
	if err != nil {
		return nil, err
	}
	names := o.Users
	if names == nil {
		names = DefaultUsers
	}
	users := make(map[string]any, len(names))
	for _, u := range names {
		users[u] = map[string]string{"name": u, "email": u + "@example.com"}
	}
	return json.Marshal(map[string]any{
		"clients":          cs,
		"scopes":           Scopes,
		"users":            users,
		"password":         Password,
		"accessTokenTTL":   seconds(o.AccessTokenLifetime, DefaultAccessTokenLifetime),
		"refreshTokenTTL":  seconds(o.RefreshTokenLifetime, DefaultRefreshTokenLifetime),
		"requireDPoPNonce": !o.OptionalDPoPNonce,
		"alwaysRotate":     !o.ProviderRotation,
		"deviceInterval":   seconds(o.DevicePollInterval, DefaultDevicePollInterval),
	})
}

// seconds returns d (def when zero) in whole seconds, rounded up.
func seconds(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	return int64(math.Ceil(d.Seconds()))
}

// discover loads the discovery document, retrying until the provider
// answers or ctx ends.
func (s *Server) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	u := s.issuer + "/.well-known/openid-configuration"
	for {
		err := s.loadDiscovery(ctx, hc, u)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodeop: discovery: %w", errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) loadDiscovery(ctx context.Context, hc *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nodeop: discovery: status %d", resp.StatusCode)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("nodeop: discovery: %w", err)
	}
	if err := json.Unmarshal(raw, &s.endpoints); err != nil {
		return fmt.Errorf("nodeop: discovery: %w", err)
	}
	if err := json.Unmarshal(raw, &s.discovery); err != nil {
		return fmt.Errorf("nodeop: discovery: %w", err)
	}
	if iss, _ := s.discovery["issuer"].(string); iss != s.issuer {
		return fmt.Errorf("nodeop: discovery: issuer %q, want %q", iss, s.issuer)
	}
	if !strings.HasPrefix(s.endpoints.Token, s.issuer+"/") {
		return fmt.Errorf("nodeop: discovery: token endpoint %q outside the issuer", s.endpoints.Token)
	}
	return nil
}
