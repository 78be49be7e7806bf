// Command quickstart shows tokenkeeper keeping a program logged in, from
// the first login to the logout, in a few narrated steps:
//
//  1. log in with the authorization code flow, PKCE and offline_access;
//  2. call a protected API through the account's http.Client;
//  3. let the access token expire: it is refreshed in the background, and
//     the rotated refresh token is saved to an encrypted file first;
//  4. start again, as a second process would, and reuse the stored tokens
//     without a login;
//  5. log out, revoking the tokens at the provider.
//
// With no flags it needs nothing but Go: it starts a real OpenID Provider
// (zitadel's example OP, the one tokenkeeper's tests use) in this process on
// 127.0.0.1, with 3-second access tokens, and a headless browser signs in as
// its test user:
//
//	go run ./examples/quickstart
//
// With -issuer and -client-id it runs the same code against a real provider
// and your real browser. Register a native (public) client whose redirect
// URI is http://127.0.0.1:<port>/callback and pass that -port when the
// provider matches ports exactly:
//
//	go run ./examples/quickstart -issuer https://example.eu.auth0.com/ -client-id abc123 -port 8085
//
// Tokens are never printed: the narration shows SHA-256 fingerprints
// ("#3f9a1c"), enough to see a token change. The encrypted file store lives
// in a temporary directory, removed at exit; its key is random and held in
// memory (a real program reads it with storage.KeyFromFile, KeyFromEnv or
// KeyFromPassphrase, or uses the OS keyring).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	// The in-process provider logs every request through slog.Default;
	// keep the narration readable.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line flags.
type options struct {
	issuer       string
	clientID     string
	clientSecret string
	scopes       []string
	authParams   map[string]string
	noOffline    bool
	api          string
	port         int
	loginTimeout time.Duration
	maxWait      time.Duration
}

// run is the program: it parses args, runs the demo and returns the exit
// code (0 success, 1 failure, 2 bad usage). The narration goes to stdout,
// errors to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 2
	}
	d, cleanup, err := newDemo(ctx, opts, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	defer cleanup()
	if err := d.run(ctx); err != nil {
		fmt.Fprintln(stderr, "quickstart: FAILED:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var scopes, params string
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.issuer, "issuer", "", "a real provider's issuer URL (empty: start one in this process)")
	fs.StringVar(&o.clientID, "client-id", "", "the client ID registered at -issuer (a native/public client)")
	fs.StringVar(&o.clientSecret, "client-secret", "", "the client secret, for providers that give native clients one (Google); prefer $QUICKSTART_CLIENT_SECRET")
	fs.StringVar(&scopes, "scopes", "profile email", "scopes besides openid and offline_access, space separated")
	fs.StringVar(&params, "auth-params", "", "extra authorization parameters, e.g. prompt=consent,access_type=offline")
	fs.BoolVar(&o.noOffline, "no-offline-access", false, "do not request offline_access (Google: use -auth-params access_type=offline,prompt=consent)")
	fs.StringVar(&o.api, "api", "", "a protected API URL to call (default: the provider's userinfo endpoint)")
	fs.IntVar(&o.port, "port", 0, "loopback port for the login callback (0: any free port)")
	fs.DurationVar(&o.loginTimeout, "login-timeout", 5*time.Minute, "how long to wait for the browser login")
	fs.DurationVar(&o.maxWait, "max-wait", 2*time.Minute, "longest wait for the access token to expire; a longer-lived token is refreshed at once instead")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.clientSecret == "" {
		o.clientSecret = os.Getenv("QUICKSTART_CLIENT_SECRET")
	}
	if (o.issuer == "") != (o.clientID == "") {
		return o, errors.New("-issuer and -client-id go together")
	}
	o.scopes = strings.Fields(scopes)
	var err error
	o.authParams, err = parseParams(params)
	return o, err
}

// parseParams parses "k=v,k2=v2".
func parseParams(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-auth-params: %q is not key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}
