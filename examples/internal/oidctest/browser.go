package oidctest

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

// Browser returns a headless browser for username: a func with the signature of a
// "open this URL in the system browser" hook. Given an authorization URL of this provider it
// does what a user with a real browser does: it requests the URL, fills in and submits the
// OP's login form, follows the OP's redirects and finally requests the redirect URI (the
// app's loopback callback) with the code and state, returning once the app has answered.
// A native app's loopback listener therefore receives exactly what a browser would send,
// so the listener must answer without waiting for the opener to return.
//
// The returned func keeps cookies between calls and is safe for concurrent use. It returns
// an error if the OP's pages cannot be loaded, the login is rejected or the OP does not
// redirect to the app; it does not judge the app's answer. An authorization error that the
// OP sends to the redirect URI (error=...) is delivered like a code.
func (p *Provider) Browser(username, password string) func(ctx context.Context, authURL string) error {
	b := p.newBrowser()
	return func(ctx context.Context, authURL string) error {
		callback, err := b.authorize(ctx, authURL, username, password)
		if err != nil {
			return err
		}
		if _, _, err := webform.Do(ctx, b.follow, http.MethodGet, callback, nil); err != nil {
			return err
		}
		return nil
	}
}

// Login does the user's part of an authorization request like [Provider.Browser] but does
// not request the redirect URI: it returns it, with its code and state (or error), so that a
// web-app test can hand it to its callback handler or exchange step.
func (p *Provider) Login(ctx context.Context, authURL, username, password string) (redirect string, err error) {
	return p.newBrowser().authorize(ctx, authURL, username, password)
}

// ApproveDevice completes the user's step of a device authorization (RFC 8628 §3.3)
// through the OP's device pages: it opens the verification page for userCode, logs in and
// allows the device. The device's next poll then receives the tokens.
func (p *Provider) ApproveDevice(ctx context.Context, userCode, username, password string) error {
	return p.decideDevice(ctx, userCode, username, password, "allowed")
}

// DenyDevice is like [Provider.ApproveDevice] but denies the device, whose next poll then
// fails with access_denied.
func (p *Provider) DenyDevice(ctx context.Context, userCode, username, password string) error {
	return p.decideDevice(ctx, userCode, username, password, "denied")
}

// browser is a headless user agent: one cookie jar, two ways to follow redirects.
type browser struct {
	opHost string
	stay   *http.Client // follows redirects within the provider; stops at the first one out
	follow *http.Client // follows every redirect
}

func (p *Provider) newBrowser() *browser {
	jar, _ := cookiejar.New(nil) // cannot fail without options
	b := &browser{opHost: strings.TrimPrefix(p.issuer, "http://")}
	b.stay = &http.Client{
		Transport: p.transport,
		Jar:       jar,
		Timeout:   30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != b.opHost {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	b.follow = &http.Client{Transport: p.transport, Jar: jar, Timeout: 30 * time.Second}
	return b
}

// authorize runs an authorization request up to the OP's redirect to the app and returns
// the redirect's URL.
func (b *browser) authorize(ctx context.Context, authURL, username, password string) (string, error) {
	resp, body, err := webform.Do(ctx, b.stay, http.MethodGet, authURL, nil)
	for submitted, pages := false, 0; pages < 10; submitted, pages = true, pages+1 {
		if err != nil {
			return "", err
		}
		if loc := webform.Leaves(resp, b.opHost); loc != "" {
			return loc, nil
		}
		if resp.StatusCode != http.StatusOK {
			return "", pageError("authorization request", resp, body)
		}
		if consent := consentRe.FindSubmatch(body); consent != nil { // Options.Consent
			allow := url.Values{"id": {html.UnescapeString(string(consent[1]))}, "decision": {"allow"}}
			resp, body, err = webform.Do(ctx, b.stay, http.MethodPost, resp.Request.URL.String(), allow)
			continue
		}
		if submitted {
			return "", fmt.Errorf("oidctest: login rejected: %s", pageMessage(body))
		}
		var f *form
		if f, err = loginForm(body, resp.Request.URL, username, password); err != nil {
			return "", err
		}
		resp, body, err = webform.Do(ctx, b.stay, f.method, f.action, f.values)
	}
	return "", errors.New("oidctest: the OP never redirected to the app")
}

func (p *Provider) decideDevice(ctx context.Context, userCode, username, password, action string) error {
	b := p.newBrowser()
	page := p.endpoints.DeviceVerification + "?user_code=" + url.QueryEscape(userCode)
	resp, body, err := webform.Do(ctx, b.stay, http.MethodGet, page, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return pageError("device verification page", resp, body)
	}
	f, err := loginForm(body, resp.Request.URL, username, password)
	if err != nil {
		return err
	}
	if resp, body, err = webform.Do(ctx, b.stay, f.method, f.action, f.values); err != nil {
		return err
	}
	if msg := devicePrompt(resp); msg != "" {
		return fmt.Errorf("oidctest: device login rejected: %s", msg)
	}
	if resp.StatusCode != http.StatusOK {
		return pageError("device login", resp, body)
	}
	next := ""
	for _, m := range hrefRe.FindAllStringSubmatch(string(body), -1) {
		if strings.Contains(m[1], "action="+action) {
			next = m[1]
		}
	}
	if next == "" {
		return fmt.Errorf("oidctest: device confirmation page has no %q button", action)
	}
	ref, err := resp.Request.URL.Parse(html.UnescapeString(next))
	if err != nil {
		return fmt.Errorf("oidctest: device confirmation link: %w", err)
	}
	if resp, body, err = webform.Do(ctx, b.stay, http.MethodGet, ref.String(), nil); err != nil {
		return err
	}
	if msg := devicePrompt(resp); msg != "" {
		return fmt.Errorf("oidctest: device confirmation rejected: %s", msg)
	}
	if resp.StatusCode != http.StatusOK {
		return pageError("device confirmation", resp, body)
	}
	return nil
}

// devicePrompt returns the error message exampleop's device pages put in the prompt query
// parameter when they redirect back to the user-code page.
func devicePrompt(resp *http.Response) string {
	prompt := resp.Request.URL.Query().Get("prompt")
	if un, err := url.QueryUnescape(prompt); err == nil {
		prompt = un // exampleop escapes it twice
	}
	return prompt
}

// pageError describes an unexpected answer from the OP. The OP's error pages are plain text
// descriptions; other bodies are left out.
func pageError(what string, resp *http.Response, body []byte) error {
	msg := ""
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		msg = ": " + truncate(strings.TrimSpace(string(body)), 200)
	}
	return fmt.Errorf("oidctest: %s: %s from %s%s", what, resp.Status, webform.Redact(resp.Request.URL.String()), msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?s)([a-zA-Z_:-]+)\s*=\s*"([^"]*)"`)
	errorRe = regexp.MustCompile(`(?is)<p style="color:\s*red[^"]*">(.*?)</p>`)
	hrefRe  = regexp.MustCompile(`location\.href='([^']*)'`)
	// consentRe finds the consent page's request ID (consent.go).
	consentRe = regexp.MustCompile(`(?s)<input type="hidden" name="id" value="([^"]*)">\s*<p><b>.*name="decision" value="allow"`)
)

type form struct {
	method, action string
	values         url.Values
}

// loginForm finds the page's form, which must have username and password fields, and fills
// them in. Hidden fields keep their values.
func loginForm(page []byte, base *url.URL, username, password string) (*form, error) {
	m := formRe.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("oidctest: no form on the login page")
	}
	attrs := attributes(m[1])
	f := &form{method: strings.ToUpper(attrs["method"]), values: url.Values{}}
	if f.method == "" {
		f.method = http.MethodGet
	}
	action, err := base.Parse(attrs["action"]) // "" means the page itself
	if err != nil {
		return nil, fmt.Errorf("oidctest: login form action: %w", err)
	}
	f.action = action.String()
	for _, in := range inputRe.FindAllSubmatch(m[2], -1) {
		a := attributes(in[1])
		if a["name"] != "" {
			f.values.Set(a["name"], a["value"])
		}
	}
	if _, ok := f.values["username"]; !ok {
		return nil, errors.New("oidctest: the login form has no username field")
	}
	if _, ok := f.values["password"]; !ok {
		return nil, errors.New("oidctest: the login form has no password field")
	}
	f.values.Set("username", username)
	f.values.Set("password", password)
	return f, nil
}

func attributes(tag []byte) map[string]string {
	attrs := make(map[string]string)
	for _, a := range attrRe.FindAllSubmatch(tag, -1) {
		attrs[strings.ToLower(string(a[1]))] = html.UnescapeString(string(a[2]))
	}
	return attrs
}

// pageMessage returns the error message the OP shows on a form page.
func pageMessage(page []byte) string {
	if m := errorRe.FindSubmatch(page); m != nil {
		if msg := strings.TrimSpace(html.UnescapeString(string(m[1]))); msg != "" {
			return msg
		}
	}
	return "the OP showed the form again"
}
