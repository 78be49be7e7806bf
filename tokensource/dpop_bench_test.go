package tokensource_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// BenchmarkDPoPProof measures a resource request's proof (with ath and a
// nonce) for each algorithm (impl=proof) against its floor (impl=bare):
// one signature, with the crypto package alone, of a message as long as
// the proof's signing input. What the proof adds beyond the signature is
// the claims, the jti, the encoding and go-jose's JWS assembly. Compare
// with: benchstat -col /impl.
func BenchmarkDPoPProof(b *testing.B) {
	u, _ := url.Parse("https://api.example.com/v1/items?page=2")
	at := strings.Repeat("a", 800) // a JWT access token's typical length
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		signer, bare := benchKey(b, alg)
		der, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			b.Fatal(err)
		}
		k, err := tokensource.ParseDPoPKey(base64.RawURLEncoding.EncodeToString(der))
		if err != nil {
			b.Fatal(err)
		}
		k.SetNonce(u, "eyJ7S_zG.eyJH0-Z.HX4w-7v")
		proof, err := k.Proof("GET", u, at, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		msg := []byte(proof[:strings.LastIndexByte(proof, '.')]) // the signing input
		b.Run("alg="+alg+"/impl=proof", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Proof("GET", u, at, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+alg+"/impl=bare", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bare(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchKey returns a key for alg and its bare signature: what go-jose's
// signer does at the least (hash, then sign) with the crypto package.
func benchKey(b *testing.B, alg string) (crypto.Signer, func([]byte) error) {
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return k, func(m []byte) error {
			d := sha256.Sum256(m)
			_, _, err := ecdsa.Sign(rand.Reader, k, d[:])
			return err
		}
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		return k, func(m []byte) error {
			d := sha256.Sum256(m)
			_, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
			return err
		}
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k, func(m []byte) error { ed25519.Sign(k, m); return nil }
}
