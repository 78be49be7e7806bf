package tokensource

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

var outageAnchor = flag.Bool("anchor", false, "TestOutageRequests: also measure the anchor, oauth2.ReuseTokenSource")

// countNet is a token endpoint that cannot be reached: it counts the
// requests it refuses.
type countNet struct{ n atomic.Int64 }

func (c *countNet) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	c.n.Add(1)
	return nil, errSimRefused
}

// TestOutageRequests is the outage figure of BENCHMARKS.md: a ten-minute
// outage of the token endpoint (virtual time) while 100 goroutines call
// Token() every 10 ms on an expired token, and how many token requests
// that makes, by a Source and, as the anchor, by x/oauth2's
// ReuseTokenSource over the same expired token. It is a count, not a
// time, so one run gives the figure exactly. The anchor makes millions of
// requests (half a minute), so it runs only with -anchor:
//
//	go test ./tokensource -run TestOutageRequests -v -anchor
func TestOutageRequests(t *testing.T) {
	const (
		outage  = 10 * time.Minute
		callers = 100
		every   = 10 * time.Millisecond
	)
	for _, impl := range []string{"tokenkeeper", "oauth2.ReuseTokenSource"} {
		t.Run("impl="+impl, func(t *testing.T) {
			if impl != "tokenkeeper" && !*outageAnchor {
				t.Skip("the anchor makes millions of requests: run it with -anchor")
			}
			synctest.Test(t, func(t *testing.T) {
				net := &countNet{}
				hc := &http.Client{Transport: net}
				conf := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}}
				expired := time.Now().Add(-time.Minute)
				var ts oauth2.TokenSource
				if impl == "tokenkeeper" {
					store := storage.NewMemory()
					store.Save(context.Background(), "acct", &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: expired, Version: 1})
					src, err := New(Config{OAuth2: conf, Store: store, Key: "acct", HTTPClient: hc})
					if err != nil {
						t.Fatal(err)
					}
					defer src.Close()
					ts = src
				} else {
					ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
					ts = conf.TokenSource(ctx, &oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: expired})
				}
				var calls, failed atomic.Int64
				end := time.Now().Add(outage)
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						for time.Now().Before(end) {
							calls.Add(1)
							if _, err := ts.Token(); err != nil {
								failed.Add(1)
							}
							time.Sleep(every)
						}
					})
				}
				wg.Wait()
				n := net.n.Load()
				t.Logf("impl=%s: %d token requests for %d Token() calls (%d failed) in a %v outage", impl, n, calls.Load(), failed.Load(), outage)
				if failed.Load() != calls.Load() {
					t.Errorf("got %d failed calls of %d during the outage, want all", failed.Load(), calls.Load())
				}
				if impl == "tokenkeeper" && n > 20 {
					t.Errorf("got %d token requests, want at most 20: one per back-off step", n)
				}
				var te *Error
				if _, err := ts.Token(); impl == "tokenkeeper" && (!errors.As(err, &te) || !te.Temporary()) {
					t.Errorf("got %v, want a temporary *Error", err)
				}
			})
		})
	}
}
