package tokensource_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// FuzzParseDPoPKey: any stored value gives a key whose proofs verify, or
// an error matching ErrMalformedKey or ErrUnsupportedKey; never a panic.
// A nonce of any content is remembered only if RFC 9449 allows it, and
// never breaks a proof.
func FuzzParseDPoPKey(f *testing.F) {
	for _, alg := range dpopAlgs {
		f.Add(dpopKey(f, alg).Encode(), "nonce-1")
	}
	f.Add("", "")
	f.Add("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg", "a b")
	f.Fuzz(func(t *testing.T, enc, nonce string) {
		k, err := tokensource.ParseDPoPKey(enc)
		if err != nil {
			if k != nil || !errors.Is(err, tokensource.ErrMalformedKey) && !errors.Is(err, tokensource.ErrUnsupportedKey) {
				t.Fatalf("got %v, %v; want no key and a typed error", k, err)
			}
			return
		}
		u := &url.URL{Scheme: "https", Host: "rs.example", Path: "/x"}
		k.SetNonce(u, nonce)
		proof, err := k.Proof(http.MethodGet, u, "at", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		r.Header.Set("DPoP", proof)
		r.Header.Set("Authorization", "DPoP at")
		p, err := (&tokentest.DPoPChecker{}).Check(r, "https://rs.example/x", "at")
		if err != nil {
			t.Fatalf("a parsed key made a proof the verifier refuses: %v", err)
		}
		if p.Nonce != k.Nonce(u) {
			t.Fatalf("proof nonce %q, remembered %q", p.Nonce, k.Nonce(u))
		}
	})
}
