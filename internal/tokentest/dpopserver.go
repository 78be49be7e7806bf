package tokentest

import (
	"fmt"
	"net/http"
	"time"
)

// This file is the Server's DPoP side (RFC 9449), active when Server.DPoP
// is set:
//
//   - a token request may carry a proof (checked with Server.DPoP; a bad
//     one gets 400 invalid_dpop_proof); with TokenNonce its nonce must be
//     the current one, else 400 use_dpop_nonce with a DPoP-Nonce header;
//     every answer of the token endpoint carries the current nonce;
//   - tokens issued to a request with a proof are bound to its key and
//     typed DPoP (Bearer with Downgrade); a bound refresh token is
//     redeemed only with a proof of the same key (else invalid_grant);
//   - the resource accepts "Authorization: DPoP" with a proof of the bound
//     key carrying the token's ath; with ResourceNonce, the current nonce
//     too, else 401 with a DPoP use_dpop_nonce challenge; a bound token
//     presented as Bearer is invalid_token.

// LoginDPoP starts a new token family bound to the DPoP key whose
// thumbprint is jkt, as a login with a DPoP code exchange would.
func (s *Server) LoginDPoP(jkt string) (access, refresh string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.families++
	revoked := false
	return s.issueLocked(&grant{family: s.families, revoked: &revoked, jkt: jkt})
}

// RotateNonce replaces the Server's DPoP nonce and returns the new one.
func (s *Server) RotateNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonceSeq++
	s.nonce = fmt.Sprintf("nonce-%d", s.nonceSeq)
	return s.nonce
}

// Nonce returns the Server's current DPoP nonce.
func (s *Server) Nonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nonce
}

// boundTo returns the thumbprint access is bound to, "" when none.
func (s *Server) boundTo(access string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound[access]
}

func (s *Server) tokenType(jkt string) string {
	if jkt == "" || s.Downgrade {
		return "Bearer"
	}
	return "DPoP"
}

// tokenProof checks a token request's DPoP proof and returns its key's
// thumbprint ("" without a proof). When it returns false it answered.
func (s *Server) tokenProof(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.DPoP == nil {
		return "", true
	}
	nonce := s.Nonce()
	w.Header().Set("DPoP-Nonce", nonce)
	if r.Header.Get("DPoP") == "" {
		return "", true
	}
	p, err := s.DPoP.Check(r, s.URL+r.URL.Path, "")
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_dpop_proof", err.Error())
		return "", false
	case s.TokenNonce && p.Nonce != nonce:
		writeError(w, http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
		return "", false
	}
	return p.Thumbprint, true
}

// serveDPoPResource answers a resource request with "Authorization: DPoP".
func (s *Server) serveDPoPResource(w http.ResponseWriter, r *http.Request, at string) {
	nonce := s.Nonce()
	p, err := s.DPoP.Check(r, s.URL+r.URL.Path, at)
	switch {
	case err != nil:
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof", algs="ES256 RS256 EdDSA"`)
		http.Error(w, "bad proof: "+err.Error(), http.StatusUnauthorized)
	case s.ResourceNonce && p.Nonce != nonce:
		w.Header().Set("DPoP-Nonce", nonce)
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		http.Error(w, "nonce", http.StatusUnauthorized)
	case !s.Valid(at) || s.boundTo(at) != p.Thumbprint:
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="expired, unknown or bound to another key"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
	default:
		fmt.Fprintln(w, "ok")
	}
}
