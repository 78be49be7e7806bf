package transport

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// stubTransport answers every request with the same canned response, without
// I/O, so that the benchmark measures the wrapper only.
type stubTransport struct{ resp *http.Response }

func (s stubTransport) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

// BenchmarkRoundTrip compares the hot path (fresh cached token, 200 answer)
// with x/oauth2's Transport on the same stub.
func BenchmarkRoundTrip(b *testing.B) {
	tok := &oauth2.Token{AccessToken: strings.Repeat("a", 900), TokenType: "Bearer"}
	stub := stubTransport{resp: &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}}
	req, err := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1.0")

	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"impl=tokenkeeper", &Transport{Source: oauth2.StaticTokenSource(tok), Base: stub}},
		{"impl=oauth2.Transport", &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: stub}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("got (%v, %v), want a 200", resp, err)
				}
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
}

// BenchmarkRequestCopy measures the copy RoundTrip makes (a struct copy with
// its own Header map) against req.Clone, which deep-copies far more.
func BenchmarkRequestCopy(b *testing.B) {
	req, err := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1.0")
	auth := []string{"Bearer token"}
	var sink *http.Request
	b.Run("light", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := new(http.Request)
			*out = *req
			out.Header = withAuthorization(req.Header, auth)
			sink = out
		}
	})
	b.Run("Clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := req.Clone(req.Context())
			out.Header["Authorization"] = auth
			sink = out
		}
	})
	_ = sink
}
