package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// canaryKey is the raw file key of TestNoSecretInAnyForm: 32 bytes that
// read as text, so that a leak shows in every encoding.
const canaryKey = "CANARY-KEY-0123456789-CANARY-KEY"

// canaryForms are the ways a leak of the canaries can look.
var canaryForms = []string{
	"CANARY",
	hex.EncodeToString([]byte("CANARY")), // %x of a string or []byte
	strings.ToUpper(hex.EncodeToString([]byte("CANARY"))),
	base64.StdEncoding.EncodeToString([]byte(canaryKey))[:8], // encoding/json of a []byte
	"67 65 78 65 82 89", // %v of a []byte
}

// TestNoSecretInAnyForm prints every exported type of the package that
// can hold a secret, as a value where copying it is legal and as a
// pointer, alone and inside a struct, a slice and a map, with every fmt
// verb and with slog's text and JSON handlers, and looks for the
// canary token, key and passphrase.
func TestNoSecretInAnyForm(t *testing.T) {
	tok := Token{AccessToken: "CANARY-access", RefreshToken: "CANARY-refresh", IDToken: "CANARY-id", DPoPKey: "CANARY-dpop-key", TokenType: "DPoP", Version: 2}
	rawKey, err := KeyFromBytes([]byte(canaryKey))
	if err != nil {
		t.Fatal(err)
	}
	passKey := passKey(t, "CANARY-passphrase")
	file, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "f"), Key: rawKey})
	if err != nil {
		t.Fatal(err)
	}
	passFile, err := NewFile(FileConfig{Dir: filepath.Join(t.TempDir(), "p"), Key: passKey})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, passFile, "acct", &tok) // derives and caches a key
	mem := NewMemory()
	mustSave(t, mem, "acct", &tok)
	keyring := newFakeKeyring(t, &fakeKeyring{}, filepath.Join(t.TempDir(), "k"))
	mustSave(t, keyring, "acct", &tok) // caches the account's key
	mustSave(t, file, "acct", &tok)
	errs := storeErrors(t, file, mem, &tok)

	cases := []struct {
		name string
		v    any
	}{
		{"Token", tok},
		{"*Token", &tok},
		{"FileKey raw", rawKey},
		{"*FileKey raw", &rawKey},
		{"FileKey passphrase", passKey},
		{"*FileKey passphrase", &passKey},
		{"FileConfig", FileConfig{Dir: "/d", Key: rawKey}},
		{"*FileConfig", &FileConfig{Dir: "/d", Key: passKey}},
		{"KeyringConfig", KeyringConfig{Service: "svc"}},
		{"*KeyringConfig", &KeyringConfig{Service: "svc"}},
		{"*File raw key", file},
		{"*File passphrase", passFile},
		{"*Memory", mem},
		{"*Keyring", keyring},
		// File, Memory and Keyring hold locks: their values are never
		// copied, so only pointers are printed.
	}
	for i, err := range errs {
		cases = append(cases, struct {
			name string
			v    any
		}{fmt.Sprintf("error %d", i), err})
	}
	for _, tc := range cases {
		for form, v := range nestings(tc.v) {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				var b bytes.Buffer
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
					fmt.Fprintf(&b, verb+"\n", v)
				}
				slog.New(slog.NewTextHandler(&b, nil)).Info("m", "v", v)
				slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "v", v)
				for _, c := range canaryForms {
					if strings.Contains(b.String(), c) {
						t.Fatalf("got %q in the output, want no secret:\n%s", c, b.String())
					}
				}
			})
		}
	}
}

// nestings returns v alone and as the element of a struct field, a slice
// and a map.
func nestings(v any) map[string]any {
	rv := reflect.ValueOf(v)
	typ := rv.Type()
	s := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: typ}})).Elem()
	s.Field(0).Set(rv)
	sl := reflect.MakeSlice(reflect.SliceOf(typ), 1, 1)
	sl.Index(0).Set(rv)
	m := reflect.MakeMap(reflect.MapOf(reflect.TypeFor[string](), typ))
	m.SetMapIndex(reflect.ValueOf("k"), rv)
	return map[string]any{"alone": v, "in struct": s.Interface(), "in slice": sl.Interface(), "in map": m.Interface()}
}

// storeErrors returns errors the stores return after handling tok: stale,
// too big, wrong key, corrupt, rolled back.
func storeErrors(t *testing.T, f *File, m *Memory, tok *Token) []error {
	t.Helper()
	ctx := context.Background()
	var errs []error
	add := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("got nil, want an error")
		}
		errs = append(errs, err)
	}
	add(m.Save(ctx, "acct", tok))
	add(f.Save(ctx, "acct", tok))
	big := *tok
	big.Version, big.IDToken = 9, "CANARY-"+strings.Repeat("x", maxFileSize)
	add(f.Save(ctx, "acct", &big))
	_, otherKey := rawKey(t)
	other, err := NewFile(FileConfig{Dir: f.given, Key: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Load(ctx, "acct")
	add(err)
	add(errors.Join(ErrCorrupt, ErrRolledBack, err))
	return errs
}
