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
// value and inside other values with every fmt verb, logs each with both
// slog handlers (the JSON handler encodes nested values with
// encoding/json), and looks for its secrets, from outside the package.
// TestNoSecretInAnyForm does the same for every type of the package.
func TestTokenRedactedInEveryForm(t *testing.T) {
	tok := storage.Token{AccessToken: "access-CANARY-1234", RefreshToken: "refresh-CANARY-1234", IDToken: "id-CANARY-1234", TokenType: "Bearer"}
	type holder struct{ Tok storage.Token }
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"*Token", &tok},
		{"Token", tok},
		{"nil *Token", (*storage.Token)(nil)},
		{"field", holder{tok}},
		{"map", map[string]storage.Token{"k": tok}},
		{"slice", []storage.Token{tok}},
	} {
		var b bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			fmt.Fprintf(&b, verb+"\n", tc.v)
		}
		slog.New(slog.NewTextHandler(&b, nil)).Info("m", "v", tc.v)
		slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "v", tc.v)
		if strings.Contains(b.String(), "CANARY") {
			t.Errorf("%s: got a secret in\n%s", tc.name, b.String())
		}
	}
	if got := fmt.Sprint((*storage.Token)(nil)); got != "<nil>" {
		t.Errorf("nil *Token: got %q, want <nil>", got)
	}
}
