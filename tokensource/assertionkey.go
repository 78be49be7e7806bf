package tokensource

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Sentinels that a [*KeyError] wraps, for callers that branch on why a
// private key could not be used.
var (
	// ErrNoPEMKey: the input holds no PEM block, or none with a private key.
	ErrNoPEMKey = errors.New("no PEM private key block")
	// ErrEncryptedKey: the PEM block is encrypted (RFC 1423 or PKCS#8
	// ENCRYPTED PRIVATE KEY), which is not supported: decrypt it first.
	ErrEncryptedKey = errors.New("encrypted private keys are not supported")
	// ErrUnsupportedKey: the key is neither RSA, ECDSA (P-256, P-384,
	// P-521) nor Ed25519.
	ErrUnsupportedKey = errors.New("unsupported private key type")
	// ErrMalformedKey: the PEM block's contents do not parse as its type
	// says.
	ErrMalformedKey = errors.New("malformed private key")
)

// KeyError reports a private key that cannot be used for client
// assertions. Err wraps one of ErrNoPEMKey, ErrEncryptedKey,
// ErrUnsupportedKey or ErrMalformedKey, and the parser's error if any.
// Neither holds any of the key.
type KeyError struct {
	// Path is the file the key was read from; "" for bytes.
	Path string
	// BlockType is the PEM block's type, e.g. "PRIVATE KEY"; "" if none.
	BlockType string
	Err       error
}

func (e *KeyError) Error() string {
	msg := "tokensource: private key"
	if e.Path != "" {
		msg += " " + e.Path
	}
	if e.BlockType != "" {
		msg += fmt.Sprintf(" (PEM %q)", e.BlockType)
	}
	return msg + ": " + e.Err.Error()
}

func (e *KeyError) Unwrap() error { return e.Err }

// ParsePrivateKeyPEM returns the first private key in pemBytes: a PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY")
// block, holding an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 key. Other
// blocks (certificates, parameters) before it are skipped. Every failure
// is a [*KeyError].
func ParsePrivateKeyPEM(pemBytes []byte) (crypto.Signer, error) {
	rest := pemBytes
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, &KeyError{Err: ErrNoPEMKey}
		}
		switch b.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return parseKeyBlock(b)
		case "ENCRYPTED PRIVATE KEY":
			return nil, &KeyError{BlockType: b.Type, Err: ErrEncryptedKey}
		}
	}
}

func parseKeyBlock(b *pem.Block) (crypto.Signer, error) {
	if _, ok := b.Headers["DEK-Info"]; ok {
		return nil, &KeyError{BlockType: b.Type, Err: ErrEncryptedKey}
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	}
	if err != nil {
		// x509's messages name the structure, never the key's contents.
		return nil, &KeyError{BlockType: b.Type, Err: errors.Join(ErrMalformedKey, err)}
	}
	s, ok := key.(crypto.Signer)
	if !ok || len(keyAlgorithms(s.Public())) == 0 {
		return nil, &KeyError{BlockType: b.Type, Err: fmt.Errorf("%w: %T", ErrUnsupportedKey, key)}
	}
	return s, nil
}

// NewClientAssertionPEM returns a [ClientAssertion] signing with the
// private key in pemBytes (see [ParsePrivateKeyPEM]), with the key's
// default algorithm and the given key ID; its Audience is empty (the
// default). Every failure to use the key is a [*KeyError].
func NewClientAssertionPEM(pemBytes []byte, keyID string) (*ClientAssertion, error) {
	s, err := ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return nil, err
	}
	return &ClientAssertion{Signer: s, KeyID: keyID}, nil
}

// LoadClientAssertion is [NewClientAssertionPEM] with the PEM read from the
// file at path. A file that cannot be read gives the os error, wrapped; a
// key that cannot be used, a [*KeyError] with Path set.
func LoadClientAssertion(path, keyID string) (*ClientAssertion, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokensource: private key: %w", err)
	}
	a, err := NewClientAssertionPEM(b, keyID)
	var ke *KeyError
	if errors.As(err, &ke) {
		ke.Path = path
	}
	return a, err
}
