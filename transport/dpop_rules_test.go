package transport

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestDPoPHeader: a DPoP token, whatever the letter case of its type, goes
// out as "Authorization: DPoP <token>" with one DPoP header, the caller's
// own Authorization and DPoP entries being replaced in the copy and kept in
// its request; a request without a method is proved as GET; a prover that
// writes into the URLs it is given changes nothing of the caller's.
func TestDPoPHeader(t *testing.T) {
	for _, typ := range []string{"DPoP", "dpop", "DPOP"} {
		t.Run(typ, func(t *testing.T) {
			p := newFakeProver(secret)
			p.current.TokenType = typ
			p.mutate = true
			var got http.Header
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.Header
				resp, _ := response(http.StatusOK, "")
				resp.Header.Set("DPoP-Nonce", "n1")
				return resp, nil
			})
			tr := &Transport{Source: p, Base: base}
			req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
			req.Method = "" // means GET, and is proved as GET
			req.Header.Set("Authorization", "Basic caller")
			req.Header.Set("DPoP", "caller's proof")
			req.Header["dpop"] = []string{"odd spelling"}
			req.Header.Set("Accept", "application/json")
			before := takeSnapshot(req)
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			before.checkUnchanged(t, req)
			proofs, nonces := p.recorded()
			if len(nonces) != 1 || nonces[0] != (nonceCall{"https://api.example.com/v1/items?limit=10", "n1"}) {
				t.Errorf("got nonces %+v reported, want n1 for the request's URL", nonces)
			}
			want := http.Header{
				"Authorization": {"DPoP " + secret},
				"Dpop":          {"proof-1-"},
				"Accept":        {"application/json"},
			}
			switch {
			case len(proofs) != 1 || proofs[0].method != http.MethodGet || proofs[0].url != "https://api.example.com/v1/items?limit=10":
				t.Errorf("got proofs %+v, want one for GET https://api.example.com/v1/items?limit=10", proofs)
			case len(got) != len(want) || got.Get("Authorization") != want.Get("Authorization") ||
				strings.Join(got["Dpop"], ",") != "proof-1-" || got.Get("Accept") != "application/json":
				t.Errorf("got header %q, want %q", got, want)
			}
		})
	}
}

// TestDPoPProofPerRequest: through a real server, every request gets its
// own proof, made for its method and URL.
func TestDPoPProofPerRequest(t *testing.T) {
	var (
		mu  sync.Mutex // guards got
		got []string   // DPoP header of each request
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("DPoP"))
		mu.Unlock()
	}))
	defer api.Close()
	p := newFakeProver(secret)
	client := &http.Client{Transport: &Transport{Source: p, Base: api.Client().Transport}}
	paths := []string{"/a", "/a", "/b"}
	for _, path := range paths {
		resp, err := client.Post(api.URL+path, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	proofs, _ := p.recorded()
	if len(proofs) != len(paths) {
		t.Fatalf("got %d proofs, want %d", len(proofs), len(paths))
	}
	for i, path := range paths {
		if proofs[i].method != http.MethodPost || proofs[i].url != api.URL+path || got[i] != proofs[i].proof {
			t.Errorf("request %d: got proof %+v, server got DPoP %q; want a proof for POST %s", i, proofs[i], got[i], path)
		}
	}
	if got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
		t.Errorf("got DPoP headers %q, want three different proofs", got)
	}
}

// TestDPoPNoProver: a DPoP token from a Source that makes no proofs is
// never sent, its body is closed, and the error says why without the token.
func TestDPoPNoProver(t *testing.T) {
	body := newBody("payload")
	sends := 0
	tr := &Transport{
		Source: staticSource{tok: dpopToken(secret)},
		Base:   roundTripFunc(func(*http.Request) (*http.Response, error) { sends++; return nil, errors.New("sent") }),
	}
	req, _ := http.NewRequest(http.MethodPost, "https://api.example.com/", body)
	resp, err := tr.RoundTrip(req)
	switch {
	case resp != nil || !errors.Is(err, ErrNoDPoPProver):
		t.Fatalf("got (%v, %v), want (nil, ErrNoDPoPProver)", resp, err)
	case sends != 0:
		t.Errorf("got %d sends, want none", sends)
	case body.closed.Load() != 1:
		t.Errorf("got the body closed %d times, want once", body.closed.Load())
	case strings.Contains(err.Error(), secret):
		t.Errorf("got error %q, which contains the token", err)
	}
}

var errProof = errors.New("proof failed")

// TestDPoPProofFails: when the prover fails (on the first send, on the
// nonce retry or on the replay after a refresh) or gives no proof, that
// send does not happen: RoundTrip returns the error, no response, and every
// request body and earlier response is closed.
func TestDPoPProofFails(t *testing.T) {
	nonce := answer{status: 401, challenge: useNonce, nonce: "n1"}
	invalid := answer{status: 401, challenge: dpopInvalidToken}
	for _, tc := range []struct {
		name      string
		failAfter int // proofs made before the failure
		empty     bool
		answers   []answer
		wantSends int
	}{
		{name: "first send", answers: []answer{{status: 200}}},
		{name: "no proof", empty: true, answers: []answer{{status: 200}}},
		{name: "nonce retry", failAfter: 1, answers: []answer{nonce, {status: 200}}, wantSends: 1},
		{name: "replay after refresh", failAfter: 1, answers: []answer{invalid, {status: 200}}, wantSends: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProver(secret)
			p.failAfter, p.empty = tc.failAfter, tc.empty
			if !tc.empty {
				p.err = errProof
			}
			base := &script{t: t, answers: tc.answers}
			var bodies []*trackedBody
			req, _ := http.NewRequest(http.MethodPost, "https://api.example.com/", nil)
			req.GetBody = func() (io.ReadCloser, error) {
				b := newBody("payload")
				bodies = append(bodies, b)
				return b, nil
			}
			req.Body, _ = req.GetBody()
			resp, err := (&Transport{Source: p, Base: base}).RoundTrip(req)
			switch {
			case resp != nil || err == nil || !tc.empty && !errors.Is(err, errProof):
				t.Fatalf("got (%v, %v), want (nil, an error matching %v)", resp, err, errProof)
			case len(base.sends) != tc.wantSends:
				t.Errorf("got %d sends, want %d", len(base.sends), tc.wantSends)
			case strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "proof-"):
				t.Errorf("got error %q, which contains the token or a proof", err)
			}
			for i, b := range bodies {
				if b.closed.Load() != 1 {
					t.Errorf("request body %d closed %d times, want once", i, b.closed.Load())
				}
			}
			for i, b := range base.bodies {
				if b.closed.Load() != 1 {
					t.Errorf("response %d closed %d times, want once", i, b.closed.Load())
				}
			}
		})
	}
}

// TestDPoPBearerToken: a Bearer token from a Source that can make proofs
// goes out as before: no proof, no nonce reported, no nonce retry.
func TestDPoPBearerToken(t *testing.T) {
	p := newFakeProver(secret)
	p.current.TokenType = "Bearer"
	base := &script{t: t, answers: []answer{{status: 401, challenge: useNonce, nonce: "n1"}, {status: 200}}}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
	resp, err := (&Transport{Source: p, Base: base}).RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got (%v, %v), want the 401", resp, err)
	}
	proofs, nonces := p.recorded()
	if len(base.sends) != 1 || base.sends[0].auth != "Bearer "+secret || base.sends[0].dpop != "" || len(proofs)+len(nonces) != 0 {
		t.Errorf("got sends %q, proofs %v, nonces %v; want one Bearer send and no DPoP", base.sends, proofs, nonces)
	}
}

// TestDPoPRefused: the TLS rule and the allow-list apply to DPoP tokens: a
// refused request is not sent, no proof is made, the body is closed.
func TestDPoPRefused(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		tr        Transport
		want      error
	}{
		{name: "plain http", url: "http://api.example.com/", want: ErrInsecure},
		{name: "host not allowed", url: "https://evil.example/", tr: Transport{Hosts: []string{"api.example.com"}}, want: ErrHostNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProver(secret)
			tc.tr.Source, tc.tr.Base = p, okBase(t, func(*http.Request) { t.Error("request sent") })
			body := newBody("payload")
			req, _ := http.NewRequest(http.MethodPost, tc.url, body)
			resp, err := tc.tr.RoundTrip(req)
			proofs, _ := p.recorded()
			if resp != nil || !errors.Is(err, tc.want) || len(proofs) != 0 || body.closed.Load() != 1 {
				t.Errorf("got (%v, %v), %d proofs, body closed %d times; want (nil, %v), none, once", resp, err, len(proofs), body.closed.Load(), tc.want)
			}
		})
	}
}

// TestDPoPRedirects: a DPoP token and its proof follow a redirect only
// where a Bearer token would: to the original host, never from https to
// http; a hop that carries them gets a proof of its own.
func TestDPoPRedirects(t *testing.T) {
	type hopSeen struct{ url, auth, dpop string }
	var seen []hopSeen
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, hopSeen{r.URL.String(), r.Header.Get("Authorization"), r.Header.Get("DPoP")})
		resp, _ := response(http.StatusOK, "")
		resp.Request = r // as net/http's Transport does: the redirect rule walks back through it
		if to := r.URL.Query().Get("to"); to != "" {
			resp.StatusCode = http.StatusFound
			resp.Header.Set("Location", to)
		}
		return resp, nil
	})
	p := newFakeProver(secret)
	client := &http.Client{Transport: &Transport{Source: p, Base: base}}
	esc := url.QueryEscape
	start := "https://api.example.com/a?to=" + esc(
		"https://evil.example/b?to="+esc("https://api.example.com/c?to="+esc("http://api.example.com/d")))
	resp, err := client.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []hopSeen{
		{start, "DPoP " + secret, "proof-1-"},
		{"https://evil.example/b?to=" + esc("https://api.example.com/c?to="+esc("http://api.example.com/d")), "", ""},
		{"https://api.example.com/c?to=" + esc("http://api.example.com/d"), "DPoP " + secret, "proof-2-"},
		{"http://api.example.com/d", "", ""},
	}
	if len(seen) != len(want) {
		t.Fatalf("got hops %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("hop %d: got %q, want %q", i, seen[i], want[i])
		}
	}
	if proofs, _ := p.recorded(); len(proofs) != 2 || proofs[1].url != want[2].url {
		t.Errorf("got proofs %+v, want two, the second for %s", proofs, want[2].url)
	}
}
