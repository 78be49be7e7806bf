package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// clock is a settable Config.Now.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *clock) edit(cfg *client.Config) { cfg.Now = c.now }
func countTokenRequests(op *fakeOP) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return len(op.tokenForms)
}
func refreshTo(access, refresh string) func(url.Values) (int, any) {
	return func(url.Values) (int, any) { return 200, tokenResponse(access, refresh, "") }
}

// TestRejectedRule: an API that answers an expired token with 403 and no
// challenge gets a refreshed token and the request is replayed, when
// Config.Rejected says 403 is a rejection; without it the 403 comes back.
func TestRejectedRule(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rejected func(*http.Response) bool
		want     int
	}{
		{"403 rule", func(r *http.Response) bool { return r.StatusCode == http.StatusForbidden }, http.StatusOK},
		{"default", nil, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := (&fakeOP{}).serve(t)
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer at-2" {
					w.WriteHeader(http.StatusForbidden)
				}
			}))
			t.Cleanup(api.Close)
			a := account(t, fakeClient(t, op, func(c *client.Config) { c.Rejected = tc.rejected }))
			webLogin(t, op, a)
			op.set(func(op *fakeOP) { op.token = refreshTo("at-2", "rt-2") })
			resp, err := a.HTTPClient().Get(api.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// wantRetrieveError fails unless err matches *oauth2.RetrieveError with
// code and status, and with no body.
func wantRetrieveError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("errors.As(%v, *oauth2.RetrieveError): false", err)
	}
	// The token endpoint's RetrieveError carries its scrubbed body, as
	// x/oauth2's does; other endpoints' carry none. No secret is in
	// either (the secrets canary checks every output).
	if re.ErrorCode != code || re.Response == nil || re.Response.StatusCode != status {
		t.Errorf("RetrieveError: got code %q status %v, want %q %d", re.ErrorCode, re.Response, code, status)
	}
	_ = re.Error() // must not panic
}

// TestRetrieveErrorCompat: code written for x/oauth2 finds an
// *oauth2.RetrieveError in the errors of logins, of the HTTP client when
// the account must log in again, and of other endpoints.
func TestRetrieveErrorCompat(t *testing.T) {
	op := (&fakeOP{revokeCode: 503}).serve(t)
	var clk clock
	a := account(t, fakeClient(t, op, clk.edit))

	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) {
			return 400, map[string]string{"error": "invalid_grant", "error_description": "code expired"}
		}
	})
	err = a.Exchange(t.Context(), req, codeCallback(req))
	wantRetrieveError(t, err, "invalid_grant", 400)

	webLogin(t, op, a)
	op.set(func(op *fakeOP) { op.token = nil }) // invalid_grant
	clk.advance(2 * time.Hour)
	_, err = a.HTTPClient().Get(op.URL + "/userinfo")
	wantErr(t, err, tokensource.ErrLoginRequired)
	wantRetrieveError(t, err, "invalid_grant", 400)

	clk.off.Store(0)
	webLogin(t, op, a)
	err = a.Logout(t.Context())
	wantErr(t, err, client.ErrNotRevoked)
	wantRetrieveError(t, err, "temporarily_unavailable", 503)

	// A network failure has no response: it is not a RetrieveError.
	var re *oauth2.RetrieveError
	if errors.As(&client.EndpointError{Endpoint: "revocation", Err: errors.New("refused")}, &re) {
		t.Error("an EndpointError without a response matches *oauth2.RetrieveError")
	}
}
