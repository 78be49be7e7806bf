package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// DefaultHTTPTimeout bounds each request of the default HTTP client, used
// when Config.HTTPClient is nil.
const DefaultHTTPTimeout = 30 * time.Second

// Config configures a [Client]. ClientID and either Issuer or
// Endpoints.Token are required. [New] copies the Config; later changes to
// it have no effect.
type Config struct {
	// Issuer is the OpenID Provider's issuer URL. New fetches its discovery
	// document (OpenID Connect Discovery 1.0) with go-oidc and refuses one
	// whose issuer differs from Issuer ([ErrIssuerMismatch]). It must be
	// https, or http to a loopback address. With an Issuer, ID tokens are
	// verified and "openid" is requested. "": a plain OAuth 2.0 server,
	// described by Endpoints; ID tokens it sends are not kept.
	Issuer string
	// Endpoints are the server's endpoints for a plain OAuth 2.0 server.
	// With an Issuer, its non-empty fields override what discovery found.
	Endpoints Endpoints

	// ClientID identifies the client. Required.
	ClientID string
	// ClientSecret is the confidential client's secret. "": a public
	// client (native app, CLI), which authenticates only with PKCE.
	ClientSecret string
	// AuthStyle says how the client authenticates at the token, device
	// authorization and revocation endpoints: oauth2.AuthStyleInHeader
	// (client_secret_basic) or oauth2.AuthStyleInParams
	// (client_secret_post). Zero (AuthStyleAutoDetect): HTTP Basic when
	// there is a secret, client_id in the form otherwise.
	AuthStyle oauth2.AuthStyle
	// ClientAuth, if not nil, authenticates the confidential client with
	// private_key_jwt (OpenID Connect Core §9, RFC 7523 §2.2) at the token,
	// device authorization and revocation endpoints: a fresh signed
	// assertion with every request. ClientSecret and AuthStyle are then
	// not used. Its Audience "" means the Issuer, or without one the token
	// endpoint URL. New copies it; its Signer is shared and must be safe
	// for concurrent use. nil: ClientSecret, or a public client.
	ClientAuth *tokensource.ClientAssertion
	// DPoP, when not "", binds every account's tokens to a key pair the
	// client holds (OAuth 2.0 DPoP, RFC 9449), so that a stolen access or
	// refresh token is useless without the key. It names the key's
	// algorithm: "ES256" (P-256, the common choice), "RS256" (RSA 2048) or
	// "EdDSA" (Ed25519); the provider must support it. Each login makes a
	// fresh key, sends its thumbprint as dpop_jkt with the authorization
	// request, proves possession at the token endpoint and refuses an
	// answer whose token_type is not DPoP (an error matching
	// [tokensource.ErrDPoPDowngrade]); the key is stored with the tokens,
	// encrypted as they are, and signs the proofs of every refresh,
	// revocation, userinfo and [Account.HTTPClient] request. A service
	// account's Source makes and stores its own key. Accounts logged in
	// before DPoP was turned on keep their Bearer tokens until they log in
	// again. "": Bearer tokens.
	DPoP string

	// Scopes are requested in addition to "openid" (with an Issuer) and
	// "offline_access" (unless NoOfflineAccess). A service account
	// ([Client.ServiceAccount]) requests only Scopes.
	Scopes []string
	// NoOfflineAccess leaves out the offline_access scope: the provider
	// then usually issues no refresh token and the account must log in
	// again once the access token expires.
	NoOfflineAccess bool
	// PromptConsent sends prompt=consent with every authorization request
	// that asks for offline access (unless AuthParams sets prompt): strict
	// OpenID Connect providers (node-oidc-provider, and others configured
	// so) ignore offline_access without it (OpenID Connect Core §11), and
	// some issue a refresh token only on a fresh consent. Off by default:
	// the user is asked to consent at every login.
	PromptConsent bool
	// NoProviderDefaults turns off what the client adds for providers it
	// recognises by their issuer. Today that is Google
	// (https://accounts.google.com), which refuses the offline_access
	// scope and issues refresh tokens only for access_type=offline, and
	// after the first consent only with prompt=consent: by default the
	// client leaves out offline_access and sends access_type=offline and
	// prompt=consent instead (AuthParams still override them).
	NoProviderDefaults bool
	// AuthParams are added to every authorization request, e.g.
	// "prompt": "consent" (some providers only issue a refresh token for
	// offline_access with it), "audience", "login_hint", "acr_values".
	// The parameters the client sets itself (state, nonce, PKCE,
	// redirect_uri, client_id, response_type, scope, dpop_jkt) are refused.
	AuthParams map[string]string
	// IDTokenSigningAlgs are the JWS algorithms accepted for ID tokens.
	// nil: RS256 only. "none" and the HMAC algorithms are refused.
	IDTokenSigningAlgs []string
	// TrustedAudiences are the audiences, besides ClientID, that an ID
	// token's aud may name (OpenID Connect Core §3.1.3.7 step 3). nil: an
	// ID token whose aud names anyone else is refused
	// ([ErrAudienceMismatch]). With several audiences the token must also
	// have an azp equal to ClientID.
	TrustedAudiences []string
	// IDTokenMaxAge refuses an ID token, when received (login or
	// refresh), whose iat is older than this ([ErrIDTokenIssuedAt]). Zero:
	// no limit. Whatever its value, an ID token without iat, or issued
	// more than IDTokenClockSkew in the future, is refused.
	IDTokenMaxAge time.Duration

	// Store persists every account's tokens. nil: a new in-memory store.
	Store storage.Store
	// HTTPClient sends every request to the provider. nil: a client with
	// a DefaultHTTPTimeout timeout. Requests that carry credentials (token,
	// device authorization, revocation) never follow redirects; discovery
	// and JWKS requests follow only redirects to the same scheme and host
	// (an https origin never downgrades to http); userinfo requests follow
	// the client's CheckRedirect, and the access token is sent only to the
	// original host (see [Account.HTTPClient]).
	HTTPClient *http.Client
	// Rejected reports whether a resource server's response means it
	// rejected the access token, for the clients of [Account.HTTPClient]
	// (see [transport.Transport].Rejected): the token is then refreshed and
	// the request replayed once. nil: a 401 whose WWW-Authenticate Bearer
	// challenge says error="invalid_token" ([transport.InvalidToken]). Set
	// it for APIs that answer an expired token with 403, or with 401 and no
	// challenge, e.g. func(r *http.Response) bool { return r.StatusCode ==
	// 403 || transport.InvalidToken(r) }. It must not read or close the
	// body, and must be safe for concurrent use.
	Rejected func(resp *http.Response) bool
	// Logger receives diagnostics; nothing logged holds a secret. nil:
	// nothing is logged.
	Logger *slog.Logger
	// Now returns the current time. nil: time.Now.
	Now func() time.Time
	// OnEvent, RefreshBefore, RefreshTimeout and MaxSessionAge configure
	// every account's [tokensource.Source]: see [tokensource.Config].
	OnEvent        func(tokensource.Event)
	RefreshBefore  time.Duration
	RefreshTimeout time.Duration
	MaxSessionAge  time.Duration
}

// Endpoints are a provider's endpoint URLs. Each must be https, or http to
// a loopback address.
type Endpoints struct {
	Auth       string // authorization endpoint (RFC 6749 §3.1)
	Token      string // token endpoint (RFC 6749 §3.2)
	DeviceAuth string // device authorization endpoint (RFC 8628 §3.1)
	Revocation string // token revocation endpoint (RFC 7009)
	UserInfo   string // OpenID Connect userinfo endpoint
	JWKS       string // the JWK set that signs ID tokens; used only with an Issuer
	EndSession string // OpenID Connect RP-Initiated Logout 1.0 end_session_endpoint
}

// reservedParams are the authorization request parameters the client sets.
var reservedParams = []string{"state", "nonce", "code_challenge", "code_challenge_method", "redirect_uri", "client_id", "response_type", "scope", "dpop_jkt"}

// dpopAlgorithms are the values Config.DPoP accepts besides "".
var dpopAlgorithms = []string{"ES256", "RS256", "EdDSA"}

func (c *Config) validate() error {
	if c.ClientID == "" {
		return errors.New("client: Config.ClientID is empty")
	}
	if c.Issuer == "" && c.Endpoints.Token == "" {
		return errors.New("client: Config needs an Issuer or Endpoints.Token")
	}
	if c.Issuer != "" {
		if err := checkURL(c.Issuer); err != nil {
			return fmt.Errorf("client: Config.Issuer: %w", err)
		}
	}
	if c.ClientAuth != nil {
		if _, err := c.ClientAuth.Alg(); err != nil {
			return fmt.Errorf("client: Config.ClientAuth: %w", err)
		}
	}
	if c.DPoP != "" && !slices.Contains(dpopAlgorithms, c.DPoP) {
		return fmt.Errorf("client: Config.DPoP: algorithm %q is not one of %q", oauthwire.Sanitize(c.DPoP, 20), dpopAlgorithms)
	}
	if err := c.Endpoints.check(); err != nil {
		return fmt.Errorf("client: Config.Endpoints.%w", err)
	}
	if err := checkParams(c.AuthParams); err != nil {
		return fmt.Errorf("client: Config.AuthParams: %w", err)
	}
	for _, alg := range c.IDTokenSigningAlgs {
		if alg == "" || strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS") {
			return fmt.Errorf("client: Config.IDTokenSigningAlgs: %q is not allowed", alg)
		}
	}
	if c.RefreshTimeout < 0 || c.MaxSessionAge < 0 || c.IDTokenMaxAge < 0 {
		return errors.New("client: Config.RefreshTimeout, MaxSessionAge and IDTokenMaxAge must not be negative")
	}
	return nil
}

// check checks every non-empty endpoint. The error starts with the
// field's name.
func (e Endpoints) check() error {
	for _, f := range []struct{ name, url string }{
		{"Auth", e.Auth}, {"Token", e.Token}, {"DeviceAuth", e.DeviceAuth},
		{"Revocation", e.Revocation}, {"UserInfo", e.UserInfo}, {"JWKS", e.JWKS}, {"EndSession", e.EndSession},
	} {
		if f.url == "" {
			continue
		}
		if err := checkURL(f.url); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// override returns e with the non-empty fields of o.
func (e Endpoints) override(o Endpoints) Endpoints {
	pick := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	return Endpoints{
		Auth:       pick(e.Auth, o.Auth),
		Token:      pick(e.Token, o.Token),
		DeviceAuth: pick(e.DeviceAuth, o.DeviceAuth),
		Revocation: pick(e.Revocation, o.Revocation),
		UserInfo:   pick(e.UserInfo, o.UserInfo),
		JWKS:       pick(e.JWKS, o.JWKS),
		EndSession: pick(e.EndSession, o.EndSession),
	}
}

// checkParams refuses authorization parameters the client sets itself.
func checkParams(params map[string]string) error {
	for k := range params {
		if slices.Contains(reservedParams, k) {
			return fmt.Errorf("parameter %q is set by the client", k)
		}
		if k == "" {
			return errors.New("empty parameter name")
		}
	}
	return nil
}

// checkURL refuses URLs that would send secrets in clear text: only https,
// and http to a loopback address, are allowed. Query and fragment are not
// part of the message.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", oauthwire.Sanitize(u.Scheme+"://"+u.Path, 200))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q is neither https nor http to a loopback address", oauthwire.Sanitize(u.Scheme+"://"+u.Host+u.Path, 200))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loginScopes returns the scopes of an interactive login: openid (with an
// issuer), offline_access (unless turned off), then Scopes, without
// duplicates.
func (c *Config) loginScopes() []string {
	var s []string
	if c.Issuer != "" {
		s = append(s, "openid")
	}
	if !c.NoOfflineAccess && !c.google() {
		s = append(s, "offline_access")
	}
	for _, sc := range c.Scopes {
		if sc != "" && !slices.Contains(s, sc) {
			s = append(s, sc)
		}
	}
	return s
}

// google reports whether the provider is Google and its defaults apply.
func (c *Config) google() bool {
	return !c.NoProviderDefaults && strings.TrimSuffix(c.Issuer, "/") == "https://accounts.google.com"
}

// offlineParams returns the authorization parameters that ask for a
// refresh token beside the offline_access scope: prompt=consent with
// PromptConsent, and Google's (see NoProviderDefaults). AuthParams and
// per-login parameters are applied over them.
func (c *Config) offlineParams() url.Values {
	v := url.Values{}
	if c.NoOfflineAccess {
		return v
	}
	if c.PromptConsent || c.google() {
		v.Set("prompt", "consent")
	}
	if c.google() {
		v.Set("access_type", "offline")
	}
	return v
}

// clone returns a copy of c that shares no slice or map with it.
func (c Config) clone() Config {
	c.Scopes = slices.Clone(c.Scopes)
	c.IDTokenSigningAlgs = slices.Clone(c.IDTokenSigningAlgs)
	c.TrustedAudiences = slices.Clone(c.TrustedAudiences)
	if c.AuthParams != nil {
		m := make(map[string]string, len(c.AuthParams))
		for k, v := range c.AuthParams {
			m[k] = v
		}
		c.AuthParams = m
	}
	return c
}

// String describes c without its client secret.
func (c Config) String() string {
	secret := ""
	if c.ClientSecret != "" {
		secret = "[REDACTED]"
	}
	auth := "nil"
	if c.ClientAuth != nil {
		auth = c.ClientAuth.String()
	}
	return fmt.Sprintf("client.Config{Issuer:%q TokenURL:%q ClientID:%q ClientSecret:%q ClientAuth:%s DPoP:%q AuthStyle:%d Scopes:%q NoOfflineAccess:%t}",
		c.Issuer, redactURL(c.Endpoints.Token), c.ClientID, secret, auth, c.DPoP, c.AuthStyle, c.Scopes, c.NoOfflineAccess)
}

// Format implements fmt.Formatter: every verb prints String, so the client
// secret never reaches output.
func (c Config) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// LogValue implements slog.LogValuer without the client secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON implements json.Marshaler without the client secret (and
// without the hooks, store and clients, which have no JSON form): slog's
// JSON handler uses it for a Config nested in a logged value.
func (c Config) MarshalJSON() ([]byte, error) {
	secret, auth := "", ""
	if c.ClientSecret != "" {
		secret = "[REDACTED]"
	}
	if c.ClientAuth != nil {
		auth = c.ClientAuth.String()
	}
	return json.Marshal(struct {
		Issuer       string   `json:"issuer,omitempty"`
		TokenURL     string   `json:"token_url,omitempty"`
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret,omitempty"`
		ClientAuth   string   `json:"client_auth,omitempty"`
		DPoP         string   `json:"dpop,omitempty"`
		Scopes       []string `json:"scopes,omitempty"`
	}{c.Issuer, redactURL(c.Endpoints.Token), c.ClientID, secret, auth, c.DPoP, c.Scopes})
}

// redactURL returns raw without its query, fragment and user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	if u.Host == "" {
		return u.Path
	}
	return u.Scheme + "://" + u.Host + u.Path
}
