package tokensource

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// ErrNoDPoPKey is matched by the error of [Source.DPoPProof] when the
// account's tokens are not DPoP-bound (its record holds no DPoP key).
var ErrNoDPoPKey = errors.New("tokensource: the account's tokens are not DPoP-bound")

// DPoPKey returns the DPoP key the account's current tokens are bound to,
// with the nonces this Source remembers, or nil when they are Bearer
// tokens or no record was loaded yet. Package client uses it for the
// proofs of userinfo and revocation requests.
func (s *Source) DPoPKey() *DPoPKey {
	k, err := s.recordKey(s.record())
	if err != nil {
		return nil
	}
	return k
}

// DPoPProof returns a DPoP proof for a request with method to u carrying
// tok, the access token this Source gave out: made with the current
// record's key, with tok's hash as ath and the nonce remembered for u's
// origin. It implements transport.DPoPProver. It fails with an error
// matching [ErrNoDPoPKey] when the tokens are not DPoP-bound. The proof is
// a credential for that one request.
func (s *Source) DPoPProof(method string, u *url.URL, tok *oauth2.Token) (string, error) {
	if tok == nil || tok.AccessToken == "" {
		return "", errors.New("tokensource: DPoP proof: no access token")
	}
	k, err := s.recordKey(s.record())
	if err != nil {
		return "", err
	}
	if k == nil {
		return "", ErrNoDPoPKey
	}
	return k.Proof(method, u, tok.AccessToken, s.clock())
}

// DPoPNonce remembers nonce, a DPoP-Nonce header u's origin sent, for the
// proofs of later requests there. It implements transport.DPoPProver.
// Without a DPoP key it does nothing.
func (s *Source) DPoPNonce(u *url.URL, nonce string) {
	if k := s.DPoPKey(); k != nil {
		k.SetNonce(u, nonce)
	}
}

// keyFor returns the DPoP key to redeem rec with: rec's own (see
// recordKey), or for GrantClientCredentials with Config.DPoP the key this
// Source made, made now if it has none; nil for Bearer tokens.
func (s *Source) keyFor(rec *storage.Token) (*DPoPKey, error) {
	if rec != nil && rec.DPoPKey != "" {
		return s.recordKey(rec)
	}
	if s.cfg.Grant != GrantClientCredentials || s.cfg.DPoP == "" {
		return nil, nil
	}
	k := s.dpop.Load()
	if k != nil && strings.EqualFold(k.Algorithm(), s.cfg.DPoP) {
		return k, nil
	}
	n, err := NewDPoPKey(s.cfg.DPoP)
	if err != nil {
		return nil, err
	}
	if !s.dpop.CompareAndSwap(k, n) {
		return s.dpop.Load(), nil
	}
	return n, nil
}

// recordKey returns the key rec's tokens are bound to, nil when they are
// Bearer tokens (or rec is nil), parsed once and cached with its nonce
// memory. It never makes a key. A key that cannot be read fails the
// refresh without touching the record: the refresh token bound to it is
// worthless without it, and a newer program may still read it.
func (s *Source) recordKey(rec *storage.Token) (*DPoPKey, error) {
	if rec == nil || rec.DPoPKey == "" {
		return nil, nil
	}
	k := s.dpop.Load()
	if k != nil && k.Encode() == rec.DPoPKey {
		return k, nil
	}
	n, err := ParseDPoPKey(rec.DPoPKey)
	if err != nil {
		return nil, fmt.Errorf("tokensource: the DPoP key stored for %q cannot be used: %w", s.cfg.Key, err)
	}
	s.dpop.CompareAndSwap(k, n)
	return n, nil
}
