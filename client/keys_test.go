package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Keys of the internal tests, generated once per test binary.
var (
	testRSA1 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	testRSA2 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	testEC   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

const testIssuer, testClientID, testJWKS = "https://op.example", "app", "https://op.example/keys"

// jwksRT serves a JWK set at testJWKS and counts the requests.
type jwksRT struct {
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int32
}

func (rt *jwksRT) set(keys ...jose.JSONWebKey) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.keys = keys
}

func (rt *jwksRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() != testJWKS {
		return jsonResponse(r, http.StatusNotFound, map[string]string{"error": "not_found"}), nil
	}
	rt.fetches.Add(1)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return jsonResponse(r, http.StatusOK, jose.JSONWebKeySet{Keys: rt.keys}), nil
}

// pub is the public JWK of key with kid and alg ("": none).
func pub(key crypto.Signer, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testVerifier returns an ID token verifier of testIssuer and testClientID
// whose keys rt serves, on clock, with cfg's changes.
func testVerifier(rt http.RoundTripper, clock *fakeClock, edit ...func(*Config)) *idVerifier {
	cfg := Config{Issuer: testIssuer, ClientID: testClientID, Now: clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	return newIDVerifier(cfg, testJWKS, &http.Client{Transport: rt})
}

// validClaims are claims that pass every check at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "sub": "user-1", "aud": testClientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

// signJWT signs claims with key and alg; kid "" leaves it out.
func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	payload, ok := claims.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUnknownKidRefetchLimited: a token with an unknown kid makes one
// JWKS fetch per KeyRefetchInterval; the others fail at once with
// ErrUnknownKeyID, also when they arrive together; a rotated key is found
// once the interval has passed.
func TestUnknownKidRefetchLimited(t *testing.T) {
	rt := &jwksRT{}
	rt.set(pub(testRSA1(), "key-1", "RS256"))
	clock := &fakeClock{now: time.Now()}
	v := testVerifier(rt, clock)
	verify := func(key *rsa.PrivateKey, kid string) error {
		_, err := v.verify(t.Context(), signJWT(t, jose.RS256, key, kid, validClaims(clock.Now())), checks{expiry: true})
		return err
	}
	wantFetches := func(step string, want int32) {
		t.Helper()
		if got := rt.fetches.Load(); got != want {
			t.Fatalf("%s: got %d JWKS fetches, want %d", step, got, want)
		}
	}
	if err := verify(testRSA1(), "key-1"); err != nil {
		t.Fatalf("known kid: %v", err)
	}
	wantFetches("first token", 1)
	for i := range 20 {
		if err := verify(testRSA2(), fmt.Sprintf("unknown-%d", i)); !errors.Is(err, ErrUnknownKeyID) {
			t.Fatalf("unknown kid %d: got %v, want ErrUnknownKeyID", i, err)
		}
	}
	wantFetches("20 unknown kids", 2)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := verify(testRSA2(), fmt.Sprintf("together-%d", i)); !errors.Is(err, ErrUnknownKeyID) {
				t.Errorf("concurrent unknown kid: got %v, want ErrUnknownKeyID", err)
			}
		})
	}
	wg.Wait()
	wantFetches("20 concurrent unknown kids", 2)

	rt.set(pub(testRSA1(), "key-1", "RS256"), pub(testRSA2(), "key-2", "RS256")) // the provider rotates
	clock.advance(KeyRefetchInterval - time.Millisecond)
	if err := verify(testRSA2(), "key-2"); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("rotated kid within the interval: got %v, want ErrUnknownKeyID", err)
	}
	wantFetches("within the interval", 2)
	clock.advance(time.Millisecond)
	if err := verify(testRSA2(), "key-2"); err != nil {
		t.Fatalf("rotated kid after the interval: %v", err)
	}
	wantFetches("after the interval", 3)
	if err := verify(testRSA1(), "key-1"); err != nil {
		t.Fatalf("old kid after the rotation: %v", err)
	}
	wantFetches("known kid", 3)
}

// TestMissingKid: a token without a kid is verified only when exactly one
// key of the JWKS is usable for its algorithm.
func TestMissingKid(t *testing.T) {
	enc := pub(testRSA2(), "enc", "")
	enc.Use = "enc"
	for _, tc := range []struct {
		name string
		keys []jose.JSONWebKey
		want error
	}{
		{"one key", []jose.JSONWebKey{pub(testRSA1(), "key-1", "RS256")}, nil},
		{"one key without kid", []jose.JSONWebKey{pub(testRSA1(), "", "")}, nil},
		{"two RSA keys", []jose.JSONWebKey{pub(testRSA1(), "key-1", "RS256"), pub(testRSA2(), "key-2", "RS256")}, ErrMissingKeyID},
		{"two RSA keys without alg", []jose.JSONWebKey{pub(testRSA1(), "key-1", ""), pub(testRSA2(), "key-2", "")}, ErrMissingKeyID},
		{"RSA and EC", []jose.JSONWebKey{pub(testRSA1(), "key-1", ""), pub(testEC(), "key-ec", "")}, nil},
		{"RSA and an RS512 key", []jose.JSONWebKey{pub(testRSA1(), "key-1", "RS256"), pub(testRSA2(), "key-2", "RS512")}, nil},
		{"RSA and an encryption key", []jose.JSONWebKey{pub(testRSA1(), "key-1", "RS256"), enc}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &jwksRT{}
			rt.set(tc.keys...)
			clock := &fakeClock{now: time.Now()}
			v := testVerifier(rt, clock)
			_, err := v.verify(t.Context(), signJWT(t, jose.RS256, testRSA1(), "", validClaims(clock.now)), checks{expiry: true})
			if tc.want == nil && err != nil {
				t.Fatalf("got %v, want the token accepted", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSigningAlgAllowList tests the allow-list itself: the key (an RSA
// key published without alg) would verify RS384 and PS256 signatures, so
// only the list refuses them. Config.IDTokenSigningAlgs widens it.
func TestSigningAlgAllowList(t *testing.T) {
	rt := &jwksRT{}
	rt.set(pub(testRSA1(), "key-1", ""), pub(testEC(), "key-ec", ""))
	for _, tc := range []struct {
		alg  jose.SignatureAlgorithm
		key  any
		kid  string
		algs []string // Config.IDTokenSigningAlgs
		ok   bool
	}{
		{jose.RS256, testRSA1(), "key-1", nil, true},
		{jose.RS384, testRSA1(), "key-1", nil, false},
		{jose.RS512, testRSA1(), "key-1", nil, false},
		{jose.PS256, testRSA1(), "key-1", nil, false},
		{jose.ES256, testEC(), "key-ec", nil, false},
		{jose.RS384, testRSA1(), "key-1", []string{"RS384"}, true},
		{jose.PS256, testRSA1(), "key-1", []string{"RS256", "PS256"}, true},
		{jose.ES256, testEC(), "key-ec", []string{"ES256"}, true},
		{jose.RS256, testRSA1(), "key-1", []string{"ES256"}, false},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.alg, strings.Join(tc.algs, "+")), func(t *testing.T) {
			clock := &fakeClock{now: time.Now()}
			v := testVerifier(rt, clock, func(c *Config) { c.IDTokenSigningAlgs = tc.algs })
			_, err := v.verify(t.Context(), signJWT(t, tc.alg, tc.key, tc.kid, validClaims(clock.now)), checks{expiry: true})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("got %v, want the token accepted", err)
			case !tc.ok && !errors.Is(err, ErrInvalidIDToken):
				t.Fatalf("got %v, want ErrInvalidIDToken", err)
			}
		})
	}
}

// gatedRT is jwksRT whose answers wait until gate is closed.
type gatedRT struct {
	jwksRT
	gate chan struct{}
}

func (rt *gatedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	<-rt.gate
	return rt.jwksRT.RoundTrip(r)
}

// TestConcurrentVerificationsFetchOnce: verifications that all need the
// JWKS at once (the first ones, or unknown kids once the interval has
// passed) make one fetch, whose keys they all use.
func TestConcurrentVerificationsFetchOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &gatedRT{}
		rt.set(pub(testRSA1(), "key-1", "RS256"))
		v := newIDVerifier(Config{Issuer: testIssuer, ClientID: testClientID}, testJWKS, &http.Client{Transport: rt})
		run := func(key *rsa.PrivateKey, kid string) {
			rt.gate = make(chan struct{})
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if _, err := v.verify(t.Context(), signJWT(t, jose.RS256, key, kid, validClaims(time.Now())), checks{expiry: true}); err != nil {
						t.Errorf("verify: %v", err)
					}
				})
			}
			synctest.Wait() // all 20 wait for the one fetch in flight
			close(rt.gate)
			wg.Wait()
		}
		run(testRSA1(), "key-1")
		if got := rt.fetches.Load(); got != 1 {
			t.Fatalf("20 first verifications: got %d fetches, want 1", got)
		}
		rt.set(pub(testRSA1(), "key-1", "RS256"), pub(testRSA2(), "key-2", "RS256"))
		time.Sleep(KeyRefetchInterval)
		run(testRSA2(), "key-2")
		if got := rt.fetches.Load(); got != 2 {
			t.Fatalf("20 verifications with a new kid: got %d fetches, want 2", got)
		}
	})
}
