package client_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestAccounts lists the accounts with tokens, for a store that cannot
// list its keys (File: the client's index) and one that can (Memory),
// without the client's reserved keys, and without accounts logged out.
func TestAccounts(t *testing.T) {
	fk, err := storage.KeyFromBytes(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	file, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(t.TempDir(), "store"), Key: fk})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		store storage.Store
		extra []string // saved directly in the store
	}{
		"file":   {store: file},
		"memory": {store: storage.NewMemory(), extra: []string{"dave"}},
	} {
		t.Run(name, func(t *testing.T) {
			op := (&fakeOP{}).serve(t)
			c := fakeClient(t, op, func(c *client.Config) { c.Store = tc.store })
			for _, k := range []string{"bob", "alice"} {
				a, err := c.Account(k)
				if err != nil {
					t.Fatal(err)
				}
				webLogin(t, op, a)
			}
			carol, _ := c.Account("carol")
			if _, err := carol.Seed(t.Context(), &oauth2.Token{AccessToken: "at-c", RefreshToken: "rt-c", Expiry: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.extra {
				tc.store.Save(t.Context(), k, &storage.Token{AccessToken: "at"})
			}
			want := append([]string{"alice", "bob", "carol"}, tc.extra...)
			slices.Sort(want)
			if got, err := c.Accounts(t.Context()); err != nil || !slices.Equal(got, want) {
				t.Fatalf("Accounts: got %q, %v; want %q", got, err, want)
			}
			bob, _ := c.Account("bob")
			if err := bob.Logout(t.Context()); err != nil {
				t.Fatal(err)
			}
			want = slices.DeleteFunc(want, func(s string) bool { return s == "bob" })
			if got, err := c.Accounts(t.Context()); err != nil || !slices.Equal(got, want) {
				t.Errorf("Accounts after bob's logout: got %q, %v; want %q", got, err, want)
			}
		})
	}
}
