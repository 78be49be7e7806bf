package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// Challenges of a resource server that takes DPoP tokens (RFC 9449 §7.1, §9).
const (
	useNonce          = `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`
	dpopInvalidToken  = `DPoP realm="api", algs="ES256", error="invalid_token", error_description="The access token expired"`
	dpopInsufficient  = `DPoP algs="ES256", error="insufficient_scope", scope="write"`
	dpopProofRejected = `DPoP error="invalid_dpop_proof"`
)

// proofCall is one DPoPProof call of a fakeProver.
type proofCall struct{ method, url, token, proof string }

// nonceCall is one DPoPNonce call of a fakeProver.
type nonceCall struct{ url, nonce string }

// fakeProver is a hand-written DPoPProver, and through fakeRefresher a
// Refresher, that records its calls. Its proofs are unique and name the
// nonce they carry: "proof-<n>-<nonce>", the nonce being the one last
// reported for the URL's origin.
type fakeProver struct {
	*fakeRefresher
	err       error // DPoPProof fails with it, from call failAfter+1 on, when set
	failAfter int
	empty     bool // DPoPProof returns "" and no error
	mutate    bool // DPoPProof and DPoPNonce write into u, as they must not

	mu     sync.Mutex // guards the fields below
	proofs []proofCall
	nonces []nonceCall
	nonce  map[string]string // origin → nonce last reported
}

// newFakeProver returns a fakeProver whose current token is the DPoP token
// access, and whose refreshes yield the DPoP token "fresh".
func newFakeProver(access string) *fakeProver {
	return &fakeProver{
		fakeRefresher: &fakeRefresher{current: dpopToken(access), next: "fresh", nextType: "DPoP"},
		nonce:         map[string]string{},
	}
}

func dpopToken(access string) *oauth2.Token {
	return &oauth2.Token{AccessToken: access, TokenType: "DPoP"}
}

func originOf(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

func (p *fakeProver) DPoPProof(method string, u *url.URL, tok *oauth2.Token) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.proofs) + 1
	if p.err != nil && n > p.failAfter {
		return "", p.err
	}
	proof := fmt.Sprintf("proof-%d-%s", n, p.nonce[originOf(u)])
	if p.empty {
		proof = ""
	}
	p.proofs = append(p.proofs, proofCall{method: method, url: u.String(), token: tok.AccessToken, proof: proof})
	if p.mutate {
		u.Path, u.RawQuery = "/mutated", "mutated=1"
	}
	return proof, nil
}

func (p *fakeProver) DPoPNonce(u *url.URL, nonce string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonces = append(p.nonces, nonceCall{url: u.String(), nonce: nonce})
	p.nonce[originOf(u)] = nonce
	if p.mutate {
		u.Host = "mutated.example"
	}
}

// recorded returns copies of the recorded calls.
func (p *fakeProver) recorded() ([]proofCall, []nonceCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proofCall(nil), p.proofs...), append([]nonceCall(nil), p.nonces...)
}

// answer is what a scripted resource server says to one send.
type answer struct {
	status    int
	challenge string // WWW-Authenticate
	nonce     string // DPoP-Nonce
}

// sent is what a scripted resource server got in one send.
type sent struct{ auth, dpop, body string }

// script is a Base that gives the answers in order (the last one repeats)
// and records each send and the body of each response.
type script struct {
	t       *testing.T
	answers []answer

	mu     sync.Mutex // guards sends, bodies
	sends  []sent
	bodies []*trackedBody
}

func (s *script) RoundTrip(r *http.Request) (*http.Response, error) {
	var payload string
	if r.Body != nil {
		payload = readAll(s.t, r.Body)
		r.Body.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(r.Header.Values("DPoP")); n > 1 {
		s.t.Errorf("got %d DPoP headers, want at most 1", n)
	}
	s.sends = append(s.sends, sent{auth: r.Header.Get("Authorization"), dpop: r.Header.Get("DPoP"), body: payload})
	a := s.answers[min(len(s.sends), len(s.answers))-1]
	resp, body := response(a.status, a.challenge)
	if a.nonce != "" {
		resp.Header.Set("DPoP-Nonce", a.nonce)
	}
	s.bodies = append(s.bodies, body)
	return resp, nil
}
