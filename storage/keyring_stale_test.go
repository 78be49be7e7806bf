package storage

import (
	"context"
	"testing"
)

// TestKeyringStaleCachedKey: another process logs out (Delete) and maybe
// in again while this process has the account's key cached; this
// process's next Save must seal with the key now in the keyring, so that
// every process can read the record.
func TestKeyringStaleCachedKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		other func(t *testing.T, b *Keyring) // what the other process does
	}{
		{"deleted", func(t *testing.T, b *Keyring) {
			if err := b.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted and created again", func(t *testing.T, b *Keyring) {
			if err := b.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			mustSave(t, b, "acct", testToken(1, 0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeKeyring{}
			dir := t.TempDir() + "/d"
			a, b := newFakeKeyring(t, fake, dir), newFakeKeyring(t, fake, dir)
			mustSave(t, a, "acct", testToken(1, 0)) // a caches the key
			tt.other(t, b)
			mustSave(t, a, "acct", testToken(5, 0))
			fresh := newFakeKeyring(t, fake, dir) // a third process, no cache
			got, err := fresh.Load(ctx, "acct")
			if err != nil {
				t.Fatalf("another process's Load after this one's Save: got %v, want the record", err)
			}
			checkToken(t, got, testToken(5, 0))
		})
	}
}
