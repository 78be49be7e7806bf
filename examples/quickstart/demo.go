package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// accessTokenLifetime is the in-process provider's access token lifetime:
// short, so that the demo sees it expire.
const accessTokenLifetime = 3 * time.Second

// demo is one run of the quickstart.
type demo struct {
	opts   options
	say    *narrator
	op     *oidctest.Provider // the in-process provider; nil with -issuer
	cfg    client.Config      // the Client's configuration, without its Store
	opener func(ctx context.Context, url string) error
	output io.Writer // where Login prints the authorization URL
	dir    string    // the encrypted file store's directory
	key    storage.FileKey
	start  time.Time

	refreshes, rotations atomic.Int32 // counted from the events

	mu     sync.Mutex // guards expiry
	expiry time.Time  // the current access token's expiry, as last seen
}

// newDemo starts the in-process provider (without -issuer) and makes the
// file store's directory and key. cleanup stops and removes them.
func newDemo(ctx context.Context, opts options, stdout io.Writer) (*demo, func(), error) {
	d := &demo{opts: opts, say: newNarrator(stdout), start: time.Now()}
	tmp, err := os.MkdirTemp("", "tokenkeeper-quickstart-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	d.dir = filepath.Join(tmp, "tokens")
	// A real program keeps this key outside the token directory: in a
	// 0600 key file (storage.KeyFromFile), an environment variable
	// (KeyFromEnv), a passphrase (KeyFromPassphrase), or the OS keyring
	// (storage.NewKeyring instead of a File store).
	raw := make([]byte, storage.KeySize)
	if _, err := rand.Read(raw); err != nil {
		cleanup()
		return nil, nil, err
	}
	if d.key, err = storage.KeyFromBytes(raw); err != nil {
		cleanup()
		return nil, nil, err
	}
	clear(raw)

	d.cfg = client.Config{
		Issuer:          opts.issuer,
		ClientID:        opts.clientID,
		ClientSecret:    opts.clientSecret,
		Scopes:          opts.scopes,
		NoOfflineAccess: opts.noOffline,
		AuthParams:      opts.authParams,
		OnEvent:         d.event,
	}
	d.output = stdout // a real login prints the URL, to open by hand if need be
	if opts.issuer != "" {
		d.say.line("tokenkeeper quickstart against %s (client %s)", opts.issuer, opts.clientID)
		return d, cleanup, nil
	}

	d.op, err = oidctest.Start(oidctest.Options{AccessTokenLifetime: accessTokenLifetime})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("starting the in-process provider: %w", err)
	}
	cleanup = func() { d.op.Close(); os.RemoveAll(tmp) }
	d.cfg.Issuer = d.op.Issuer()
	d.cfg.ClientID = d.op.NativeClient() // a public client: no secret, PKCE
	// Refresh 1 s before expiry (the default, a minute, is capped at half
	// the remaining lifetime, which would refresh these 3 s tokens at
	// 1.5 s and again just as the first one expires).
	d.cfg.RefreshBefore = time.Second
	d.opener = d.op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)
	d.output = io.Discard
	if d.opts.api == "" {
		d.opts.api = d.op.Endpoints().Resource
	}
	d.say.line("tokenkeeper quickstart: an OpenID Provider is running in this process at %s", d.op.Issuer())
	d.say.line("(zitadel's example OP: real discovery, PKCE, ID tokens, refresh token rotation, revocation; access tokens live %v)", accessTokenLifetime)
	return d, cleanup, nil
}

// open does what a program does when it starts: open the encrypted file
// store and make a Client on it.
func (d *demo) open(ctx context.Context) (*client.Client, *client.Account, error) {
	store, err := storage.NewFile(storage.FileConfig{Dir: d.dir, Key: d.key})
	if err != nil {
		return nil, nil, err
	}
	cfg := d.cfg
	cfg.Store = store
	c, err := client.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if d.opts.api == "" {
		d.opts.api = c.Endpoints().UserInfo
	}
	if d.opts.api == "" {
		c.Close()
		return nil, nil, errors.New("the provider has no userinfo endpoint: pass -api URL")
	}
	acct, err := c.Account("")
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, acct, nil
}

// run runs the five steps.
func (d *demo) run(ctx context.Context) error {
	c, acct, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := d.login(ctx, acct); err != nil {
		return fmt.Errorf("step 1, log in: %w", err)
	}
	if err := d.callAPI(ctx, acct, "\n2. Call the protected API through acct.HTTPClient()"); err != nil {
		return fmt.Errorf("step 2, API call: %w", err)
	}
	if err := d.expire(ctx, acct); err != nil {
		return fmt.Errorf("step 3, refresh: %w", err)
	}
	c.Close() // the first process ends here

	c2, acct2, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer c2.Close()
	if err := d.restart(ctx, acct2); err != nil {
		return fmt.Errorf("step 4, restart: %w", err)
	}
	if err := d.logout(ctx, c2, acct2); err != nil {
		return fmt.Errorf("step 5, log out: %w", err)
	}
	d.say.line("\nquickstart OK: 1 login, %s, %s saved encrypted, stored tokens reused by a second client, logged out with revocation (%.1fs)",
		count(d.refreshes.Load(), "refresh", "refreshes"),
		count(d.rotations.Load(), "rotated refresh token", "rotated refresh tokens"),
		time.Since(d.start).Seconds())
	return nil
}

// event narrates the token source's events as they happen, on the
// goroutine that refreshed.
func (d *demo) event(ev tokensource.Event) {
	switch ev.Kind {
	case tokensource.EventRefreshed:
		d.refreshes.Add(1)
		left := d.seeExpiry(ev.Expiry).Sub(ev.Time)
		d.say.line("   ↻ %s, %s before the old access token expired: the new one is valid for %s", ev.Kind, round(left), round(ev.Expiry.Sub(ev.Time)))
	case tokensource.EventRotated:
		d.rotations.Add(1)
		d.say.line("   ↻ %s: a new refresh token, saved to the encrypted file before the new access token was used", ev.Kind)
	default:
		d.say.line("   ! %s: %v", ev.Kind, ev.Err)
	}
}

// seeExpiry records the current access token's expiry and returns the one
// recorded before.
func (d *demo) seeExpiry(t time.Time) (prev time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, d.expiry = d.expiry, t
	return prev
}
