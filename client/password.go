package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// LoginPassword logs the account in with the resource owner password
// credentials grant (RFC 6749 §4.3): the user's username and password are
// sent to the token endpoint with the login scopes. The grant is legacy
// (OAuth 2.0 Security BCP §2.4 forbids it); use it only with providers
// that still offer it and only when no browser-based flow is possible.
//
// The ID token, if any, is verified (no nonce is involved) and the tokens
// are saved with AuthTime set to now. With Config.DPoP the tokens are
// bound to a fresh DPoP key, as with [Account.Login]. The password is never logged nor
// kept, and is removed from error messages. Wrong credentials give a
// *tokensource.Error with Code "invalid_grant"; a provider without the
// grant answers "unsupported_grant_type".
func (a *Account) LoginPassword(ctx context.Context, username, password string) error {
	if username == "" || password == "" {
		return errors.New("client: LoginPassword: empty username or password")
	}
	release, err := a.beginLogin()
	if err != nil {
		return err
	}
	defer release()
	form := url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {password},
		"scope":      {strings.Join(a.c.oauth.Scopes, " ")},
	}
	key, err := a.c.newDPoPKey()
	if err != nil {
		return err
	}
	t, err := a.c.exchange(ctx, form, key)
	if err != nil {
		return fmt.Errorf("client: password login: %w", err)
	}
	return a.finishLogin(ctx, "password", t, "", false)
}
