package oidctest

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const grantTypePassword = "password"

// servePassword emulates the resource owner password grant (RFC 6749 §4.3), which zitadel
// does not implement: it authenticates the client and the user itself and then has the OP
// create the token response as for an authorization code, so the tokens are the OP's own
// (refresh token with offline_access, ID token, rotation, revocation all apply).
func (p *Provider) servePassword(w http.ResponseWriter, r *http.Request) {
	c, err := p.authenticateClient(r)
	if err != nil {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	username := r.PostForm.Get("username")
	if !p.store.users.check(username, r.PostForm.Get("password")) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "invalid username or password")
		return
	}
	scopes, err := op.ValidateAuthReqScopes(c, strings.Fields(r.PostForm.Get("scope")))
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	req := &storage.AuthRequest{
		ID:            "password-" + rand.Text(),
		CreationDate:  time.Now(),
		ApplicationID: c.GetID(),
		UserID:        username,
		Scopes:        scopes,
		ResponseType:  oidc.ResponseTypeCode,
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	resp, err := op.CreateTokenResponse(ctx, req, c, tokenCreator{p.store, p.crypto}, true, "", "")
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	p.log.Debug("oidctest: password grant", "client_id", c.GetID(), "user", username)
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient authenticates the client of a token request by HTTP Basic or form
// credentials; a public client only names itself.
func (p *Provider) authenticateClient(r *http.Request) (*client, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, errors.New("malformed basic credentials")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := p.store.client(id)
	if !ok {
		return nil, errors.New("unknown client")
	}
	if op.IsConfidentialType(c) || secret != "" {
		if err := p.store.AuthorizeClientIDSecret(r.Context(), id, secret); err != nil {
			return nil, errors.New("invalid client credentials")
		}
	}
	return c, nil
}

// tokenCreator gives op.CreateTokenResponse the provider's storage and token encryption.
type tokenCreator struct {
	storage op.Storage
	crypto  op.Crypto
}

func (t tokenCreator) Storage() op.Storage { return t.storage }
func (t tokenCreator) Crypto() op.Crypto   { return t.crypto }
