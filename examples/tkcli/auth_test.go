package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// TestAuthFlags: --dpop and --client-key-file/--client-key-id (or their
// environment variables) reach client.Config; a kid without a key file
// and an unreadable key file are refused.
func TestAuthFlags(t *testing.T) {
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"TKCLI_ISSUER": "https://op.example.com", "TKCLI_CLIENT_ID": "cli", "TKCLI_DIR": dir}
	parse := func(env map[string]string, args ...string) (*client.Config, error) {
		a := &app{stderr: io.Discard, getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return base[k]
		}}
		cfg, err := a.parse("login", args)
		if err != nil {
			return nil, err
		}
		var cc client.Config
		return &cc, cfg.applyAuth(&cc)
	}

	cc, err := parse(nil, "--dpop", "ES256", "--client-key-file", keyFile, "--client-key-id", "kid-1")
	if err != nil {
		t.Fatal(err)
	}
	if cc.DPoP != "ES256" || cc.ClientAuth == nil || cc.ClientAuth.KeyID != "kid-1" {
		t.Errorf("got DPoP %q, ClientAuth %v; want ES256 and the key with kid-1", cc.DPoP, cc.ClientAuth)
	}
	cc, err = parse(map[string]string{"TKCLI_DPOP": "EdDSA", "TKCLI_CLIENT_KEY_FILE": keyFile})
	if err != nil || cc.DPoP != "EdDSA" || cc.ClientAuth == nil {
		t.Errorf("from the environment: got %v, %v; want EdDSA and a ClientAuth", cc, err)
	}
	if cc, err = parse(nil); err != nil || cc.DPoP != "" || cc.ClientAuth != nil {
		t.Errorf("without the flags: got %v, %v; want neither", cc, err)
	}
	if _, err := parse(nil, "--client-key-id", "kid-1"); err == nil {
		t.Error("--client-key-id alone: got nil, want an error")
	}
	if _, err := parse(nil, "--client-key-file", filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing key file: got nil, want an error")
	}
}
