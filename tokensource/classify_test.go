package tokensource

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestClassification checks the classification table of the package
// documentation row by row: what the Source returns for each answer, and
// what becomes of the stored record.
func TestClassification(t *testing.T) {
	const (
		temporary = iota
		login
		client
		permanent
	)
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		refused bool // no answer at all
		want    int
		deleted bool
	}{
		{"500 invalid_request (Dex, storage failure)", 500, `{"error":"invalid_request"}`, false, temporary, false},
		{"503 invalid_grant", 503, `{"error":"invalid_grant"}`, false, temporary, false},
		{"502 HTML", 502, `<html>bad gateway</html>`, false, temporary, false},
		{"408", 408, `{"error":"invalid_request"}`, false, temporary, false},
		{"429", 429, `{"error":"slow_down"}`, false, temporary, false},
		{"400 temporarily_unavailable", 400, `{"error":"temporarily_unavailable"}`, false, temporary, false},
		{"400 server_error", 400, `{"error":"server_error"}`, false, temporary, false},
		{"network failure", 0, "", true, temporary, false},
		{"400 invalid_grant", 400, `{"error":"invalid_grant"}`, false, login, true},
		{"401 invalid_grant", 401, `{"error":"invalid_grant"}`, false, login, true},
		{"400 invalid_request on a refresh grant", 400, `{"error":"invalid_request"}`, false, login, true},
		{"401 invalid_client", 401, `{"error":"invalid_client"}`, false, client, false},
		{"400 unauthorized_client", 400, `{"error":"unauthorized_client"}`, false, client, false},
		{"400 invalid_scope", 400, `{"error":"invalid_scope"}`, false, permanent, false},
		{"302 redirect", 302, ``, false, permanent, false},
		{"200 malformed", 200, `{"access_token":5}`, false, permanent, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := storage.NewMemory()
				rec := &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}
				requests := 0
				src := simSource(t, nil, store, rec, func(c *Config) {
					c.RefreshBefore = -1
					c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
						requests++
						if tt.refused {
							return nil, errSimRefused
						}
						return simResponse(req, tt.status, tt.body, http.Header{"Location": {"https://elsewhere.example/"}}), nil
					})}
				})
				_, err := src.Token()
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("got %v, want an *Error in the chain", err)
				}
				got := permanent
				switch {
				case te.Temporary():
					got = temporary
				case errors.Is(err, ErrLoginRequired):
					got = login
				case errors.Is(err, ErrInvalidClient):
					got = client
				}
				if got != tt.want {
					t.Errorf("got %v (temporary %v, login required %v, invalid client %v), want class %d", err, te.Temporary(), errors.Is(err, ErrLoginRequired), errors.Is(err, ErrInvalidClient), tt.want)
				}
				if te.Temporary() && errors.Is(err, ErrLoginRequired) {
					t.Errorf("%v is both temporary and login required", err)
				}
				_, lerr := store.Load(context.Background(), "acct")
				if deleted := errors.Is(lerr, storage.ErrNotFound); deleted != tt.deleted {
					t.Errorf("record deleted: %v, want %v", deleted, tt.deleted)
				}
				// Nothing is asked again within the back-off step, whatever
				// the class; login required is not asked again at all.
				n := requests
				for range 10 {
					src.Token()
				}
				if requests != n {
					t.Errorf("got %d requests from 10 calls in the back-off, want none", requests-n)
				}
				if tt.want == login {
					time.Sleep(10 * time.Minute)
					src.Token()
					if requests != n {
						t.Errorf("got %d requests after login required, want none", requests-n)
					}
				}
			})
		})
	}
}

// Code written for x/oauth2 finds an *oauth2.RetrieveError in a failed
// refresh, login required included, with the provider's code and
// description and no secret.
func TestRetrieveErrorCompatibility(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storage.NewMemory()
		rec := &storage.Token{AccessToken: "at", RefreshToken: "RT-secret-canary", Expiry: time.Now().Add(-time.Minute), Version: 1}
		src := simSource(t, nil, store, rec, func(c *Config) {
			c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return simResponse(req, 400, `{"error":"invalid_grant","error_description":"token RT-secret-canary was revoked"}`, nil), nil
			})}
		})
		_, err := src.Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("errors.As(%v, *oauth2.RetrieveError) = false, want true", err)
		}
		if re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 || !errors.Is(err, ErrLoginRequired) {
			t.Errorf("got %+v, want invalid_grant with status 400, and still login required", re)
		}
		if out := re.Error() + re.ErrorDescription + string(re.Body); strings.Contains(out, "RT-secret-canary") {
			t.Errorf("the RetrieveError holds the refresh token: %s", out)
		}
	})
}
