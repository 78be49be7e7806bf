package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Client is a configured OAuth 2.0 / OpenID Connect client of one provider.
// It hands out an [Account] per account key; every account shares the
// Client's store, HTTP client and ID token verifier.
//
// A Client is safe for concurrent use. Close it when done: Close stops
// every account's background refresh.
type Client struct {
	cfg      Config // as given to New, copied; never modified
	ep       Endpoints
	oauth    oauth2.Config                // endpoints, credentials and login scopes; never modified
	auth     *tokensource.ClientAssertion // Config.ClientAuth with its audience set; nil: none; never modified
	hc       *http.Client                 // for every request (tokensource copies it for token requests)
	post     *http.Client                 // hc that never follows redirects: for requests with credentials
	get      *http.Client                 // hc that follows only same-origin redirects: discovery and JWKS
	store    storage.Store                // Config.Store, or a new Memory
	tsStore  storage.Store                // store wrapped so that deleted refresh tokens are booked dead
	book     *deadBook
	log      *slog.Logger
	ids      *idVerifier // nil without an Issuer
	issParam bool        // discovery says the iss authorization response parameter is sent (RFC 9207)
	noS256   bool        // discovery lists code challenge methods without S256

	cache  *discoveryCache    // the discovery document and JWKS kept in store
	bgCtx  context.Context    // done when Close is called: ends background work
	bgStop context.CancelFunc // cancels bgCtx
	bg     sync.WaitGroup     // background refreshes of the discovery document

	indexMu sync.Mutex // serialises updates of the index of accounts

	mu       sync.Mutex          // guards the fields below
	accounts map[string]*Account // by key
	closed   bool
}

// New returns a Client for cfg. With cfg.Issuer it reads the provider's
// discovery document, and the JWK set that signs its ID tokens, from the
// cache it keeps in Config.Store (under a key starting with
// [ReservedKeyPrefix], encrypted like every record): then New makes no
// request, and an app whose access token is still valid works with the
// provider unreachable. A cached document older than its Cache-Control
// max-age ([DefaultDiscoveryMaxAge] without one) is used and fetched again
// in the background, for the next start; one that fails the checks of a
// fetched document (issuer, https endpoints) is deleted and never used.
// Without a usable cache New fetches the document (ctx bounds the
// request; at most 1 MiB is read, and only same-origin redirects are
// followed) and caches it; the JWK set is cached when first fetched.
// Without an Issuer New does no I/O.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, store: cfg.Store, log: cfg.Logger, accounts: make(map[string]*Account)}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	post := *c.hc
	post.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.post = &post
	get := *c.hc
	get.CheckRedirect = sameOriginRedirect(c.hc.CheckRedirect)
	c.get = &get
	if c.store == nil {
		c.store = storage.NewMemory()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.book = &deadBook{store: c.store, log: c.log}
	c.tsStore = wrapStore(c.store, c.book)
	c.ep = cfg.Endpoints
	c.bgCtx, c.bgStop = context.WithCancel(context.Background())
	if cfg.Issuer != "" {
		c.cache = &discoveryCache{store: c.store, key: discoveryPrefix + cfg.Issuer, log: c.log}
		if !c.discoverCached(ctx) {
			if err := c.discover(ctx); err != nil {
				c.bgStop()
				return nil, err
			}
		}
	}
	if c.ep.Token == "" {
		c.bgStop()
		return nil, errors.New("client: the provider has no token endpoint")
	}
	if cfg.ClientAuth != nil {
		ca := *cfg.ClientAuth
		if ca.Audience == "" {
			ca.Audience = cfg.Issuer
		}
		if ca.Audience == "" {
			ca.Audience = c.ep.Token
		}
		c.auth = &ca
	}
	c.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: c.ep.Auth, TokenURL: c.ep.Token, DeviceAuthURL: c.ep.DeviceAuth, AuthStyle: cfg.AuthStyle},
		Scopes:       cfg.loginScopes(),
	}
	return c, nil
}

// now returns the current time by Config.Now.
func (c *Client) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

// Endpoints returns the endpoints the Client uses: those discovered,
// overridden by Config.Endpoints.
func (c *Client) Endpoints() Endpoints { return c.ep }

// DefaultKey returns the account key that Account("") uses: the client ID
// and the issuer (or, without one, the token endpoint URL), as
// "client-id@issuer".
func (c *Client) DefaultKey() string {
	where := c.cfg.Issuer
	if where == "" {
		where = redactURL(c.ep.Token)
	}
	return c.cfg.ClientID + "@" + where
}

// Account returns the account stored under key ("": DefaultKey). Every call
// with the same key returns the same *Account, whose tokens are kept fresh
// by one [tokensource.Source]. Account does no I/O: an account with no
// stored tokens must log in before its TokenSource yields a token.
//
// Different keys are different accounts, e.g. several users of one app.
// Keys starting with [ReservedKeyPrefix] are refused.
// A key used by [Client.ServiceAccount] cannot also be a user account.
func (c *Client) Account(key string) (*Account, error) {
	return c.account(key, false)
}

// ServiceAccount returns the account, stored under key ("": DefaultKey),
// that obtains tokens with the client credentials grant (RFC 6749 §4.4)
// and Config.Scopes: the client acting with its own identity. It needs a
// client secret. It never logs in: its TokenSource requests a token when
// it needs one, with the same caching and single refresh as a user
// account. Every call with the same key returns the same *Account.
func (c *Client) ServiceAccount(key string) (*Account, error) {
	if c.cfg.ClientSecret == "" && c.cfg.ClientAuth == nil {
		return nil, errors.New("client: a service account needs Config.ClientSecret or Config.ClientAuth")
	}
	return c.account(key, true)
}

func (c *Client) account(key string, service bool) (*Account, error) {
	if key == "" {
		key = c.DefaultKey()
	}
	if isReserved(key) {
		return nil, fmt.Errorf("client: account keys starting with %q are reserved", ReservedKeyPrefix)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if a, ok := c.accounts[key]; ok {
		if a.service != service {
			return nil, fmt.Errorf("client: account %q is already used as a %s", key, a.kind())
		}
		return a, nil
	}
	a, err := newAccount(c, key, service)
	if err != nil {
		return nil, err
	}
	c.accounts[key] = a
	return a, nil
}

// Close stops every account's background refresh and waits for refreshes
// in progress to end (see [tokensource.Source.Close]). Afterwards Account
// and ServiceAccount fail with [ErrClosed]. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.bgStop()
	accounts := make([]*Account, 0, len(c.accounts))
	for _, a := range c.accounts {
		accounts = append(accounts, a)
	}
	c.mu.Unlock()
	c.bg.Wait()
	var errs []error
	for _, a := range accounts {
		errs = append(errs, a.src.Close())
	}
	return errors.Join(errs...)
}

// String describes c by its issuer and client ID.
func (c *Client) String() string { return "client.Client{" + c.cfg.String() + "}" }

// Format implements fmt.Formatter: every verb prints String.
func (c *Client) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// LogValue implements slog.LogValuer without secrets.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }
