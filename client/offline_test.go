package client_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// countingRT counts the requests sent through it, by path, and sends them
// on with http.DefaultTransport.
type countingRT struct {
	mu   sync.Mutex
	hits map[string]int
}

func (rt *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	if rt.hits == nil {
		rt.hits = map[string]int{}
	}
	rt.hits[r.URL.Path]++
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *countingRT) count(path string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if path == "" {
		n := 0
		for _, v := range rt.hits {
			n += v
		}
		return n
	}
	return rt.hits[path]
}

// offlineSetup logs in once with the fake OP (which discovers and caches)
// and returns the store, the OP and its server, still running.
func offlineSetup(t *testing.T) (*storage.Memory, *fakeOP, *httptest.Server, *countingRT) {
	t.Helper()
	op := &fakeOP{}
	srv := httptest.NewServer(op)
	t.Cleanup(srv.Close)
	op.URL = srv.URL
	store := storage.NewMemory()
	rt := &countingRT{}
	c, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, Store: store, HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	webLogin(t, op, account(t, c))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rt.count("/.well-known/openid-configuration") != 1 || rt.count("/jwks") != 1 {
		t.Fatalf("first run: got %v, want one discovery and one JWKS request", rt.hits)
	}
	return store, op, srv, rt
}

// TestOfflineStart: with the discovery document cached and a valid access
// token stored, a new Client serves the token and sends requests with it
// while the provider is unreachable, making no request to it.
func TestOfflineStart(t *testing.T) {
	store, op, srv, _ := offlineSetup(t)
	srv.Close() // the provider is gone
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-1" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(api.Close)
	rt := &countingRT{}
	c, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, Store: store, HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatalf("New with the provider unreachable: %v", err)
	}
	defer c.Close()
	if c.Endpoints().Token != op.URL+"/token" {
		t.Errorf("Endpoints: got %+v", c.Endpoints())
	}
	a := account(t, c)
	if tok, err := a.TokenSource().Token(); err != nil || tok.AccessToken != "at-1" {
		t.Fatalf("Token: %v, %v", tok, err)
	}
	resp, err := a.HTTPClient().Get(api.URL + "/api")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("API request: %v, %v", resp, err)
	}
	resp.Body.Close()
	if _, err := a.IDToken(t.Context()); err != nil { // verified with the cached JWKS
		t.Errorf("IDToken: %v", err)
	}
	c.Close()
	if n := rt.count("") - rt.count("/api"); n != 0 {
		t.Errorf("requests to the provider: got %d (%v), want 0", n, rt.hits)
	}
}

// TestOfflineCacheInvalid: a cached document that fails the checks is
// discarded, never used: New discovers again (and fails when the provider
// is unreachable).
func TestOfflineCacheInvalid(t *testing.T) {
	for _, tc := range []struct{ name, from, to string }{
		{"issuer", `"issuer":"http://127.0.0.1`, `"issuer":"http://127.0.0.2`},
		{"plain http token endpoint", `"token_endpoint":"http://127.0.0.1`, `"token_endpoint":"http://op.example`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, op, srv, _ := offlineSetup(t)
			key := client.ReservedKeyPrefix + "discovery:" + op.URL
			rec, err := store.Load(t.Context(), key)
			if err != nil || !strings.Contains(rec.AccessToken, tc.from) {
				t.Fatalf("cache record: %v (has %q: %t)", err, tc.from, err == nil && strings.Contains(rec.AccessToken, tc.from))
			}
			rec.AccessToken = strings.Replace(rec.AccessToken, tc.from, tc.to, 1)
			if err := store.Save(t.Context(), key, rec); err != nil {
				t.Fatal(err)
			}
			rt := &countingRT{}
			c, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, Store: store, HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			c.Close()
			if got := rt.count("/.well-known/openid-configuration"); got != 1 || c.Endpoints().Token != op.URL+"/token" {
				t.Errorf("discovery requests: got %d, want 1; token endpoint %q", got, c.Endpoints().Token)
			}
			rec.AccessToken = strings.Replace(rec.AccessToken, tc.from, tc.to, 1)
			store.Save(t.Context(), key, rec)
			srv.Close()
			if c, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, Store: store}); err == nil {
				c.Close()
				t.Error("New with a tampered cache and no provider: no error")
			}
		})
	}
}

// TestOfflineCacheStale: a document older than its max-age is used at
// once and fetched again in the background; Close waits for that.
func TestOfflineCacheStale(t *testing.T) {
	store, op, _, _ := offlineSetup(t)
	rt := &countingRT{}
	later := func() time.Time { return time.Now().Add(client.DefaultDiscoveryMaxAge + time.Hour) }
	c, err := client.New(t.Context(), client.Config{Issuer: op.URL, ClientID: fakeClientID, Store: store, HTTPClient: &http.Client{Transport: rt}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := client.ReservedKeyPrefix + "discovery:" + op.URL
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec, err := store.Load(t.Context(), key)
		if err == nil && rec.AuthTime.After(time.Now().Add(client.DefaultDiscoveryMaxAge)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache was not refreshed in the background: %v, %v", rec, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rt.count("/.well-known/openid-configuration"); got != 1 {
		t.Errorf("background discovery requests: got %d, want 1", got)
	}
}
