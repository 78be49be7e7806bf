package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// Account is one account of a [Client]: a user who logs in, or the client
// itself ([Client.ServiceAccount]). Its tokens live in the Client's store
// under its key and are kept fresh by its [tokensource.Source].
//
// An Account is safe for concurrent use. Only one login runs at a time per
// Account: a second concurrent Login, LoginDevice or LoginPassword fails
// at once with [ErrLoginInProgress].
type Account struct {
	c        *Client
	key      string
	service  bool
	src      *tokensource.Source
	hc       *http.Client // Bearer client, built once
	userinfo *http.Client // a.hc for the userinfo request: its Base records DPoP proofs

	loggingIn atomic.Bool // an interactive login is running

	usedMu sync.Mutex           // guards used and last
	used   map[string]time.Time // states of exchanged AuthRequests, by state, with their creation time
	last   *LoginResult         // the last successful login, nil when none
}

func newAccount(c *Client, key string, service bool) (*Account, error) {
	a := &Account{c: c, key: key, service: service, used: make(map[string]time.Time)}
	oc := c.oauth // copy
	cfg := tokensource.Config{
		OAuth2:         &oc,
		ClientAuth:     c.auth,
		Store:          c.tsStore,
		Key:            key,
		HTTPClient:     c.hc,
		Logger:         c.cfg.Logger,
		Now:            c.cfg.Now,
		OnEvent:        c.cfg.OnEvent,
		RefreshBefore:  c.cfg.RefreshBefore,
		RefreshTimeout: c.cfg.RefreshTimeout,
		MaxSessionAge:  c.cfg.MaxSessionAge,
	}
	if service {
		cfg.Grant = tokensource.GrantClientCredentials
		cfg.DPoP = c.cfg.DPoP // the Source makes and stores the key
		oc.Scopes = c.cfg.Scopes
	} else if c.ids != nil {
		cfg.CheckRefresh = a.checkRefresh
	}
	src, err := tokensource.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: account %q: %w", key, err)
	}
	a.src = src
	// The Source itself, not a wrapper: the Transport finds in it the DPoP
	// prover of DPoP-bound tokens and the refresh-on-401.
	a.hc = &http.Client{
		Transport:     &transport.Transport{Source: src, Base: c.hc.Transport, Rejected: c.cfg.Rejected},
		CheckRedirect: c.hc.CheckRedirect,
		Timeout:       c.hc.Timeout,
	}
	// The client's own userinfo requests go through a Base that records
	// their DPoP proofs, to keep them out of its errors; the application's
	// requests (a.hc) pay nothing for it.
	a.userinfo = &http.Client{
		Transport:     &transport.Transport{Source: src, Base: sinkTransport{c.hc.Transport}, Rejected: c.cfg.Rejected},
		CheckRedirect: c.hc.CheckRedirect,
		Timeout:       c.hc.Timeout,
	}
	return a, nil
}

func (a *Account) kind() string {
	if a.service {
		return "service account"
	}
	return "user account"
}

// Key returns the account's key in the store.
func (a *Account) Key() string { return a.key }

// TokenSource returns the account's token source: an oauth2.TokenSource
// that hands out a fresh access token, refreshing it once however many
// goroutines ask. It fails with an error matching
// [tokensource.ErrLoginRequired] until the account has logged in, and
// again when the provider no longer accepts its refresh token.
func (a *Account) TokenSource() *tokensource.Source { return a.src }

// HTTPClient returns an *http.Client that sends requests with the
// account's access token ("Authorization: Bearer", [transport.Transport];
// for DPoP-bound tokens, Config.DPoP, "Authorization: DPoP" and a DPoP
// proof by the account's key), refreshing it when the server rejects it.
// It uses the Transport, Timeout and CheckRedirect of Config.HTTPClient,
// not its cookie jar (with a nil
// Config.HTTPClient: http.DefaultTransport and DefaultHTTPTimeout). The
// token is only sent to the host of the original request, never over a
// redirect elsewhere. The same client is returned every time.
func (a *Account) HTTPClient() *http.Client { return a.hc }

// beginLogin claims the account's login slot; the returned func releases
// it. A service account never logs in.
func (a *Account) beginLogin() (func(), error) {
	if a.service {
		return nil, fmt.Errorf("%w: a service account does not log in", ErrUnsupported)
	}
	if !a.loggingIn.CompareAndSwap(false, true) {
		return nil, ErrLoginInProgress
	}
	return func() { a.loggingIn.Store(false) }, nil
}

// finishLogin checks the tokens of a completed login and makes them the
// account's: the ID token is verified (with the nonce sent, if any) and
// the whole set is saved with AuthTime set to now, so the next process
// start needs no login. needID says an ID token is required (OpenID
// Connect authorization code flow). grant names the login's grant, for
// [Account.LastLogin].
func (a *Account) finishLogin(ctx context.Context, grant string, t *storage.Token, nonce string, needID bool) error {
	if a.c.ids == nil {
		t.IDToken = "" // cannot be verified without an issuer: never kept
	} else if t.IDToken == "" && needID {
		return withKind(ErrNoIDToken, fmt.Errorf("the token response has no id_token"))
	} else if t.IDToken != "" {
		if _, err := a.c.ids.verify(ctx, t.IDToken, checks{nonce: nonce, accessToken: t.AccessToken, expiry: true}); err != nil {
			return err
		}
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	t.AuthTime = a.c.now().Round(0)
	defer a.recordLogin(grant, t)
	if err := a.src.SetToken(ctx, t); err != nil {
		// The tokens are served from memory and the save is retried.
		a.c.log.Warn("client: saving the login's tokens failed", slog.String("key", a.key), slog.String("error", err.Error()))
		return fmt.Errorf("client: login succeeded but saving the tokens failed: %w", err)
	}
	a.c.indexSet(ctx, a.key, true)
	a.c.log.Info("client: logged in", slog.String("key", a.key), slog.Bool("refresh_token", t.RefreshToken != ""))
	return nil
}

// String describes a by its key.
func (a *Account) String() string {
	return fmt.Sprintf("client.Account{Key:%q Kind:%q}", a.key, a.kind())
}

// Format implements fmt.Formatter: every verb prints String.
func (a *Account) Format(f fmt.State, verb rune) { fmt.Fprint(f, a.String()) }

// LogValue implements slog.LogValuer without secrets.
func (a *Account) LogValue() slog.Value { return slog.StringValue(a.String()) }
