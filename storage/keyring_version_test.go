package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
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

// TestKeyringRollback: the version recorded in the keyring entry lets any
// process, even a new one, refuse a record directory restored from a
// backup; a Delete and a new login in another process start over.
func TestKeyringRollback(t *testing.T) {
	ctx := context.Background()
	type env struct {
		fake *fakeKeyring
		dir  string
		a, b *Keyring
		path string
	}
	tests := []struct {
		name        string
		run         func(t *testing.T, e env)
		wantRefused bool // a new process's Load and Save are ErrRolledBack
		wantVersion uint64
	}{
		{"directory restored from a backup", func(t *testing.T, e env) {
			mustSave(t, e.a, "acct", testToken(1, 0))
			old := readFile(t, e.path)
			mustSave(t, e.a, "acct", testToken(3, 0))
			if err := os.WriteFile(e.path, old, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true, 0},
		{"Delete and new login in another process", func(t *testing.T, e env) {
			mustSave(t, e.a, "acct", testToken(9, 0))
			if err := e.b.Delete(ctx, "acct"); err != nil {
				t.Fatal(err)
			}
			mustSave(t, e.b, "acct", testToken(1, 0))
			mustLoad(t, e.a, 1)
			mustSave(t, e.a, "acct", testToken(2, 0))
		}, false, 2},
		{"unversioned save starts over", func(t *testing.T, e env) {
			mustSave(t, e.a, "acct", testToken(9, 0))
			mustSave(t, e.b, "acct", testToken(0, 0))
			mustSave(t, e.b, "acct", testToken(3, 0))
			mustLoad(t, e.a, 3)
		}, false, 3},
		{"entry in the format before versions", func(t *testing.T, e env) {
			mustSave(t, e.a, "acct", testToken(4, 0))
			e.fake.set(func(f *fakeKeyring) {
				for name, v := range f.entries {
					ent, err := parseKeyringValue(v)
					if err != nil {
						t.Fatal(err)
					}
					f.entries[name] = keyringValuePrefixV1 + base64.RawStdEncoding.EncodeToString(ent.fk.raw)
				}
			})
		}, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeKeyring{}
			dir := t.TempDir() + "/d"
			e := env{fake: fake, dir: dir, a: newFakeKeyring(t, fake, dir), b: newFakeKeyring(t, fake, dir)}
			e.path, _ = e.a.files.recordPath("acct")
			tt.run(t, e)
			fresh := newFakeKeyring(t, fake, dir) // a new process
			if !tt.wantRefused {
				mustLoad(t, fresh, tt.wantVersion)
				mustSave(t, fresh, "acct", testToken(tt.wantVersion+1, 0))
				mustLoad(t, newFakeKeyring(t, fake, dir), tt.wantVersion+1)
				return
			}
			orig := readFile(t, e.path)
			_, err := fresh.Load(ctx, "acct")
			if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "recorded in the OS keyring") {
				t.Fatalf("Load: got %v, want ErrRolledBack from the keyring's version", err)
			}
			noSecret(t, err)
			if err := fresh.Save(ctx, "acct", testToken(10, 0)); !errors.Is(err, ErrRolledBack) {
				t.Fatalf("Save: got %v, want ErrRolledBack", err)
			}
			unchanged(t, e.path, orig)
			if err := fresh.Delete(ctx, "acct"); err != nil { // the way out
				t.Fatal(err)
			}
			mustSave(t, fresh, "acct", testToken(1, 0))
			mustLoad(t, e.a, 1)
		})
	}
}
