// Command httpclient is the short answer to "I already have an
// oauth2.Config and an oauth2.Token (from my own login code): give me an
// http.Client that refreshes the token and persists every rotated refresh
// token". It is newHTTPClient below; copy it.
//
// main demonstrates it against a fake token endpoint in this process that
// rotates refresh tokens and, like providers with reuse detection, revokes
// the whole token family when an old refresh token is used again:
//
//	go run ./examples/httpclient
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// newHTTPClient returns an http.Client whose requests carry conf's access
// token for tok's account, refreshed before it expires, with every rotated
// refresh token saved in store under key before use. tok seeds the store
// only the first time (Account.Seed): afterwards the stored token is newer
// than tok, whose refresh token the provider has already replaced. Once
// the provider has declared tok's refresh token dead, Seed refuses it with
// client.ErrDeadRefreshToken (also tokensource.ErrLoginRequired) without
// sending it again. Close the Client when done.
func newHTTPClient(ctx context.Context, conf *oauth2.Config, tok *oauth2.Token, store storage.Store, key string) (*http.Client, *client.Client, error) {
	c, err := client.New(ctx, client.Config{
		ClientID:     conf.ClientID,
		ClientSecret: conf.ClientSecret,
		AuthStyle:    conf.Endpoint.AuthStyle,
		Scopes:       conf.Scopes,
		Endpoints:    client.Endpoints{Auth: conf.Endpoint.AuthURL, Token: conf.Endpoint.TokenURL},
		Store:        store,
	})
	if err != nil {
		return nil, nil, err
	}
	acct, err := c.Account(key)
	if err == nil {
		_, err = acct.Seed(ctx, tok)
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return acct.HTTPClient(), c, nil
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
}

// run is the demonstration: two runs of a program with the same
// oauth2.Token and the same encrypted file store.
func run(ctx context.Context, w io.Writer) error {
	srv := tokentest.NewServer() // a token endpoint and an API at srv.URL
	srv.Lifetime = time.Second   // access tokens that expire during the demo
	defer srv.Close()
	access, refresh, expiry := srv.Login() // what your own login code obtained
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh, Expiry: expiry}

	dir, err := os.MkdirTemp("", "httpclient-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	raw := make([]byte, storage.KeySize) // in production: storage.KeyFromFile or KeyFromEnv
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		return err
	}

	// Each "process" opens the store and builds its client from the same
	// oauth2.Token, as a program that keeps it in its configuration would.
	process := func(name string, sleep time.Duration) error {
		store, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: key})
		if err != nil {
			return err
		}
		hc, c, err := newHTTPClient(ctx, conf, tok, store, "alice")
		if err != nil {
			return err
		}
		defer c.Close()
		if err := get(ctx, w, hc, name, srv.URL+"/resource"); err != nil {
			return err
		}
		if sleep == 0 {
			return nil
		}
		fmt.Fprintln(w, "  … the access token expires; tokenkeeper refreshes it and saves the rotated refresh token")
		time.Sleep(sleep)
		return get(ctx, w, hc, name, srv.URL+"/resource")
	}
	if err := process("first run", 1100*time.Millisecond); err != nil {
		return err
	}
	if err := process("second run, with the same oauth2.Token", 0); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d refreshes, %d refused: the second run used the stored refresh token, not the stale one in the oauth2.Token\n", srv.Refreshes(), srv.Rejected())
	if srv.Rejected() != 0 {
		return errors.New("a refresh token was refused")
	}

	// The provider revokes the grant: the next refresh is refused, the
	// dead record is deleted, and a later run seeding the same token is
	// refused without sending it.
	srv.RevokeAll()
	srv.ExpireAccess()
	err = process("third run, after the provider revoked the grant", 0)
	fmt.Fprintf(w, "third run: login required: %v\n", errors.Is(err, tokensource.ErrLoginRequired))
	before := srv.Requests()
	err = process("fourth run, seeding the same oauth2.Token", 0)
	fmt.Fprintf(w, "fourth run: refused before any request: %v (%d token requests)\n", errors.Is(err, client.ErrDeadRefreshToken), srv.Requests()-before)
	if !errors.Is(err, client.ErrDeadRefreshToken) || srv.Requests() != before {
		return fmt.Errorf("the dead refresh token was seeded again: %v", err)
	}
	return nil
}

func get(ctx context.Context, w io.Writer, hc *http.Client, name, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(w, "%s: GET /resource → %s\n", name, resp.Status)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /resource: %s", resp.Status)
	}
	return nil
}
