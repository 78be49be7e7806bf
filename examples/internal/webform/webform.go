// Package webform holds what the scripted browsers of the test providers
// (packages oidctest and nodeop) share: a request whose answer is read
// whole, whose errors never show a URL's query (it may hold a code), and
// the check for a redirect that leaves the provider. It is for tests.
package webform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody is how much of an answer Do reads.
const maxBody = 1 << 20

// Do sends a request with method to target, with form as its
// application/x-www-form-urlencoded body when not nil, and returns the
// response with its body read (up to 1 MiB) and closed. Its errors name the
// method and the URL without its query and fragment.
func Do(ctx context.Context, c *http.Client, method, target string, form url.Values) (*http.Response, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, Redact(target), unwrapURLError(err))
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, Redact(target), unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the body: %w", method, Redact(target), err)
	}
	return resp, data, nil
}

// unwrapURLError drops the *url.Error around err, whose message repeats
// the URL with its query.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// Leaves returns the absolute target of resp when it is a redirect out of
// the provider at opHost (host:port), or "".
func Leaves(resp *http.Response, opHost string) string {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return ""
	}
	loc, err := resp.Location()
	if err != nil || loc.Host == opHost {
		return ""
	}
	return loc.String()
}

// Redact returns u without its query and fragment.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<invalid URL>"
	}
	return p.Scheme + "://" + p.Host + p.Path
}
