package oidctest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// expiresInPad is added to the expiry the OP turns into expires_in, which it truncates to
// whole seconds: with it, expires_in is the lifetime rounded up instead of one second less.
const expiresInPad = time.Second - time.Millisecond

var (
	errAccessTokenInvalid = errors.New("token is invalid, expired or revoked")
	errRefreshExpired     = errors.New("refresh token expired")
	errRefreshReused      = errors.New("refresh token was already rotated")
	errRefreshUnknown     = errors.New("refresh token unknown or revoked")
)

// store wraps the example OP's in-memory storage. It keeps its own books on every token the
// storage issues, so that it can apply the configured lifetimes and reuse policy, and it
// overrides the storage methods that hand out shared pointers or read maps without locking,
// which the race detector would otherwise flag.
type store struct {
	*storage.Storage
	users *userStore
	opts  *Options // read only

	clientsMu sync.RWMutex
	clients   map[string]*client // guarded by clientsMu

	// mu guards the maps below. It is also held around every call that rotates, reads or
	// revokes refresh tokens in Storage, so that the example's RefreshToken structs, which
	// it mutates in place, are only touched by one goroutine at a time.
	mu      sync.Mutex
	access  map[string]*accessToken  // by token ID
	live    map[string]*refreshToken // by token value
	rotated map[string]*rotation     // rotated-away refresh tokens by value

	// devMu guards the *op.DeviceAuthorizationState values Storage shares with callers.
	devMu sync.Mutex
}

type accessToken struct {
	user, client string
	scopes       []string
	expires      time.Time
}

type refreshToken struct {
	user, client string
	family       string // the first refresh token of the login
	expires      time.Time
	accessID     string // the access token issued with it
}

type rotation struct {
	family string
	at     time.Time
	req    storage.RefreshToken // what the token stood for, for reuse within the grace period
}

// CreateAccessToken issues an access token without a refresh token.
func (s *store) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	req = withClientID(req)
	id, _, err := s.Storage.CreateAccessToken(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return id, s.trackAccess(id, req, time.Now()), nil
}

// CreateAccessAndRefreshTokens issues an access and a refresh token, rotating current when
// it is not empty.
func (s *store) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if st, ok := req.(*op.DeviceAuthorizationState); ok {
		req = deviceAsRefreshRequest(st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	family, innerCurrent := "", current
	if current != "" {
		if rt, ok := s.live[current]; ok {
			family = rt.family
		} else if rot, ok := s.rotated[current]; ok && s.inGrace(rot, now) {
			family, innerCurrent = rot.family, "" // a new token in the same family
		} else {
			// Another request rotated or revoked it since it was validated.
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token is no longer valid")
		}
	}
	accessID, next, _, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, innerCurrent)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if family == "" {
		family = next
	}
	if innerCurrent != "" {
		old := s.live[current]
		delete(s.live, current)
		delete(s.access, old.accessID) // Storage revoked it too
		rot := &rotation{family: family, at: now}
		if r, ok := req.(*storage.RefreshTokenRequest); ok {
			rot.req = cloneRefreshToken(r.RefreshToken)
		}
		s.rotated[current] = rot
	}
	s.live[next] = &refreshToken{
		user:     req.GetSubject(),
		client:   clientIDOf(req),
		family:   family,
		expires:  now.Add(s.opts.RefreshTokenLifetime),
		accessID: accessID,
	}
	return accessID, next, s.trackAccess(accessID, req, now), nil
}

// trackAccess records an access token and returns the expiry to report. s.mu must be held.
func (s *store) trackAccess(id string, req op.TokenRequest, now time.Time) time.Time {
	exp := now.Add(s.opts.AccessTokenLifetime)
	s.access[id] = &accessToken{
		user:    req.GetSubject(),
		client:  clientIDOf(req),
		scopes:  slices.Clone(req.GetScopes()),
		expires: exp,
	}
	return exp.Add(expiresInPad)
}

func (s *store) inGrace(rot *rotation, now time.Time) bool {
	return s.opts.RefreshReuseInterval > 0 && rot.req.ID != "" && now.Sub(rot.at) <= s.opts.RefreshReuseInterval
}

// TokenRequestByRefreshToken validates a refresh token and returns a private copy of what
// it stands for.
func (s *store) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if rt, ok := s.live[token]; ok {
		if !now.Before(rt.expires) {
			s.revokeRefresh(ctx, token)
			return nil, errRefreshExpired
		}
		req, err := s.Storage.TokenRequestByRefreshToken(ctx, token)
		if err != nil {
			return nil, err
		}
		if r, ok := req.(*storage.RefreshTokenRequest); ok {
			c := cloneRefreshToken(r.RefreshToken)
			return &storage.RefreshTokenRequest{RefreshToken: &c}, nil
		}
		return req, nil
	}
	rot, ok := s.rotated[token]
	if !ok {
		return nil, errRefreshUnknown
	}
	if s.inGrace(rot, now) {
		c := cloneRefreshToken(&rot.req)
		return &storage.RefreshTokenRequest{RefreshToken: &c}, nil
	}
	if s.opts.RefreshReuse == ReuseRevokeFamily {
		for t, rt := range s.live {
			if rt.family == rot.family {
				s.revokeRefresh(ctx, t)
			}
		}
	}
	return nil, errRefreshReused
}

// revokeRefresh revokes a live refresh token and its access token. s.mu must be held.
func (s *store) revokeRefresh(ctx context.Context, token string) {
	rt := s.live[token]
	_ = s.Storage.RevokeToken(ctx, token, rt.user, rt.client) // only fails for a client mismatch
	delete(s.live, token)
	delete(s.access, rt.accessID)
}

// GetRefreshTokenInfo replaces the example's version, which reads its map without locking.
func (s *store) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.live[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.user, token, nil
}

// RevokeToken revokes an access token (by ID) or a refresh token (RFC 7009).
func (s *store) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Storage.RevokeToken(ctx, tokenOrID, userID, clientID); err != nil {
		return err
	}
	if rt, ok := s.live[tokenOrID]; ok {
		delete(s.live, tokenOrID)
		delete(s.access, rt.accessID)
	}
	delete(s.access, tokenOrID)
	return nil
}

// TerminateSession revokes the tokens of a user at a client (end_session endpoint).
func (s *store) TerminateSession(ctx context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Storage.TerminateSession(ctx, userID, clientID); err != nil {
		return err
	}
	s.revokeWhere(ctx, func(user, client string) bool { return user == userID && client == clientID })
	return nil
}

// revokeWhere revokes every token whose user and client match. s.mu must be held.
func (s *store) revokeWhere(ctx context.Context, match func(user, client string) bool) int {
	n := 0
	for t, rt := range s.live {
		if match(rt.user, rt.client) {
			s.revokeRefresh(ctx, t)
			n++
		}
	}
	for id, at := range s.access {
		if match(at.user, at.client) {
			delete(s.access, id)
		}
	}
	return n
}

// liveAccess returns the access token with the given ID if it is neither expired nor
// revoked.
func (s *store) liveAccess(id string) (accessToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[id]
	if !ok || !time.Now().Before(at.expires) {
		return accessToken{}, false
	}
	return *at, true
}

// SetUserinfoFromToken fills the userinfo response for a live access token. It replaces the
// example's check, which uses its own hard-coded lifetime.
func (s *store) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	at, ok := s.liveAccess(tokenID)
	if !ok {
		return errAccessTokenInvalid
	}
	return s.Storage.SetUserinfoFromRequest(ctx, info, &storage.AuthRequest{UserID: at.user, ApplicationID: at.client}, at.scopes)
}

// SetIntrospectionFromToken answers introspection (RFC 7662) for a live access token.
func (s *store) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if _, ok := s.liveAccess(tokenID); !ok {
		return errAccessTokenInvalid
	}
	return s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, clientID)
}

// GetDeviceAuthorizatonState returns a copy of the device authorization's state: the
// example shares one pointer between the polling device and the approving user.
func (s *store) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	st, err := s.Storage.GetDeviceAuthorizatonState(ctx, clientID, deviceCode)
	if err != nil {
		return nil, err
	}
	return cloneDeviceState(st), nil
}

// GetDeviceAuthorizationByUserCode returns a copy of the state of the device authorization
// with the given user code.
func (s *store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*op.DeviceAuthorizationState, error) {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	st, err := s.Storage.GetDeviceAuthorizationByUserCode(ctx, userCode)
	if err != nil {
		return nil, err
	}
	return cloneDeviceState(st), nil
}

// CompleteDeviceAuthorization marks the device authorization approved by subject and, unlike
// the example, records the authentication time and method for the ID token.
func (s *store) CompleteDeviceAuthorization(ctx context.Context, userCode, subject string) error {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	if err := s.Storage.CompleteDeviceAuthorization(ctx, userCode, subject); err != nil {
		return err
	}
	st, err := s.Storage.GetDeviceAuthorizationByUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	st.AuthTime, st.AMR = time.Now(), []string{"pwd"}
	return nil
}

// DenyDeviceAuthorization marks the device authorization denied.
func (s *store) DenyDeviceAuthorization(ctx context.Context, userCode string) error {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	if _, err := s.Storage.GetDeviceAuthorizationByUserCode(ctx, userCode); err != nil {
		return err // the example would dereference nil
	}
	return s.Storage.DenyDeviceAuthorization(ctx, userCode)
}

func cloneDeviceState(st *op.DeviceAuthorizationState) *op.DeviceAuthorizationState {
	c := *st
	c.Audience = slices.Clone(st.Audience)
	c.Scopes = slices.Clone(st.Scopes)
	c.AMR = slices.Clone(st.AMR)
	return &c
}

func cloneRefreshToken(rt *storage.RefreshToken) storage.RefreshToken {
	c := *rt
	c.AMR = slices.Clone(rt.AMR)
	c.Audience = slices.Clone(rt.Audience)
	c.Scopes = slices.Clone(rt.Scopes)
	return c
}

// clientIDOf returns the client a token request is for.
func clientIDOf(req op.TokenRequest) string {
	switch r := req.(type) {
	case interface{ GetClientID() string }:
		return r.GetClientID()
	case *oidc.JWTTokenRequest: // client_credentials: the audience is the client
		if len(r.Audience) == 1 {
			return r.Audience[0]
		}
	}
	return ""
}

// withClientID turns requests the example storage does not know how to attribute to a
// client (device flow, client_credentials) into an AuthRequest that carries the client ID,
// so that the token can later be revoked by that client.
func withClientID(req op.TokenRequest) op.TokenRequest {
	switch req.(type) {
	case *storage.AuthRequest, op.TokenExchangeRequest:
		return req
	}
	return &storage.AuthRequest{
		ApplicationID: clientIDOf(req),
		UserID:        req.GetSubject(),
		Scopes:        req.GetScopes(),
	}
}

// deviceAsRefreshRequest describes an approved device authorization the way the example
// storage expects when it creates a refresh token; given the state itself it would record
// no client, and the refresh token could never be used.
func deviceAsRefreshRequest(st *op.DeviceAuthorizationState) *storage.RefreshTokenRequest {
	return &storage.RefreshTokenRequest{RefreshToken: &storage.RefreshToken{
		ApplicationID: st.ClientID,
		UserID:        st.Subject,
		Audience:      st.GetAudience(),
		Scopes:        st.Scopes,
		AuthTime:      st.AuthTime,
		AMR:           st.AMR,
	}}
}
