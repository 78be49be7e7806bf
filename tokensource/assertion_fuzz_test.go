package tokensource_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// FuzzParsePrivateKeyPEM: any input gives a usable signer or a *KeyError,
// never a panic, and a key it accepts signs an assertion.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	r, e, ed := testKeys(f)
	for _, k := range []any{r, e, ed} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(r)}))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := tokensource.ParsePrivateKeyPEM(in)
		if err != nil {
			var ke *tokensource.KeyError
			if !errors.As(err, &ke) || s != nil {
				t.Fatalf("got %v, %v; want a nil signer and a *KeyError", s, err)
			}
			return
		}
		ca := &tokensource.ClientAssertion{Signer: s}
		if _, err := ca.Alg(); err != nil {
			t.Fatalf("accepted a key that cannot sign: %v", err)
		}
	})
}
