package oidctest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Defaults applied by [Start] to zero [Options] fields.
const (
	DefaultAccessTokenLifetime  = 5 * time.Minute // the example storage's value
	DefaultRefreshTokenLifetime = 5 * time.Hour   // the example storage's value, also its maximum
	DefaultIDTokenLifetime      = time.Hour       // the example client's value
	DefaultDevicePollInterval   = time.Second     // the example OP advertises 5 s
)

// ReusePolicy says what the provider does when a refresh token that was already rotated is
// presented again after [Options.RefreshReuseInterval].
type ReusePolicy int

const (
	// ReuseReject answers invalid_grant; the newer tokens of the family stay valid. This is
	// what the example storage does.
	ReuseReject ReusePolicy = iota
	// ReuseRevokeFamily answers invalid_grant and revokes every live refresh token descended
	// from the same login, and their access tokens, as providers with theft detection do.
	ReuseRevokeFamily
)

// Options configures [Start]. Zero values give the example OP's defaults (5 min access
// tokens, 5 h refresh tokens, 1 h ID tokens, rotated refresh tokens rejected at once)
// except for a 1 s device poll interval.
type Options struct {
	// AccessTokenLifetime is how long an access token is valid. Zero means
	// DefaultAccessTokenLifetime. The token response's expires_in is the lifetime rounded up
	// to whole seconds; the provider enforces the exact lifetime (userinfo, introspection and
	// the resource endpoint reject the token afterwards). Introspection additionally keeps
	// the example storage's own 5 min limit.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is how long a refresh token is valid after it was issued. Zero
	// means DefaultRefreshTokenLifetime, which is also the maximum the example storage allows;
	// Start rejects more.
	RefreshTokenLifetime time.Duration
	// IDTokenLifetime is the lifetime of ID tokens. Zero means DefaultIDTokenLifetime.
	IDTokenLifetime time.Duration
	// DevicePollInterval is the polling interval the device authorization endpoint
	// advertises, rounded up to whole seconds. Zero means DefaultDevicePollInterval. The OP
	// does not enforce it (it never answers slow_down for polling too fast).
	DevicePollInterval time.Duration
	// RefreshReuse is what happens when a rotated refresh token is used again.
	RefreshReuse ReusePolicy
	// RefreshReuseInterval is a grace period after rotation during which the old refresh
	// token still works: using it returns new tokens (a new refresh token in the same family)
	// and leaves the tokens issued meanwhile valid. Zero means no grace, as in the example.
	RefreshReuseInterval time.Duration
	// PasswordGrant enables an emulation of the resource owner password grant (RFC 6749
	// §4.3) on the token endpoint for every registered client. zitadel does not implement
	// this grant; the wrapper authenticates the client and the user and then issues the
	// tokens through the OP's own token code. Off by default, so the OP answers
	// unsupported_grant_type like the real one.
	PasswordGrant bool
	// Consent puts a consent page between the login form and the redirect to the app, as
	// providers show before a client gets offline access: Allow continues the authorization,
	// Deny sends error=access_denied with the request's state to the redirect URI. zitadel's
	// example OP has none. [Provider.Browser] and [Provider.Login] press Allow. Off by
	// default.
	Consent bool
	// Logger receives the wrapper's own log lines (no secrets). Nil discards them.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"AccessTokenLifetime", o.AccessTokenLifetime},
		{"RefreshTokenLifetime", o.RefreshTokenLifetime},
		{"IDTokenLifetime", o.IDTokenLifetime},
		{"DevicePollInterval", o.DevicePollInterval},
		{"RefreshReuseInterval", o.RefreshReuseInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("oidctest: Options.%s is negative", d.name)
		}
	}
	if o.RefreshTokenLifetime > DefaultRefreshTokenLifetime {
		return fmt.Errorf("oidctest: Options.RefreshTokenLifetime exceeds the example storage's %v", DefaultRefreshTokenLifetime)
	}
	if o.RefreshReuse != ReuseReject && o.RefreshReuse != ReuseRevokeFamily {
		return fmt.Errorf("oidctest: unknown Options.RefreshReuse %d", o.RefreshReuse)
	}
	return nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Provider is a running OpenID Provider. Its methods are safe for concurrent use. Close it
// when done.
type Provider struct {
	issuer    string
	endpoints Endpoints
	opts      Options // defaults applied
	log       *slog.Logger
	store     *store
	crypto    op.Crypto
	op        http.Handler // zitadel's router (OP endpoints, login and device pages)
	srv       *http.Server
	served    chan struct{} // closed when srv.Serve has returned
	transport *http.Transport

	mu       sync.Mutex      // guards the fields below
	counts   map[string]int  // token-endpoint requests by grant_type
	failures []TokenError    // injected failures, next first
	consents map[string]bool // auth request IDs the user allowed (Options.Consent)

	closeOnce sync.Once
	closeErr  error
}

// Start starts a provider on 127.0.0.1 at an ephemeral port and returns once it accepts
// connections. Its issuer is http://127.0.0.1:<port>. It has the user [DefaultUsername] and
// the clients returned by [Provider.NativeClient], [Provider.DeviceClient] and
// [Provider.ServiceClient]; web clients are added with [Provider.WebClient].
func Start(opts Options) (*Provider, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.AccessTokenLifetime = orDefault(opts.AccessTokenLifetime, DefaultAccessTokenLifetime)
	opts.RefreshTokenLifetime = orDefault(opts.RefreshTokenLifetime, DefaultRefreshTokenLifetime)
	opts.IDTokenLifetime = orDefault(opts.IDTokenLifetime, DefaultIDTokenLifetime)
	opts.DevicePollInterval = orDefault(opts.DevicePollInterval, DefaultDevicePollInterval)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("oidctest: token encryption key: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oidctest: listen: %w", err)
	}
	p := &Provider{
		issuer:    "http://" + ln.Addr().String(),
		opts:      opts,
		log:       logger,
		crypto:    op.NewAES256GCMCrypto(key, "oidctest"),
		served:    make(chan struct{}),
		transport: &http.Transport{DisableKeepAlives: true}, // no proxy, no idle connections
		counts:    make(map[string]int),
		consents:  make(map[string]bool),
	}
	p.store = newStore(&p.opts)
	router, eps := setupOP(p.issuer, p.store, p.crypto)
	p.op = router
	p.endpoints = newEndpoints(p.issuer, eps)
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.route),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(ln) // always ErrServerClosed or a listener error after Close
	}()
	logger.Info("oidctest: provider started", "issuer", p.issuer)
	return p, nil
}

// startMu serialises setupOP. zitadel's op.NewProvider points each provider at the package
// variable op.DefaultEndpoints, and exampleop's options write into it, so two providers
// built concurrently, or one built while another serves requests, race. setupOP gives each
// provider its own copy and restores the variable before unlocking; no other code in
// zitadel reads the variable while serving.
var startMu sync.Mutex

// setupOP builds zitadel's example OP around st and returns its router and the endpoints it
// serves.
func setupOP(issuer string, st exampleop.Storage, crypto op.Crypto) (http.Handler, *op.Endpoints) {
	startMu.Lock()
	defer startMu.Unlock()
	shared := op.DefaultEndpoints
	own := *shared
	op.DefaultEndpoints = &own
	defer func() { op.DefaultEndpoints = shared }()
	// A nil logger keeps SetupServer from calling slog.SetDefault. SetupServer only fails
	// (with log.Fatal) for an invalid issuer, which ours never is.
	router := exampleop.SetupServer(issuer, st, nil, false, op.WithCrypto(crypto))
	return router, &own
}

// Issuer returns the provider's issuer URL, http://127.0.0.1:<port>, without a trailing
// slash. It equals the issuer in the discovery document and in ID tokens.
func (p *Provider) Issuer() string { return p.issuer }

// Endpoints returns the provider's endpoint URLs.
func (p *Provider) Endpoints() Endpoints { return p.endpoints }

// Close stops the provider: it closes the listener and all connections, waits for the
// serving goroutine to return and releases the browser connections. It returns the same
// result when called again.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := p.srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, p.srv.Close())
		}
		<-p.served
		p.transport.CloseIdleConnections()
		if err != nil {
			p.closeErr = fmt.Errorf("oidctest: close: %w", err)
		}
		p.log.Info("oidctest: provider closed", "issuer", p.issuer)
	})
	return p.closeErr
}

// route sends the few paths the wrapper adds to or intercepts in front of zitadel's router.
func (p *Provider) route(w http.ResponseWriter, r *http.Request) {
	if p.consentCallback(r) {
		p.serveConsent(w, r)
		return
	}
	switch r.URL.Path {
	case p.endpoints.tokenPath:
		p.serveToken(w, r)
	case p.endpoints.devicePath:
		p.serveDeviceAuthorization(w, r)
	case resourcePath:
		p.serveResource(w, r)
	default:
		p.op.ServeHTTP(w, r)
	}
}

// newStore builds the wrapped example storage with the default user and the clients every
// provider has.
func newStore(opts *Options) *store {
	users := newUserStore()
	users.add(User{Username: DefaultUsername, Password: DefaultPassword, GivenName: "Test", FamilyName: "User", Email: DefaultUsername + "@example.com"})
	native := storage.NativeClient(nativeClientID, nativeRedirectURI)
	device := storage.NativeClient(deviceClientID)
	// The example storage only consults its own client map when storing a device
	// authorization; every other lookup goes through the wrapper's registry.
	inner := storage.NewStorageWithClients(users, map[string]*storage.Client{
		nativeClientID: native,
		deviceClientID: device,
	})
	s := &store{
		Storage: inner,
		users:   users,
		opts:    opts,
		clients: make(map[string]*client),
		access:  make(map[string]*accessToken),
		live:    make(map[string]*refreshToken),
		rotated: make(map[string]*rotation),
	}
	s.register(&client{Client: native, idTTL: opts.IDTokenLifetime})
	s.register(&client{Client: device, idTTL: opts.IDTokenLifetime, grants: deviceGrants})
	return s
}
