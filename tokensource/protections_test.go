package tokensource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Protections that an audit removed one at a time without a test
// noticing; each test below fails when its protection is removed.

// endlessBody is a response body of 16 MiB of spaces, counting what is
// read: for a reader without a limit it might as well be endless.
type endlessBody struct{ read atomic.Int64 }

func (b *endlessBody) Read(p []byte) (int, error) {
	if b.read.Load() >= 16<<20 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = ' '
	}
	b.read.Add(int64(len(p)))
	return len(p), nil
}

func (b *endlessBody) Close() error { return nil }

// The token endpoint's answer is read through a 1 MiB limit: an endless
// body is refused after a little more than 1 MiB, not read forever.
func TestTokenResponseBodyIsLimited(t *testing.T) {
	body := &endlessBody{}
	src := simSource(t, nil, storage.NewMemory(), &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Request: req}, nil
		})}
	})
	_, err := src.Token()
	if !errors.Is(err, ErrMalformedResponse) {
		t.Errorf("got %v, want ErrMalformedResponse for a body over 1 MiB", err)
	}
	if n := body.read.Load(); n > oauthwire.MaxBody+64<<10 {
		t.Errorf("read %d bytes of an endless body, want at most about %d", n, oauthwire.MaxBody)
	}
}

// A Retry-After of years is honoured for at most an hour.
func TestRetryAfterIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		src := simSource(t, nil, storage.NewMemory(), &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}, func(c *Config) {
			c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				io.Copy(io.Discard, req.Body)
				n.Add(1)
				return simResponse(req, 503, `{"error":"temporarily_unavailable"}`, http.Header{"Retry-After": {"315360000"}}), nil
			})}
		})
		src.Token()
		time.Sleep(61 * time.Minute)
		if got := n.Load(); got != 2 {
			t.Errorf("got %d requests in 61 minutes after Retry-After: 315360000, want 2 (the hint capped at an hour)", got)
		}
	})
}

// Compare-and-delete compares: a rejected refresh token's record is
// deleted only if the store still holds it at its Version; a newer record
// carrying the same refresh token (expired, so not adopted) is kept.
func TestCompareAndDeleteKeepsANewerRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storage.NewMemory()
		rec := &storage.Token{AccessToken: "at-1", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}
		newer := &storage.Token{AccessToken: "at-2", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second), Version: 2}
		src := simSource(t, nil, store, rec, func(c *Config) {
			c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				store.Save(context.Background(), "acct", newer) // a peer saves while our request is out
				return simResponse(req, 400, `{"error":"invalid_grant"}`, nil), nil
			})}
		})
		if _, err := src.Token(); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want ErrLoginRequired", err)
		}
		if got, err := store.Load(context.Background(), "acct"); err != nil || got.Version != 2 {
			t.Errorf("stored %v, %v; want the newer record kept", got, err)
		}
	})
}

// Error codes are kept only in the characters registered codes use: an
// HTML payload in "error" never reaches an error string as markup.
func TestErrorCodeIsSanitised(t *testing.T) {
	src := simSource(t, nil, storage.NewMemory(), &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1}, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return simResponse(req, 400, `{"error":"<img src=x onerror=alert(1)>"}`, nil), nil
		})}
	})
	_, err := src.Token()
	var te *Error
	if !errors.As(err, &te) || strings.ContainsAny(te.Code+err.Error(), "<>= ()") && strings.Contains(err.Error(), "<img") {
		t.Fatalf("got %v, want an *Error with the code sanitised", err)
	}
	if te.Code != "_img_src_x_onerror_alert_1__" {
		t.Errorf("got code %q, want %q", te.Code, "_img_src_x_onerror_alert_1__")
	}
}
