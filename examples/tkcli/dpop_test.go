package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/nodeop"
)

// TestDPoPAndClientKeyFlags logs in to node-oidc-provider with --dpop, as
// the public DPoP client and as the confidential client with
// --client-key-file and --client-key-id, and calls its userinfo endpoint
// (which takes DPoP-bound tokens only with their proofs) with get.
func TestDPoPAndClientKeyFlags(t *testing.T) {
	srv := nodeop.Start(t, nodeop.Options{})
	der, err := x509.MarshalPKCS8PrivateKey(srv.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		clientID string
		flags    []string
	}{
		{nodeop.NativeDPoPClientID, []string{"--dpop", "ES256"}},
		{nodeop.ServiceDPoPClientID, []string{"--dpop", "EdDSA", "--client-key-file", keyFile, "--client-key-id", nodeop.ClientKeyID}},
	} {
		t.Run(tc.clientID, func(t *testing.T) {
			env := map[string]string{
				"TKCLI_ISSUER":      srv.Issuer(),
				"TKCLI_CLIENT_ID":   tc.clientID,
				"TKCLI_DIR":         t.TempDir(),
				"TKCLI_STORE":       "file",
				"TKCLI_AUTH_PARAMS": "prompt=consent", // node-oidc-provider's condition for a refresh token
			}
			login := append([]string{"login"}, tc.flags...)
			tkcli(t, app{openBrowser: srv.Browser("alice", true)}, env, login...).want(t, exitOK, "Logged in")
			rec := storedRecord(t, env, tc.clientID+"@"+srv.Issuer())
			if rec.TokenType != "DPoP" || rec.DPoPKey == "" || rec.RefreshToken == "" {
				t.Fatalf("stored token_type %q, key %t, refresh token %t; want DPoP-bound tokens", rec.TokenType, rec.DPoPKey != "", rec.RefreshToken != "")
			}
			get := append([]string{"get"}, tc.flags...)
			tkcli(t, app{}, env, append(get, srv.Endpoints().Userinfo)...).want(t, exitOK, `"sub":"alice"`)
		})
	}
}
