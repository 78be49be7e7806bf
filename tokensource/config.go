package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Defaults for the zero values of [Config].
const (
	DefaultRefreshBefore  = time.Minute
	DefaultRefreshTimeout = 30 * time.Second
	DefaultKey            = "default"
)

// Grant selects how a [Source] obtains new access tokens.
type Grant int

const (
	// GrantRefreshToken, the zero value, redeems the stored refresh
	// token (RFC 6749 §6). Without one, the account must log in.
	GrantRefreshToken Grant = iota
	// GrantClientCredentials requests tokens with the client's own
	// credentials and Config.OAuth2.Scopes (RFC 6749 §4.4); no refresh
	// token and no login are involved.
	GrantClientCredentials
)

// Config configures a [Source]. Only OAuth2 is required. New copies the
// Config; later changes to it have no effect.
type Config struct {
	// OAuth2 gives the token endpoint (Endpoint.TokenURL, which must be
	// https, or http to a loopback address), the client's credentials and
	// how to send them (Endpoint.AuthStyle: AuthStyleInHeader for HTTP
	// Basic, AuthStyleInParams for the request body; AuthStyleAutoDetect
	// uses Basic when there is a secret). A public client leaves
	// ClientSecret empty. Scopes are sent only with GrantClientCredentials.
	OAuth2 *oauth2.Config
	// ClientAuth, if not nil, authenticates the client at the token
	// endpoint with private_key_jwt (see [ClientAssertion]): a fresh signed
	// assertion with every request, attempts and retries included, whose
	// default audience is the token endpoint URL. OAuth2.ClientSecret and
	// AuthStyle are then not used, and OAuth2.ClientID is required. nil:
	// OAuth2's secret, or a public client. New copies it; the Signer is
	// shared and must be safe for concurrent use.
	ClientAuth *ClientAssertion

	// DPoP, with GrantClientCredentials, binds the tokens to a key
	// (RFC 9449) of this algorithm: "ES256", "RS256" or "EdDSA" (see
	// [NewDPoPKey]). The Source makes the key the first time it needs one
	// and keeps it in the record, so that every later token request and
	// every process sharing the store uses the same key. "": Bearer tokens.
	// With GrantRefreshToken it must be "" (New fails otherwise): the
	// record decides, since a refresh must use the key its refresh token
	// is bound to, the one saved at login ([storage.Token].DPoPKey; "" for
	// Bearer tokens).
	DPoP string

	// Store persists the account's tokens. nil: a new [storage.Memory].
	// A Store that is also a [storage.Locker] makes refreshes of the
	// account one at a time across every process sharing it.
	Store storage.Store
	// Key is the account's key in Store. "": DefaultKey.
	Key string
	// Grant selects how new tokens are obtained. Zero: GrantRefreshToken.
	Grant Grant

	// HTTPClient sends token requests. nil: a client with a 30 s timeout.
	// Redirects from the token endpoint are never followed, whatever the
	// client's CheckRedirect says.
	HTTPClient *http.Client
	// Logger receives diagnostics; nothing logged holds a secret.
	// nil: nothing is logged.
	Logger *slog.Logger
	// Now returns the current time. nil: time.Now.
	Now func() time.Time
	// OnEvent, if not nil, is called for every [Event], one at a time and
	// in order, after the callers waiting for the refresh were released
	// and with no lock held: it may call the Source, Close included. It
	// delays the delivery of later events, so it should return soon. A
	// panic in it is recovered and logged.
	OnEvent func(Event)

	// CheckRefresh, if not nil, is called after every successful refresh,
	// with the record being replaced (nil if none) and the new one, before
	// the new one is saved or served. It may modify next (e.g. drop an ID
	// token it cannot verify now, keeping prev's). If it returns an error
	// the new tokens are discarded and the account must log in again: the
	// error is a [*LoginRequiredError] with ReasonCheckFailed wrapping it.
	// Return an error only when the new tokens must never be used, e.g. a
	// refreshed ID token names another subject (OIDC Core §12.2).
	//
	// The refresh waits for CheckRefresh, so CheckRefresh must not wait
	// for the refresh: TokenContext and RefreshRejected called with the
	// ctx it is given return [ErrReentrant] at once when they would have
	// to (Token, which has no ctx to tell, would wait until
	// RefreshTimeout). Current and the tokens it is passed are safe.
	CheckRefresh func(ctx context.Context, prev, next *storage.Token) error

	// RefreshBefore is how long before the access token expires the
	// background refresh starts; a random part of up to a quarter more is
	// added so that replicas spread out. It is capped at half of the
	// token's remaining lifetime. Zero: DefaultRefreshBefore. Negative:
	// no background refresh; tokens are refreshed when callers find them
	// expired.
	RefreshBefore time.Duration
	// RefreshTimeout bounds each part of a refresh on its own: the waiting
	// (for the store's lock, its reads, and the pauses between attempts),
	// each token request from the moment it is sent, and the handling of
	// its answer (CheckRefresh and the save). A lock wait never shortens
	// a request, and a request once sent gets its answer and its save
	// even if every caller left or Close was called: the provider may
	// have rotated the refresh token. Zero: DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// RefreshWithoutLock, when true, lets a refresh go ahead when the
	// store's lock or its record cannot be had (a shared store such as
	// Redis is unreachable): it redeems the refresh token this Source
	// holds in memory and saves the result once the store is back.
	// Only for providers that do not rotate refresh tokens: with one that
	// does, replicas refreshing without the lock present tokens another
	// replica has already redeemed, and a provider with reuse detection
	// then revokes the whole session. False (the default): without the
	// lock there is no refresh; the valid token is served while it lasts,
	// then callers get a temporary error until the store is back.
	RefreshWithoutLock bool

	// MaxSessionAge, if positive, forces a new interactive login once that
	// long has passed since the token's AuthTime, even though refreshes
	// would keep the session alive. Tokens with a zero AuthTime are not
	// limited. Zero: no limit.
	MaxSessionAge time.Duration
}

func (c *Config) validate() error {
	if c.OAuth2 == nil {
		return errors.New("tokensource: Config.OAuth2 is nil")
	}
	if err := checkEndpoint(c.OAuth2.Endpoint.TokenURL); err != nil {
		return fmt.Errorf("tokensource: token endpoint: %w", err)
	}
	if c.OAuth2.ClientID == "" && c.Grant == GrantClientCredentials {
		return errors.New("tokensource: GrantClientCredentials needs Config.OAuth2.ClientID")
	}
	if c.ClientAuth != nil {
		if c.OAuth2.ClientID == "" {
			return errors.New("tokensource: Config.ClientAuth needs Config.OAuth2.ClientID")
		}
		if err := c.ClientAuth.validate(); err != nil {
			return err
		}
	}
	switch c.DPoP {
	case "", "ES256", "RS256", "EdDSA":
	default:
		return fmt.Errorf("tokensource: Config.DPoP %q is not ES256, RS256 or EdDSA: %w", c.DPoP, ErrUnsupportedKey)
	}
	if c.DPoP != "" && c.Grant != GrantClientCredentials {
		// A refresh token is bound at login, to the key saved with it:
		// silently refreshing Bearer tokens would surprise.
		return errors.New("tokensource: Config.DPoP is for GrantClientCredentials; a refresh token's DPoP key is the one its record holds, saved at login (package client's Config.DPoP)")
	}
	if c.Grant != GrantRefreshToken && c.Grant != GrantClientCredentials {
		return fmt.Errorf("tokensource: unknown Grant %d", c.Grant)
	}
	if c.RefreshTimeout < 0 || c.MaxSessionAge < 0 {
		return errors.New("tokensource: RefreshTimeout and MaxSessionAge must not be negative")
	}
	return nil
}

// checkEndpoint refuses endpoints that would send secrets in clear text:
// only https, and http to a loopback address, are allowed.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("no URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q is neither https nor http to a loopback address", u.Redacted())
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultHTTPClient is what a Source uses when Config.HTTPClient is nil.
var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// noRedirects returns a copy of hc that never follows redirects.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = defaultHTTPClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// discard is the logger used when Config.Logger is nil.
var discard = slog.New(slog.DiscardHandler)
