package client_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
)

// dpopOP is the fake OP behind a front that checks DPoP proofs (RFC 9449)
// as a provider does, with go-jose and nothing of the client: on the token
// and revocation endpoints (POST, no ath) and on userinfo (GET, with ath
// for the access token, which must be sent as "Authorization: DPoP").
// With nonce (or rsNonce for userinfo) set, a proof without that nonce is
// answered as RFC 9449 §8 (400 use_dpop_nonce) or §9 (401 with a DPoP
// challenge) says, with the nonce in DPoP-Nonce.
type dpopOP struct {
	*fakeOP

	mu      sync.Mutex
	nonce   string      // the nonce the token and revocation endpoints want; "" none
	rsNonce string      // the nonce userinfo wants; "" none
	proofs  []seenProof // every proof that verified, in order
	refused []string    // why proofs were refused
	asked   int         // use_dpop_nonce answers sent
	never   bool        // every proof is answered use_dpop_nonce, with a new nonce
	echo    bool        // revocation and userinfo refuse, quoting the proof and the token
	raw     []string    // every DPoP header received
	algs    []string    // discovery's dpop_signing_alg_values_supported; nil: left out
	check   tokentest.DPoPChecker
}

// seenProof is a verified proof: where it was sent and what it held.
type seenProof struct {
	path, jkt, nonce string
	ath              bool
}

func serveDPoPOP(t *testing.T) *dpopOP {
	t.Helper()
	d := &dpopOP{fakeOP: &fakeOP{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

func (d *dpopOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var at string
	switch r.URL.Path {
	case "/token", "/revoke":
	case "/userinfo":
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "DPoP") || tok == "" {
			d.refuse(w, r, "userinfo: Authorization is not DPoP", "")
			return
		}
		at = tok
	case "/.well-known/openid-configuration":
		d.serveDiscovery(w, r)
		return
	default:
		d.fakeOP.ServeHTTP(w, r)
		return
	}
	d.mu.Lock()
	d.raw = append(d.raw, r.Header.Values("DPoP")...)
	echo := d.echo && r.URL.Path != "/token"
	d.mu.Unlock()
	if echo {
		r.ParseForm()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request",
			"error_description": "bad proof " + r.Header.Get("DPoP") + " for " + r.PostForm.Get("token")})
		return
	}
	p, err := d.verify(r, at)
	if err != nil {
		d.refuse(w, r, err.Error(), "")
		return
	}
	d.mu.Lock()
	want := d.nonce
	if r.URL.Path == "/userinfo" {
		want = d.rsNonce
	}
	if d.never || want != "" && p.nonce != want {
		d.mu.Unlock()
		d.refuse(w, r, "", cmp.Or(want, "replaced"))
		return
	}
	d.proofs = append(d.proofs, p)
	d.mu.Unlock()
	d.fakeOP.ServeHTTP(w, r)
}

// serveDiscovery serves the fake OP's discovery document with algs as its
// dpop_signing_alg_values_supported.
func (d *dpopOP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	d.fakeOP.ServeHTTP(rec, r)
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d.mu.Lock()
	if d.algs != nil {
		doc["dpop_signing_alg_values_supported"] = d.algs
	}
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, doc)
}

// refuse answers a bad proof (why) or a proof without the nonce wanted;
// with never, it asks for a new nonce every time.
func (d *dpopOP) refuse(w http.ResponseWriter, r *http.Request, why, nonce string) {
	code := "invalid_dpop_proof"
	if nonce != "" {
		code = "use_dpop_nonce"
		d.mu.Lock()
		d.asked++
		if d.never {
			nonce = fmt.Sprintf("nonce-%d", d.asked)
		}
		d.mu.Unlock()
		w.Header().Set("DPoP-Nonce", nonce)
	} else {
		d.mu.Lock()
		d.refused = append(d.refused, why)
		d.mu.Unlock()
	}
	if r.URL.Path == "/userinfo" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, algs="ES256 RS256 EdDSA"`, code))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": why})
}

// verify checks r's DPoP proof with tokentest.DPoPChecker (go-jose,
// nothing of the client): typ dpop+jwt, an asymmetric alg, the jwk's
// signature, a fresh jti, htm, htu (this server's URL and r's path), iat,
// and ath for at (none when at is "").
func (d *dpopOP) verify(r *http.Request, at string) (seenProof, error) {
	p, err := d.check.Check(r, d.URL+r.URL.Path, at)
	if err != nil {
		return seenProof{}, err
	}
	return seenProof{path: r.URL.Path, jkt: p.Thumbprint, nonce: p.Nonce, ath: p.ATH != ""}, nil
}

// rawProofs returns every DPoP header received so far.
func (d *dpopOP) rawProofs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.raw...)
}

// nonceAnswers returns how many use_dpop_nonce answers were sent.
func (d *dpopOP) nonceAnswers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

// seen returns the verified proofs and the refusals so far.
func (d *dpopOP) seen() ([]seenProof, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]seenProof(nil), d.proofs...), append([]string(nil), d.refused...)
}

// dpopTokens is a token response with DPoP-bound tokens.
func dpopTokens(access, refresh, idToken string) map[string]any {
	m := tokenResponse(access, refresh, idToken)
	m["token_type"] = "DPoP"
	return m
}
