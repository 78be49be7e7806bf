package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
)

// DefaultLoginTimeout bounds a [Account.Login] whose LoginOptions.Timeout
// is zero.
const DefaultLoginTimeout = 5 * time.Minute

// openerGrace is how long a finished Login waits for its opener to return
// before cancelling it: an opener that requested the callback (a headless
// browser) is still reading the page.
const openerGrace = 2 * time.Second

// LoginOptions configures one [Account.Login]. The zero value opens the
// system browser, prints the URL to os.Stderr, listens on an ephemeral
// port and gives up after DefaultLoginTimeout.
type LoginOptions struct {
	// OpenBrowser opens the authorization URL for the user. It runs on its
	// own goroutine while Login waits for the callback, and must return
	// once ctx is done. If it fails, Login fails with its error: an
	// opener whose user can still open the printed URL by hand should
	// return nil. nil: [OpenSystemBrowser], which honours $BROWSER; if
	// it fails, the reason and the URL are printed to Output and Login
	// keeps waiting (for the callback, or for Paste).
	OpenBrowser func(ctx context.Context, url string) error
	// Paste, when not nil, is read for the end of the login, for remote
	// sessions (SSH) where the browser runs on another machine and cannot
	// reach the loopback listener: the user pastes the address the
	// browser ended on (http://127.0.0.1:<port>/callback?code=…&state=…,
	// which it could not load) or only the code, one per line. An address
	// is checked as a callback is (state, iss, error); a bare code is
	// redeemed with the login's PKCE verifier, which only the code issued
	// for this login satisfies. A line that is neither, or an address
	// with another state, is refused with a message on Output and Login
	// keeps reading. The listener keeps running: whichever comes first
	// ends the login. Login does not wait for a Read in progress when it
	// returns (that goroutine ends when Read does); give a reader that
	// returns on Close, such as a pipe, or os.Stdin.
	Paste io.Reader
	// Output receives the authorization URL, so that the user can open it
	// by hand. nil: os.Stderr. Use io.Discard to print nothing.
	Output io.Writer
	// Port is the loopback port to listen on; it must be free. Zero: an
	// ephemeral port, which providers accept for native clients
	// registered with a loopback redirect URI (RFC 8252 §7.3).
	Port int
	// Timeout bounds the whole login. Zero: DefaultLoginTimeout.
	Timeout time.Duration
	// AuthParams are added to this login's authorization request, over
	// Config.AuthParams (e.g. "login_hint").
	AuthParams map[string]string
}

func (o *LoginOptions) validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("client: LoginOptions.Port %d is out of range", o.Port)
	}
	if o.Timeout < 0 {
		return errors.New("client: LoginOptions.Timeout is negative")
	}
	if err := checkParams(o.AuthParams); err != nil {
		return fmt.Errorf("client: LoginOptions.AuthParams: %w", err)
	}
	return nil
}

func (o *LoginOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultLoginTimeout
}

func (o *LoginOptions) output() io.Writer {
	if o.Output != nil {
		return o.Output
	}
	return os.Stderr
}

// Login logs the account in as a native app (RFC 8252): it listens on
// http://127.0.0.1:<port>/callback (http://[::1]:<port>/callback when
// IPv4 loopback is unavailable), opens the authorization URL in the
// browser and prints it to Output, and waits for the provider to redirect
// the browser back. The listener serves only /callback; other paths get a
// 404, requests whose Host header is not the listener's address or
// localhost with its port get a 421 (DNS rebinding), and responses with a
// missing or wrong state get an error page; after each of them Login
// keeps waiting. The callback's state (constant time) and
// iss (RFC 9207) are checked, the code is exchanged with its PKCE S256
// verifier, the ID token verified (with its nonce) and the tokens saved
// with AuthTime set to now; the browser then shows a short success or
// error page.
//
// Login returns when the login is done, failed, ctx is done or
// LoginOptions.Timeout passed; the listener is closed and no goroutine is
// left behind. A second Login (or LoginDevice, LoginPassword) on the same
// Account while one runs fails at once with [ErrLoginInProgress].
//
// Errors: [*CallbackError] when the provider answered with an error
// (errors.Is ErrAccessDenied for access_denied), [ErrIssuerMismatch], ID token errors ([ErrNonceMismatch], …), a
// *tokensource.Error from the token endpoint, or ctx's error.
func (a *Account) Login(ctx context.Context, opts LoginOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	release, err := a.beginLogin()
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()

	srv, err := startLoopback(opts.Port, a.c.log)
	if err != nil {
		return err
	}
	extra := make(url.Values, len(opts.AuthParams))
	for k, v := range opts.AuthParams {
		extra.Set(k, v)
	}
	req, err := a.newAuthRequest(srv.redirectURI, extra)
	if err != nil {
		srv.close()
		return err
	}
	fmt.Fprintf(opts.output(), "To log in, open this URL in your browser (it should open by itself):\n\n    %s\n\n", req.URL)
	if opts.Paste != nil {
		fmt.Fprintf(opts.output(), "If the browser cannot reach this machine, paste here the address it ended on (or the code) and press Enter.\n")
	}
	return a.browse(ctx, srv, req, opts)
}

// browse runs the opener on its own goroutine and waits for the
// authorization response. When it returns, srv is closed and the opener
// has returned.
func (a *Account) browse(ctx context.Context, srv *loopback, req *AuthRequest, opts LoginOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	opened := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		opened <- a.openBrowser(ctx, opts, req.URL)
	}()
	defer func() {
		srv.close() // lets the browser get its page; no handler left running
		grace := time.NewTimer(openerGrace)
		select { // an opener that fetched the page may still be reading it
		case <-done:
		case <-ctx.Done():
		case <-grace.C:
		}
		grace.Stop()
		cancel()
		<-done
	}()
	return a.awaitResponse(ctx, srv, req, opened, readPasted(ctx, opts.Paste, req.State, opts.output()), opts.output())
}

// openBrowser runs the opener. Failures of the default opener are printed
// and reported as nil: the user can still open the URL by hand.
func (a *Account) openBrowser(ctx context.Context, opts LoginOptions, authURL string) error {
	if opts.OpenBrowser != nil {
		return opts.OpenBrowser(ctx, authURL)
	}
	if err := OpenSystemBrowser(ctx, authURL); err != nil && ctx.Err() == nil {
		u, _ := url.Parse(authURL)
		var secrets []string
		if u != nil {
			secrets = []string{u.Query().Get("state"), u.Query().Get("nonce")}
		}
		reason := oauthwire.ScrubError(err, secrets...).Error()
		a.c.log.Info("client: could not open the browser", slog.String("error", reason))
		fmt.Fprintf(opts.output(), "Could not open a browser (%s).\nPlease open this URL by hand:\n\n    %s\n\n", reason, authURL)
	}
	return nil
}

// awaitCallback waits for the authorization response and completes the
// login with it.
//
// A response whose state is missing or not the login's (ErrStateMismatch:
// forged, or meant for another login) is refused with an error page and
// the login keeps waiting for its own: whoever can reach the listener
// must not be able to end the login. A response with the login's state
// ends it, whatever it says (code, error such as access_denied, a wrong
// iss).
func (a *Account) awaitCallback(ctx context.Context, srv *loopback, req *AuthRequest, opened <-chan error) error {
	return a.awaitResponse(ctx, srv, req, opened, nil, io.Discard)
}

// awaitResponse is awaitCallback that also takes responses pasted by the
// user (see LoginOptions.Paste); refusals of pasted ones are told on out.
func (a *Account) awaitResponse(ctx context.Context, srv *loopback, req *AuthRequest, opened <-chan error, pasted <-chan url.Values, out io.Writer) error {
	refused := 0
	for {
		select {
		case q := <-pasted:
			err := a.completeCallback(ctx, req, q)
			if errors.Is(err, ErrStateMismatch) {
				refused++
				fmt.Fprintf(out, "That address does not belong to this login; paste the address of this login, or its code.\n")
				continue
			}
			return err
		case cb := <-srv.callbacks:
			err := a.completeCallback(ctx, req, cb.query)
			cb.reply <- err
			if errors.Is(err, ErrStateMismatch) {
				refused++
				a.c.log.Info("client: login: refused an authorization response with a wrong state; still waiting", slog.Int("refused", refused))
				continue
			}
			return err
		case err := <-opened:
			if err != nil { // an opener may quote the URL: keep state and nonce out
				return fmt.Errorf("client: opening the browser: %w", oauthwire.ScrubError(err, req.State, req.Nonce))
			}
			opened = nil // done; keep waiting for the callback
		case <-ctx.Done():
			if refused > 0 {
				return fmt.Errorf("client: login: waiting for the authorization response (%d with a wrong state refused): %w", refused, ctx.Err())
			}
			return fmt.Errorf("client: login: waiting for the authorization response: %w", ctx.Err())
		}
	}
}

// completeCallback checks the authorization response and redeems its code.
func (a *Account) completeCallback(ctx context.Context, req *AuthRequest, q url.Values) error {
	if err := checkState(req.State, q); err != nil {
		return err
	}
	code, err := a.c.checkResponse(q)
	if err != nil {
		return err
	}
	return a.redeem(ctx, req, code)
}
