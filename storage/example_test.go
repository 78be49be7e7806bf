package storage_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// An encrypted file store: in a real program the key comes from
// KeyFromFile, KeyFromEnv or KeyFromPassphrase, and the directory is a
// per-user one such as os.UserConfigDir()/<app>/tokens.
func ExampleFile() {
	tmp, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	key := make([]byte, storage.KeySize)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	fk, err := storage.KeyFromBytes(key)
	if err != nil {
		log.Fatal(err)
	}
	store, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(tmp, "tokens"), Key: fk})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	const account = "https://issuer.example.com|my-cli|user@example.com"
	if _, err := store.Load(ctx, account); errors.Is(err, storage.ErrNotFound) {
		fmt.Println("not logged in yet")
	}

	// Serialise with other processes of the app while updating the record.
	unlock, err := store.Lock(ctx, account)
	if err != nil {
		log.Fatal(err)
	}
	err = store.Save(ctx, account, &storage.Token{
		AccessToken:  "eyJhbGciOiJSUzI1NiJ9.access",
		TokenType:    "Bearer",
		RefreshToken: "refresh-1",
		Expiry:       time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Version:      1,
	})
	if err := errors.Join(err, unlock()); err != nil {
		log.Fatal(err)
	}

	t, err := store.Load(ctx, account)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.TokenType, t.Version, t.Expiry.Format(time.DateOnly))
	fmt.Println(t) // tokens are redacted

	// Another key cannot read the record, and Save will not overwrite it.
	other, _ := storage.KeyFromBytes(make([]byte, storage.KeySize))
	wrong, _ := storage.NewFile(storage.FileConfig{Dir: filepath.Join(tmp, "tokens"), Key: other})
	_, err = wrong.Load(ctx, account)
	fmt.Println(errors.Is(err, storage.ErrWrongKey))
	// Output:
	// not logged in yet
	// Bearer 1 2030-01-01
	// storage.Token{AccessToken:[REDACTED] TokenType:"Bearer" RefreshToken:[REDACTED] IDToken:"" Scope:"" Expiry:2030-01-01T00:00:00Z RefreshExpiry:0 AuthTime:0 DPoPKey:"" Version:1}
	// true
}

// A CLI's token store: the OS keyring when there is one, else an encrypted
// file in the state directory, with a notice for the user. (Not run: it
// would talk to this machine's keyring.)
func ExampleNewNative() {
	ctx := context.Background()
	store, err := storage.NewNative(ctx, storage.NativeConfig{Service: "com.example.mycli"})
	if err != nil {
		log.Fatal(err)
	}
	if n := store.Notice(); n != "" {
		fmt.Fprintln(os.Stderr, n)
	}
	fmt.Println("Tokens are stored in", store.Where())
	// Pass store to tokensource or client as their Store.
}
