package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestDeviceLoginRealOP approves a device login through the OP's pages once
// the code is shown, then checks the tokens; a second login is denied.
func TestDeviceLoginRealOP(t *testing.T) {
	noLeaks(t)
	p := startOP(t, oidctest.Options{})
	c := newClient(t, client.Config{Issuer: p.Issuer(), ClientID: p.DeviceClient(), Scopes: []string{"profile"}})
	a := account(t, c)
	ctx := ctxWithTimeout(t, 30*time.Second)

	var wg sync.WaitGroup
	defer wg.Wait()
	decide := func(approve bool) func(client.DeviceCode) {
		return func(dc client.DeviceCode) {
			if dc.UserCode == "" || dc.VerificationURI != p.Endpoints().DeviceVerification || !strings.Contains(dc.VerificationURIComplete, "user_code=") {
				t.Errorf("device code: got %+v", dc)
			}
			if dc.Interval != time.Second || time.Until(dc.ExpiresAt) <= 0 {
				t.Errorf("device code timing: got interval %v, expires at %v", dc.Interval, dc.ExpiresAt)
			}
			wg.Go(func() {
				f := p.ApproveDevice
				if !approve {
					f = p.DenyDevice
				}
				if err := f(ctx, dc.UserCode, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
					t.Errorf("the user's decision: %v", err)
				}
			})
		}
	}
	if err := a.LoginDevice(ctx, decide(true)); err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	rec, err := a.TokenSource().Current(ctx)
	if err != nil || rec.RefreshToken == "" || rec.AuthTime.IsZero() {
		t.Fatalf("record after the device login: %v, %v", rec, err)
	}
	if id, err := a.IDToken(ctx); err != nil || id.Subject != oidctest.DefaultUsername {
		t.Fatalf("IDToken: %v, %v", id, err)
	}
	if info, err := a.UserInfo(ctx); err != nil || info.Subject != oidctest.DefaultUsername {
		t.Fatalf("UserInfo: %v, %v", info, err)
	}

	other, err := c.Account("denied")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, other.LoginDevice(ctx, decide(false)), client.ErrAccessDenied)
}

// deviceScript is a fake device authorization server, served in memory so
// that it runs inside a synctest bubble: the device authorization answer,
// then one answer per poll ("" for tokens, an error code, or "net" for a
// network failure). It records when each poll arrived.
type deviceScript struct {
	interval int // the interval sent; 0 sends none
	expires  int // expires_in
	polls    []string
	edit     func(body map[string]any) // changes the device authorization answer

	mu    sync.Mutex
	times []time.Time
}

func (d *deviceScript) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	switch r.URL.Path {
	case "/device":
		body := map[string]any{"device_code": "dev-code", "user_code": "ABCD-EFGH", "verification_uri": "https://op.test/device", "expires_in": d.expires}
		if d.interval != 0 {
			body["interval"] = d.interval
		}
		if d.edit != nil {
			d.edit(body)
		}
		writeJSON(rec, 200, body)
	case "/token":
		if err := r.ParseForm(); err != nil || r.PostForm.Get("device_code") != "dev-code" || r.PostForm.Get("client_id") != "cli" {
			writeJSON(rec, 400, map[string]string{"error": "invalid_request"})
			break
		}
		d.mu.Lock()
		n := len(d.times)
		d.times = append(d.times, time.Now())
		d.mu.Unlock()
		answer := "authorization_pending"
		if n < len(d.polls) {
			answer = d.polls[n]
		}
		switch answer {
		case "":
			writeJSON(rec, 200, tokenResponse("at", "rt", ""))
		case "net":
			return nil, errors.New("connection reset by peer")
		case "503":
			writeJSON(rec, 503, map[string]string{"error": "temporarily_unavailable"})
		default:
			writeJSON(rec, 400, map[string]string{"error": answer})
		}
	default:
		rec.WriteHeader(404)
	}
	return rec.Result(), nil
}

// gaps returns the time between the device code and each poll.
func (d *deviceScript) gaps(start time.Time) []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	var g []time.Duration
	for _, t := range d.times {
		g = append(g, t.Sub(start))
		start = t
	}
	return g
}

type deviceCase struct {
	name   string
	script *deviceScript
	cancel time.Duration // cancel ctx after this long (0: never)
	want   error         // nil: logged in
	gaps   []time.Duration
}

func (tc deviceCase) run(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := client.New(t.Context(), client.Config{ClientID: "cli", HTTPClient: &http.Client{Transport: tc.script},
			Endpoints: client.Endpoints{Token: "https://op.test/token", DeviceAuth: "https://op.test/device"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a := account(t, c)
		ctx := t.Context()
		if tc.cancel > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, tc.cancel)
			defer cancel()
		}
		start := time.Now()
		err = a.LoginDevice(ctx, func(client.DeviceCode) {})
		if tc.want == nil && err != nil {
			t.Fatalf("LoginDevice: %v", err)
		}
		if tc.want != nil {
			wantErr(t, err, tc.want)
		}
		if got := tc.script.gaps(start); tc.gaps != nil && !equalDurations(got, tc.gaps) {
			t.Errorf("polls after %v, want %v", got, tc.gaps)
		}
	})
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDevicePolling(t *testing.T) {
	s := time.Second
	for _, tc := range []deviceCase{
		{name: "default interval", script: &deviceScript{expires: 600, polls: []string{"authorization_pending", ""}},
			gaps: []time.Duration{5 * s, 5 * s}},
		{name: "server interval and slow_down", script: &deviceScript{interval: 2, expires: 600, polls: []string{"authorization_pending", "slow_down", "authorization_pending", "slow_down", ""}},
			gaps: []time.Duration{2 * s, 2 * s, 7 * s, 7 * s, 12 * s}},
		{name: "network errors back off", script: &deviceScript{interval: 1, expires: 600, polls: []string{"net", "net", "503", "authorization_pending", ""}},
			gaps: []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 1 * s}},
		{name: "access_denied", script: &deviceScript{interval: 1, expires: 600, polls: []string{"authorization_pending", "access_denied"}},
			want: client.ErrAccessDenied},
		{name: "expired_token", script: &deviceScript{interval: 1, expires: 600, polls: []string{"expired_token"}},
			want: client.ErrDeviceCodeExpired},
		{name: "expires_in passes", script: &deviceScript{interval: 5, expires: 12},
			want: client.ErrDeviceCodeExpired, gaps: []time.Duration{5 * s, 5 * s}},
		{name: "other error", script: &deviceScript{interval: 1, expires: 600, polls: []string{"invalid_client"}},
			want: errAny},
		{name: "context cancelled", script: &deviceScript{interval: 5, expires: 600}, cancel: 12 * s,
			want: context.DeadlineExceeded, gaps: []time.Duration{5 * s, 5 * s}},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestDeviceErrorsAreTyped checks that the token endpoint's error is kept.
func TestDeviceErrorsAreTyped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{interval: 1, expires: 60, polls: []string{"access_denied"}}
		c, err := client.New(t.Context(), client.Config{ClientID: "cli", HTTPClient: &http.Client{Transport: script},
			Endpoints: client.Endpoints{Token: "https://op.test/token", DeviceAuth: "https://op.test/device"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = account(t, c).LoginDevice(t.Context(), func(client.DeviceCode) {})
		var te *tokensource.Error
		if !errors.As(err, &te) || te.Code != "access_denied" || strings.Contains(err.Error(), "dev-code") {
			t.Fatalf("got %v, want the provider's access_denied without the device code", err)
		}
	})
}

// TestDeviceResponseBounds: numbers of the device authorization response
// are bounded (a huge expires_in polls until MaxDeviceCodeLifetime instead
// of overflowing), and unsafe verification URIs and user codes are
// refused with ErrBadDeviceResponse before anything is shown.
func TestDeviceResponseBounds(t *testing.T) {
	s := time.Second
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	never := make([]string, 0)                          // every poll: authorization_pending
	hour := slices.Repeat([]time.Duration{300 * s}, 11) // MaxDeviceCodeLifetime at MaxDeviceInterval
	for _, tc := range []deviceCase{
		{name: "expires_in 1e10", script: &deviceScript{interval: 300, edit: set("expires_in", 1e10), polls: never},
			want: client.ErrDeviceCodeExpired, gaps: hour},
		{name: "expires_in huge integer", script: &deviceScript{interval: 300, edit: set("expires_in", int64(1)<<62), polls: never},
			want: client.ErrDeviceCodeExpired, gaps: hour},
		{name: "expires_in as a string", script: &deviceScript{interval: 2, edit: set("expires_in", "5"), polls: never},
			want: client.ErrDeviceCodeExpired, gaps: []time.Duration{2 * s, 2 * s}},
		{name: "expires_in negative", script: &deviceScript{edit: set("expires_in", -1)}, want: tokensource.ErrMalformedResponse},
		{name: "interval 1e10", script: &deviceScript{expires: 600, edit: set("interval", 1e10)}, want: client.ErrBadDeviceResponse},
		{name: "interval negative", script: &deviceScript{expires: 600, edit: set("interval", -5)}, want: client.ErrBadDeviceResponse},
		{name: "interval a millisecond", script: &deviceScript{expires: 600, edit: set("interval", 0.001), polls: []string{"authorization_pending", ""}},
			gaps: []time.Duration{1 * s, 1 * s}},
		{name: "javascript: URI", script: &deviceScript{expires: 600, edit: set("verification_uri", "javascript:alert(1)")}, want: client.ErrBadDeviceResponse},
		{name: "http URI", script: &deviceScript{expires: 600, edit: set("verification_uri", "http://op.test/device")}, want: client.ErrBadDeviceResponse},
		{name: "data: complete URI", script: &deviceScript{expires: 600, edit: set("verification_uri_complete", "data:text/html,<script>x</script>")}, want: client.ErrBadDeviceResponse},
		{name: "http complete URI", script: &deviceScript{expires: 600, edit: set("verification_uri_complete", "http://evil.example/device?user_code=X")}, want: client.ErrBadDeviceResponse},
		{name: "loopback http URI", script: &deviceScript{expires: 600, edit: set("verification_uri", "http://127.0.0.1:8080/device"), polls: []string{""}}},
		{name: "user code with ESC", script: &deviceScript{expires: 600, edit: set("user_code", "AB\x1b]0;pwned\x07CD")}, want: client.ErrBadDeviceResponse},
		{name: "user code with markup", script: &deviceScript{expires: 600, edit: set("user_code", "<b>ABCD</b>")}, want: client.ErrBadDeviceResponse},
	} {
		t.Run(tc.name, tc.run)
	}
}
