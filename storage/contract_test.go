package storage_test

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/storage/storagetest"
)

// TestStoreContract checks the Store and Locker contracts of storage.go
// on every store, the keyring store with a fake OS keyring (its own tests
// run the same calls against a real Secret Service). The assertions are
// in package storagetest, which stores in other modules run too.
func TestStoreContract(t *testing.T) {
	stores := map[string]func(t *testing.T) storage.Store{
		"memory":      func(*testing.T) storage.Store { return storage.NewMemory() },
		"zero Memory": func(*testing.T) storage.Store { return new(storage.Memory) },
		"file": func(t *testing.T) storage.Store {
			f, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(t.TempDir(), "s"), Key: newKey(t)})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		"keyring (fake OS keyring)": func(t *testing.T) storage.Store {
			return storage.NewFakeKeyringForTest(t, filepath.Join(t.TempDir(), "s"))
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			if _, ok := open(t).(storage.Locker); !ok {
				t.Fatalf("%s is not a storage.Locker", name)
			}
			storagetest.Contract(t, open)
		})
	}
}

func newKey(t *testing.T) storage.FileKey {
	t.Helper()
	b := make([]byte, storage.KeySize)
	rand.Read(b)
	k, err := storage.KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
