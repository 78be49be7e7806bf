package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// UserInfo is the answer of the OpenID Connect userinfo endpoint (OpenID
// Connect Core §5.3): the user's profile claims.
type UserInfo struct {
	Subject       string // sub; equal to the ID token's
	Name          string
	Email         string
	EmailVerified bool

	claims func() []byte // the whole response; a func, so that fmt never dumps it
}

// Claims unmarshals every claim of the response into v.
func (u *UserInfo) Claims(v any) error {
	if u.claims == nil {
		return errors.New("client: UserInfo has no claims")
	}
	return json.Unmarshal(u.claims(), v)
}

// String describes u by its subject. It has a value receiver, so that a
// UserInfo value prints the same.
func (u UserInfo) String() string { return fmt.Sprintf("client.UserInfo{Subject:%q}", u.Subject) }

// UserInfo requests the user's claims from the userinfo endpoint with a
// fresh access token (through [Account.HTTPClient], so a rejected token is
// refreshed once; DPoP-bound tokens are sent as "Authorization: DPoP" with
// a proof by the account's key, with ath, and a use_dpop_nonce challenge
// is answered once with the nonce). When the account has an ID token, the response's sub
// must equal the ID token's ([ErrSubjectMismatch] otherwise, OpenID
// Connect Core §5.3.2: the response is then not used). Only JSON responses
// are supported, not signed or encrypted ones.
//
// It fails with [tokensource.ErrLoginRequired] when the account must log
// in, with an *EndpointError when the endpoint refuses (e.g. 401 or 403
// for a token without the openid scope), and with [ErrUnsupported] when
// the provider has no userinfo endpoint.
func (a *Account) UserInfo(ctx context.Context) (*UserInfo, error) {
	if a.c.ep.UserInfo == "" {
		return nil, fmt.Errorf("%w: the provider has no userinfo endpoint", ErrUnsupported)
	}
	body, err := a.getUserInfo(ctx)
	if err != nil {
		return nil, err
	}
	var u struct {
		Subject       string `json:"sub"`
		Name          string `json:"name"`
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"` // some providers send "true"
	}
	if err := checkClaimNames(body, userInfoClaims); err != nil {
		return nil, &EndpointError{Endpoint: "userinfo", StatusCode: http.StatusOK, Err: fmt.Errorf("%w: %w", tokensource.ErrMalformedResponse, err)}
	}
	if err := json.Unmarshal(body, &u); err != nil || u.Subject == "" {
		return nil, &EndpointError{Endpoint: "userinfo", StatusCode: http.StatusOK, Err: fmt.Errorf("%w: not a JSON object with a sub", tokensource.ErrMalformedResponse)}
	}
	info := &UserInfo{Subject: u.Subject, Name: u.Name, Email: u.Email, claims: func() []byte { return body }}
	info.EmailVerified = u.EmailVerified == true || u.EmailVerified == "true"
	if a.c.ids == nil {
		return info, nil
	}
	rec, err := a.src.Current(ctx)
	if err != nil || rec.IDToken == "" {
		return info, nil // no ID token to compare with
	}
	claims, err := unverifiedClaims(rec.IDToken) // verified when it was stored
	if err != nil {
		return nil, err
	}
	if claims.Subject != info.Subject {
		return nil, kindf(ErrSubjectMismatch, "the userinfo response's sub is not the ID token's")
	}
	return info, nil
}

// getUserInfo GETs the userinfo endpoint with the account's token and
// returns the JSON body. An error answer is scrubbed of the tokens and of
// the DPoP proofs sent, for servers that echo the request.
func (a *Account) getUserInfo(ctx context.Context) ([]byte, error) {
	ctx, sink := withProofSink(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.c.ep.UserInfo, nil)
	if err != nil {
		return nil, fmt.Errorf("client: userinfo request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.userinfo.Do(req)
	if err != nil {
		if errors.Is(err, tokensource.ErrLoginRequired) {
			return nil, err
		}
		return nil, &EndpointError{Endpoint: "userinfo", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody))
	if err != nil {
		return nil, &EndpointError{Endpoint: "userinfo", StatusCode: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, endpointError("userinfo", resp.StatusCode, body, append(a.tokens(ctx), sink.sent()...)...)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, &EndpointError{Endpoint: "userinfo", StatusCode: resp.StatusCode, Err: fmt.Errorf("%w: Content-Type %q is not application/json", tokensource.ErrMalformedResponse, oauthwire.Sanitize(mt, 64))}
	}
	return body, nil
}

// tokens returns the account's current tokens, to keep them out of errors
// of servers that echo the request (its Authorization header).
func (a *Account) tokens(ctx context.Context) []string {
	rec, err := a.src.Current(ctx)
	if err != nil {
		return nil
	}
	return []string{rec.AccessToken, rec.RefreshToken, rec.IDToken}
}
