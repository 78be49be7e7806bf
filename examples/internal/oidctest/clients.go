package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Fixed credentials of every provider. They are test fixtures, not secrets.
const (
	// DefaultUsername is the user every provider has. It is also the user's subject (sub):
	// the example OP requires a user's ID to equal its username.
	DefaultUsername = "test-user"
	// DefaultPassword is DefaultUsername's password.
	DefaultPassword = "test-password"

	nativeClientID    = "native"
	nativeRedirectURI = "http://127.0.0.1/callback"
	deviceClientID    = "device"
	// The example storage's built-in client_credentials client.
	serviceClientID     = "sid1"
	serviceClientSecret = "verysecret"
)

var deviceGrants = []oidc.GrantType{oidc.GrantTypeDeviceCode, oidc.GrantTypeRefreshToken}

// NativeClient returns the ID of the provider's native public client: no secret, PKCE (S256)
// required, grants authorization_code and refresh_token, redirect URI
// http://127.0.0.1/callback on any port (RFC 8252 §7.3). zitadel matches a native client's
// loopback redirect by path and query only, so http://localhost:<port>/callback and
// http://[::1]:<port>/callback are accepted too.
func (p *Provider) NativeClient() string { return nativeClientID }

// NativeRedirectURI returns the native client's registered redirect URI, without a port.
func (p *Provider) NativeRedirectURI() string { return nativeRedirectURI }

// DeviceClient returns the ID of the provider's public device-flow client (RFC 8628): no
// secret, grants device_code and refresh_token, so offline_access yields a refresh token.
func (p *Provider) DeviceClient() string { return deviceClientID }

// ServiceClient returns the ID and secret of the example storage's client_credentials
// client. Its tokens' subject is the client ID; it has no user, so userinfo fails for them.
func (p *Provider) ServiceClient() (id, secret string) { return serviceClientID, serviceClientSecret }

// WebClient registers a new confidential web client with the given redirect URIs (http is
// allowed) and returns its ID and a random secret. The client may authenticate with
// client_secret_basic or client_secret_post and has the authorization_code, refresh_token
// and token-exchange grants; PKCE is optional for it.
func (p *Provider) WebClient(redirectURI string, more ...string) (id, secret string) {
	id, secret = "web-"+strings.ToLower(rand.Text()[:8]), rand.Text()
	p.store.register(&client{
		Client: storage.WebClient(id, secret, append([]string{redirectURI}, more...)...),
		secret: secret,
		idTTL:  p.opts.IDTokenLifetime,
	})
	return id, secret
}

// client adapts an example client: the wrapper keeps the secret (the example's field is
// unexported) and may replace the grant types and the ID token lifetime.
type client struct {
	*storage.Client
	secret string
	grants []oidc.GrantType // nil: the example client's
	idTTL  time.Duration
}

var _ op.Client = (*client)(nil)

// GrantTypes returns the grants the client may use.
func (c *client) GrantTypes() []oidc.GrantType {
	if c.grants != nil {
		return c.grants
	}
	return c.Client.GrantTypes()
}

// IDTokenLifetime returns the configured ID token lifetime.
func (c *client) IDTokenLifetime() time.Duration { return c.idTTL }

func (s *store) register(c *client) {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	s.clients[c.GetID()] = c
}

func (s *store) client(id string) (*client, bool) {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	c, ok := s.clients[id]
	return c, ok
}

// GetClientByClientID returns a registered client.
func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.client(id)
	if !ok {
		return nil, errors.New("client not found")
	}
	return c, nil
}

// AuthorizeClientIDSecret checks a client's secret.
func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.client(id)
	if !ok {
		return errors.New("client not found")
	}
	if subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) != 1 {
		return errors.New("invalid client secret")
	}
	return nil
}

// User is a user to add with [Provider.AddUser].
type User struct {
	Username   string // also the subject (sub); required
	Password   string // required
	GivenName  string
	FamilyName string
	Email      string // reported as verified
}

// AddUser adds a user, or replaces the user with the same username. Tokens already issued
// to that username stay valid.
func (p *Provider) AddUser(u User) error {
	if u.Username == "" || u.Password == "" {
		return errors.New("oidctest: user needs a username and a password")
	}
	p.store.users.add(u)
	return nil
}

// RevokeUser revokes, server-side, every refresh and access token issued to username at any
// client, as an administrator or a withdrawn consent would; using one of its refresh tokens
// then fails with invalid_grant. It returns the number of refresh tokens revoked.
func (p *Provider) RevokeUser(username string) int {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return p.store.revokeWhere(context.Background(), func(user, _ string) bool { return user == username })
}

// ExpireAccessTokens makes every access token issued so far expired, so that tests need not
// wait for AccessTokenLifetime. Refresh tokens are not affected.
func (p *Provider) ExpireAccessTokens() {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, at := range p.store.access {
		at.expires = past
	}
}

// userStore implements the example storage's UserStore. Users are never modified once
// added, only replaced, so the pointers it returns may be read without locking.
type userStore struct {
	mu    sync.RWMutex
	users map[string]*storage.User // by username, which is also the ID; guarded by mu
}

func newUserStore() *userStore {
	return &userStore{users: make(map[string]*storage.User)}
}

func (s *userStore) add(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Username] = &storage.User{
		ID:            u.Username,
		Username:      u.Username,
		Password:      u.Password,
		FirstName:     u.GivenName,
		LastName:      u.FamilyName,
		Email:         u.Email,
		EmailVerified: u.Email != "",
	}
}

// GetUserByID returns the user whose ID (username) is id, or nil.
func (s *userStore) GetUserByID(id string) *storage.User { return s.GetUserByUsername(id) }

// GetUserByUsername returns the user with the given username, or nil.
func (s *userStore) GetUserByUsername(username string) *storage.User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[username]
}

// ExampleClientID returns the ID the example storage registers its JWT-profile keys under.
func (s *userStore) ExampleClientID() string { return storage.ServiceUserID }

// check reports whether username exists and has the given password.
func (s *userStore) check(username, password string) bool {
	u := s.GetUserByUsername(username)
	return u != nil && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1
}
