package tokensource

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestNoSecretInAnyForm prints every exported type of the package that can
// carry a secret, as value and pointer, alone and nested in a struct, a
// slice and a map, with every verb and both slog handlers, and looks for
// the secrets.
func TestNoSecretInAnyForm(t *testing.T) {
	const secret = "S3CRET-canary"
	cfg := Config{OAuth2: &oauth2.Config{ClientID: "id", ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: "https://op.example/token"}}}
	te := Error{Code: "invalid_grant", StatusCode: 400, Header: http.Header{"X-Echo": {secret}}, Body: []byte(`{"refresh_token":"` + secret + `"}`), rotated: secret}
	lre := LoginRequiredError{Reason: ReasonRejected, Err: &te}
	ev := Event{Kind: EventLoginRequired, Key: "k", Err: &lre}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	key, err := NewDPoPKey("")
	if err != nil {
		t.Fatal(err)
	}
	src.publish(src.newEntry(&storage.Token{AccessToken: secret, RefreshToken: secret, TokenType: "DPoP", DPoPKey: key.Encode()}))
	if src.DPoPKey() == nil {
		t.Fatal("the Source did not take the record's DPoP key")
	}
	values := map[string]any{
		"DPoPKey": *key, "*DPoPKey": key,
		"Config": cfg, "*Config": &cfg,
		"Error": te, "*Error": &te,
		"LoginRequiredError": lre, "*LoginRequiredError": &lre,
		"Event": ev, "*Event": &ev,
		"*Source": src,
	}
	for name, v := range values {
		nested := map[string]any{
			"alone":  v,
			"struct": struct{ V any }{v},
			"slice":  []any{v},
			"map":    map[string]any{"v": v},
		}
		for how, w := range nested {
			var out bytes.Buffer
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				fmt.Fprintf(&out, verb+"\n", w)
			}
			slog.New(slog.NewTextHandler(&out, nil)).Info("m", "v", w)
			slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "v", w)
			hexed := fmt.Sprintf("%x", secret)
			if s := out.String(); strings.Contains(s, secret) || strings.Contains(strings.ToLower(s), hexed) || strings.Contains(s, key.Encode()[:40]) {
				t.Errorf("%s %s: a secret is printed:\n%s", name, how, s)
			}
		}
	}
}
