package transport_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// okTransport answers every request with the same canned 200, without I/O,
// so that the benchmarks measure the Transport and its Source only.
type okTransport struct{ resp *http.Response }

func (s okTransport) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

// fixedProver gives a DPoP token and the same proof every time: what
// RoundTrip costs with DPoP apart from making the proof.
type fixedProver struct{}

var fixedToken = &oauth2.Token{AccessToken: strings.Repeat("a", 900), TokenType: "DPoP"}

func (fixedProver) Token() (*oauth2.Token, error) { return fixedToken, nil }
func (fixedProver) DPoPProof(string, *url.URL, *oauth2.Token) (string, error) {
	return "eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiIxIn0.c2ln", nil
}
func (fixedProver) DPoPNonce(*url.URL, string) {}

// BenchmarkRoundTripDPoP compares, in one run, RoundTrip with a real
// *tokensource.Source holding a fresh Bearer token and one holding a fresh
// DPoP-bound token (a new proof per request) for each key algorithm, and
// beside each algorithm the proof alone (Source.DPoPProof), the floor of a
// DPoP request; and RoundTrip with a prover that returns a fixed proof, the
// Transport's own share of a DPoP request.
func BenchmarkRoundTripDPoP(b *testing.B) {
	stub := okTransport{resp: &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}}
	req, err := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1.0")

	b.Run("token=Bearer/op=RoundTrip", func(b *testing.B) {
		benchRoundTrip(b, &transport.Transport{Source: dpopSource(b, nil, "https://idp.example.com/token"), Base: stub}, req)
	})
	b.Run("token=DPoP-fixed/op=RoundTrip", func(b *testing.B) { // the Transport's own share: no signature
		benchRoundTrip(b, &transport.Transport{Source: fixedProver{}, Base: stub}, req)
	})
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		key, err := tokensource.NewDPoPKey(alg)
		if err != nil {
			b.Fatal(err)
		}
		src := dpopSource(b, key, "https://idp.example.com/token")
		b.Run("token=DPoP-"+alg+"/op=RoundTrip", func(b *testing.B) {
			benchRoundTrip(b, &transport.Transport{Source: src, Base: stub}, req)
		})
		b.Run("token=DPoP-"+alg+"/op=proof", func(b *testing.B) {
			tok, err := src.Token()
			if err != nil {
				b.Fatal(err)
			}
			u := *req.URL
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.DPoPProof(http.MethodGet, &u, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchRoundTrip(b *testing.B, rt http.RoundTripper, req *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("got (%v, %v), want a 200", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
}
