package storage_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestTokenRedactedInEveryForm prints a Token through a pointer, as a
// value and inside other values with every fmt verb, and logs it as a
// pointer and as a value with both slog handlers, and looks for its
// secrets. (encoding/json, which slog's JSON handler uses for a Token
// nested in another value, writes every field: a Token is also data that
// custom stores may serialise.)
func TestTokenRedactedInEveryForm(t *testing.T) {
	tok := storage.Token{AccessToken: "access-CANARY-1234", RefreshToken: "refresh-CANARY-1234", IDToken: "id-CANARY-1234", TokenType: "Bearer"}
	type holder struct{ Tok storage.Token }
	for _, tc := range []struct {
		name string
		v    any
		slog bool
	}{
		{"*Token", &tok, true},
		{"Token", tok, true},
		{"nil *Token", (*storage.Token)(nil), true},
		{"field", holder{tok}, false},
		{"map", map[string]storage.Token{"k": tok}, false},
		{"slice", []storage.Token{tok}, false},
	} {
		var b bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			fmt.Fprintf(&b, verb+"\n", tc.v)
		}
		if tc.slog {
			slog.New(slog.NewTextHandler(&b, nil)).Info("m", "v", tc.v)
			slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "v", tc.v)
		}
		if strings.Contains(b.String(), "CANARY") {
			t.Errorf("%s: got a secret in\n%s", tc.name, b.String())
		}
	}
	if got := fmt.Sprint((*storage.Token)(nil)); got != "<nil>" {
		t.Errorf("nil *Token: got %q, want <nil>", got)
	}
}
