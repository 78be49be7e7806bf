package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// Device flow timing (RFC 8628 §3.2, §3.5).
const (
	DefaultDeviceInterval = 5 * time.Second // when the provider sends no interval
	slowDownStep          = 5 * time.Second // added on every slow_down
	maxDeviceBackoff      = time.Minute     // cap of the backoff after network errors
	// MaxDeviceCodeLifetime caps how long LoginDevice polls: a longer
	// expires_in is shortened to it.
	MaxDeviceCodeLifetime = time.Hour
	// MaxDeviceInterval is the longest polling interval accepted from a
	// device authorization response; a longer one is refused.
	MaxDeviceInterval = 5 * time.Minute
)

const grantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// DeviceCode is what the user needs to approve a device login (RFC 8628
// §3.2). Show UserCode and VerificationURI (or the
// VerificationURIComplete, which has the code in it, e.g. as a QR code).
type DeviceCode struct {
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string        // "" when the provider sent none
	ExpiresAt               time.Time     // when the code expires, by Config.Now
	Interval                time.Duration // how often the token endpoint is polled
}

// deviceAuth is the device authorization response.
type deviceAuth struct {
	DeviceCode              string  `json:"device_code"`
	UserCode                string  `json:"user_code"`
	VerificationURI         string  `json:"verification_uri"`
	VerificationURL         string  `json:"verification_url"` // Google's name for it
	VerificationURIComplete string  `json:"verification_uri_complete"`
	ExpiresIn               seconds `json:"expires_in"`
	Interval                seconds `json:"interval"`
}

// seconds is a number of seconds sent as a JSON number or, as some
// providers do, a string holding one.
type seconds float64

func (s *seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		*s = seconds(f)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("not a number of seconds")
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return errors.New("not a number of seconds")
	}
	*s = seconds(f)
	return nil
}

// duration returns s as a duration, at most limit: no overflow.
func (s seconds) duration(limit time.Duration) time.Duration {
	if float64(s) >= limit.Seconds() {
		return limit
	}
	return time.Duration(float64(s) * float64(time.Second))
}

// LoginDevice logs the account in with the device authorization grant
// (RFC 8628), for CLIs and devices without a usable browser: it requests a
// device code, calls show once with the user code and verification URI
// (nil show prints them to os.Stderr; show should return promptly), then
// polls the token endpoint every
// Interval until the user approves on another device. slow_down adds 5 s
// to the interval; network failures and 5xx answers back off (doubling,
// up to a minute) and polling goes on. The tokens are saved with AuthTime
// set to now. With Config.DPoP the login makes a fresh DPoP key and every
// poll proves possession of it, so that the tokens are bound to it.
//
// It fails with [ErrAccessDenied] when the user denies, with
// [ErrDeviceCodeExpired] when the code expires first, with ctx's error
// when ctx is done, with [ErrUnsupported] when the provider has no device
// authorization endpoint, and with [ErrLoginInProgress] when another login
// on the account runs.
func (a *Account) LoginDevice(ctx context.Context, show func(DeviceCode)) error {
	release, err := a.beginLogin()
	if err != nil {
		return err
	}
	defer release()
	if a.c.ep.DeviceAuth == "" {
		return fmt.Errorf("%w: the provider has no device authorization endpoint", ErrUnsupported)
	}
	da, err := a.c.deviceAuthorization(ctx)
	if err != nil {
		return err
	}
	dc := DeviceCode{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		ExpiresAt:               a.c.now().Add(da.ExpiresIn.duration(MaxDeviceCodeLifetime)),
		Interval:                da.Interval.duration(MaxDeviceInterval),
	}
	switch {
	case dc.Interval <= 0:
		dc.Interval = DefaultDeviceInterval
	case dc.Interval < time.Second: // RFC 8628 counts in whole seconds
		dc.Interval = time.Second
	}
	if show == nil {
		show = printDeviceCode
	}
	key, err := a.c.newDPoPKey()
	if err != nil {
		return err
	}
	show(dc)
	return a.pollDevice(ctx, da.DeviceCode, dc, key)
}

func printDeviceCode(dc DeviceCode) {
	fmt.Fprintf(os.Stderr, "To log in, visit %s and enter the code %s\n", dc.VerificationURI, dc.UserCode)
}

// deviceAuthorization requests a device code (RFC 8628 §3.1).
func (c *Client) deviceAuthorization(ctx context.Context) (*deviceAuth, error) {
	form := url.Values{"scope": {strings.Join(c.oauth.Scopes, " ")}}
	status, body, secrets, err := c.postForm(ctx, c.ep.DeviceAuth, form, nil)
	if err != nil {
		return nil, &EndpointError{Endpoint: "device authorization", Err: err}
	}
	if status != http.StatusOK {
		return nil, endpointError("device authorization", status, body, secrets...)
	}
	var da deviceAuth
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, &EndpointError{Endpoint: "device authorization", StatusCode: status, Err: fmt.Errorf("%w: %v", tokensource.ErrMalformedResponse, err)}
	}
	if da.VerificationURI == "" {
		da.VerificationURI = da.VerificationURL
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" || da.ExpiresIn <= 0 {
		return nil, &EndpointError{Endpoint: "device authorization", StatusCode: status,
			Err: fmt.Errorf("%w: device_code, user_code, verification_uri or expires_in missing", tokensource.ErrMalformedResponse)}
	}
	if err := da.check(); err != nil {
		return nil, &EndpointError{Endpoint: "device authorization", StatusCode: status, Err: err}
	}
	return &da, nil
}

// check refuses what the user would be shown or the polling would use
// unsafely: verification URIs other than https (or http to a loopback
// host, e.g. javascript:), a user code with control, formatting or markup
// characters (it is printed to a terminal), and an interval that is
// negative or longer than MaxDeviceInterval.
func (da *deviceAuth) check() error {
	for _, u := range []struct{ name, url string }{{"verification_uri", da.VerificationURI}, {"verification_uri_complete", da.VerificationURIComplete}} {
		if u.url == "" {
			continue
		}
		if err := checkURL(u.url); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadDeviceResponse, u.name, err)
		}
	}
	if len(da.UserCode) > 64 || oauthwire.Sanitize(da.UserCode, 64) != da.UserCode {
		return fmt.Errorf("%w: the user_code has control or markup characters or is too long", ErrBadDeviceResponse)
	}
	if da.Interval < 0 || float64(da.Interval) > MaxDeviceInterval.Seconds() {
		return fmt.Errorf("%w: interval %g s is not between 0 and %s", ErrBadDeviceResponse, float64(da.Interval), MaxDeviceInterval)
	}
	return nil
}

// pollDevice polls the token endpoint until the user decides, the code
// expires or ctx is done (RFC 8628 §3.4, §3.5). With key (Config.DPoP),
// every poll carries a proof by it and the tokens are bound to it.
func (a *Account) pollDevice(ctx context.Context, deviceCode string, dc DeviceCode, key *tokensource.DPoPKey) error {
	form := url.Values{"grant_type": {grantTypeDeviceCode}, "device_code": {deviceCode}}
	interval, wait := dc.Interval, dc.Interval
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("client: device login: %w", ctx.Err())
		case <-timer.C:
		}
		if !a.c.now().Before(dc.ExpiresAt) {
			return kindf(ErrDeviceCodeExpired, "the user did not approve the login in time")
		}
		t, err := a.c.exchange(ctx, form, key)
		if err == nil {
			return a.finishLogin(ctx, "device_code", t, "", false)
		}
		var te *tokensource.Error
		if !errors.As(err, &te) {
			return fmt.Errorf("client: device login: %w", err)
		}
		switch {
		case te.Code == "authorization_pending":
			wait = interval
		case te.Code == "slow_down":
			interval += slowDownStep
			wait = interval
		case te.Code == "expired_token":
			return withKind(ErrDeviceCodeExpired, err)
		case te.Code == "access_denied":
			return withKind(ErrAccessDenied, err)
		case te.Temporary() && ctx.Err() == nil:
			wait = min(max(2*wait, te.RetryAfter), maxDeviceBackoff)
			a.c.log.Debug("client: device login: polling failed, backing off", "delay", wait, "error", err.Error())
		default:
			return fmt.Errorf("client: device login: %w", err)
		}
		timer.Reset(wait)
	}
}
