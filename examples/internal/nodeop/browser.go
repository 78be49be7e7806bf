package nodeop

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/webform"
)

// ErrLoginRejected reports that the provider's login page refused the user
// name or password.
var ErrLoginRejected = errors.New("nodeop: login rejected")

// maxPages bounds the pages one authorization visits (login, consent and
// the redirects between them).
const maxPages = 8

// Login does the user's part of an authorization request of this provider
// without a browser: it requests authURL, logs in as user with [Password]
// on the login page, answers the consent page with Allow (allow true) or
// Deny, and returns the URL the provider then redirects to: the client's
// redirect URI with code, state and iss, or, after Deny, with
// error=access_denied. It does not request that URL.
//
// A redirect to the client with an error (for example an invalid request)
// is returned like one with a code; an error page of the provider is an
// error. A user who is not configured gets an error wrapping
// [ErrLoginRejected]. Each call has its own cookie jar (a fresh browser
// session). Errors never contain the code.
func (s *Server) Login(ctx context.Context, authURL, user string, allow bool) (redirect string, err error) {
	return s.newBrowser().authorize(ctx, authURL, user, allow)
}

// Browser returns a headless browser for user: a func with the signature of
// an "open this URL in the system browser" hook (client.LoginOptions
// OpenBrowser). It does what [Server.Login] does and then requests the
// redirect URI, as a browser would, so that the app's loopback listener
// receives the code; it returns once the listener has answered, without
// judging its answer. The func is safe for concurrent use; each call is a
// fresh browser session.
func (s *Server) Browser(user string, allow bool) func(ctx context.Context, authURL string) error {
	return func(ctx context.Context, authURL string) error {
		b := s.newBrowser()
		redirect, err := b.authorize(ctx, authURL, user, allow)
		if err != nil {
			return err
		}
		_, _, err = webform.Do(ctx, b.follow, http.MethodGet, redirect, nil)
		return err
	}
}

// browser is a headless user agent with one cookie jar.
type browser struct {
	opHost string
	stay   *http.Client // follows redirects within the provider; stops at the first one out
	follow *http.Client // follows every redirect
}

func (s *Server) newBrowser() *browser {
	jar, _ := cookiejar.New(nil) // cannot fail without options
	b := &browser{opHost: strings.TrimPrefix(s.issuer, "http://")}
	b.stay = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxPages {
				return errors.New("nodeop: too many redirects")
			}
			if req.URL.Host != b.opHost {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	b.follow = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	return b
}

var (
	formRe   = regexp.MustCompile(`<form\b[^>]*\baction="([^"]+)"`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	errorRe  = regexp.MustCompile(`<p class="(?:error|red)">([^<]*)</p>`)
	titleRe  = regexp.MustCompile(`<title>([^<]*)</title>`)
)

// successTitle is the title of node-oidc-provider's page after a device
// was approved.
const successTitle = "Sign-in Success"

// step is what the user answers on one of the provider's pages.
type step struct {
	user     string
	allow    bool
	userCode string // for the device pages
}

// progress is what the user did so far in one run.
type progress struct {
	loggedIn bool // the login form was submitted
	denied   bool // the consent page was answered with Deny
}

// next returns the form submission that answers the page in body, or
// done when the page ends a device approval: the success page, or after
// Deny the user code page again.
func (b *browser) next(resp *http.Response, body []byte, st step, pr *progress) (action string, form url.Values, done bool, err error) {
	page := webform.Redact(resp.Request.URL.String())
	m := formRe.FindSubmatch(body)
	if m == nil {
		if t := titleRe.FindSubmatch(body); t != nil && string(t[1]) == successTitle {
			return "", nil, true, nil
		}
		return "", nil, false, fmt.Errorf("nodeop: %s: no form: %s", page, pageMessage(body))
	}
	u, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return "", nil, false, fmt.Errorf("nodeop: %s: form action: %w", page, err)
	}
	form = url.Values{}
	for _, h := range hiddenRe.FindAllSubmatch(body, -1) {
		form.Set(string(h[1]), html.UnescapeString(string(h[2])))
	}
	switch {
	case strings.HasSuffix(u.Path, "/login"):
		if pr.loggedIn {
			return "", nil, false, fmt.Errorf("%w: %s", ErrLoginRejected, pageMessage(body))
		}
		pr.loggedIn = true
		form.Set("login", st.user)
		form.Set("password", Password)
	case strings.HasSuffix(u.Path, "/confirm"):
		form.Set("decision", map[bool]string{true: "allow", false: "deny"}[st.allow])
		pr.denied = !st.allow
	case form.Has("confirm"): // the device confirmation page: submit as is
	case form.Has("xsrf"): // the device user code page
		if pr.denied { // node-oidc-provider shows it again after a denial
			return "", nil, true, nil
		}
		if form.Has("user_code") || errorRe.Match(body) {
			return "", nil, false, fmt.Errorf("nodeop: %s: %s", page, pageMessage(body))
		}
		form.Set("user_code", st.userCode)
	default:
		return "", nil, false, fmt.Errorf("nodeop: %s: unexpected form %s", page, u.Path)
	}
	return u.String(), form, false, nil
}

// run requests start and answers the provider's pages until it redirects
// out of the provider (the redirect's URL is returned) or shows the device
// flow's success page ("" is returned).
func (b *browser) run(ctx context.Context, start string, st step) (string, error) {
	resp, body, err := webform.Do(ctx, b.stay, http.MethodGet, start, nil)
	var pr progress
	for range maxPages {
		if err != nil {
			return "", err
		}
		if loc := webform.Leaves(resp, b.opHost); loc != "" {
			return loc, nil
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("nodeop: %s: status %d: %s", webform.Redact(resp.Request.URL.String()), resp.StatusCode, pageMessage(body))
		}
		action, form, done, err := b.next(resp, body, st, &pr)
		if err != nil || done {
			return "", err
		}
		resp, body, err = webform.Do(ctx, b.stay, http.MethodPost, action, form)
	}
	return "", errors.New("nodeop: too many pages")
}

// authorize runs an authorization request up to the provider's redirect to
// the client and returns the redirect's URL.
func (b *browser) authorize(ctx context.Context, authURL, user string, allow bool) (string, error) {
	redirect, err := b.run(ctx, authURL, step{user: user, allow: allow})
	if err == nil && redirect == "" {
		err = errors.New("nodeop: the authorization did not end in a redirect to the client")
	}
	return redirect, err
}

// ApproveDevice does the user's part of a device authorization (RFC 8628
// §3.3) on the provider's pages: it enters userCode on the verification
// page, confirms the device, logs in as user with [Password] and answers
// the consent page with Allow (allow true) or Deny. After Allow the
// device's next poll receives the tokens; after Deny it fails with
// access_denied. An unknown or used user code is an error, an unknown user
// an error wrapping [ErrLoginRejected].
func (s *Server) ApproveDevice(ctx context.Context, userCode, user string, allow bool) error {
	if s.endpoints.DeviceAuthorization == "" {
		return errors.New("nodeop: the provider has no device authorization endpoint")
	}
	redirect, err := s.newBrowser().run(ctx, s.issuer+"/device", step{user: user, allow: allow, userCode: userCode})
	if err == nil && redirect != "" {
		err = fmt.Errorf("nodeop: the device approval left the provider for %s", webform.Redact(redirect))
	}
	return err
}

// pageMessage returns the error message on one of the provider's pages.
func pageMessage(body []byte) string {
	if m := errorRe.FindSubmatch(body); m != nil {
		return html.UnescapeString(string(m[1]))
	}
	return "no error message on the page"
}
