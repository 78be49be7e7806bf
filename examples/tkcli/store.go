package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// Where tokens go.
//
// The OS keyring is the right place for a desktop user's refresh token:
// it keeps the token from other users of the machine and from a copy of
// the disk or a backup, but no OS keyring keeps it from another program
// running as the same user:
//
//   - macOS Keychain: the item is encrypted in the user's login keychain,
//     but go-keyring creates it through /usr/bin/security without -T, so
//     the application the item trusts is security itself and any process
//     of the user can read it, without a prompt, while the keychain is
//     unlocked.
//   - Windows Credential Manager: the credential is encrypted with the
//     user's logon secret (DPAPI), and any process of that user can read
//     it; Windows has no per-application control.
//   - Linux Secret Service: the collection is encrypted with the login
//     password on disk, and while it is unlocked (normally the whole
//     session) any process on the user's D-Bus session bus can read it.
//
// storage.Keyring keeps a random key per account there and the token
// record, encrypted with it, in DIR/keyring.
//
// Without a keyring (a server over SSH, a container, CI), tkcli falls back
// to storage.File: the record is AES-256-GCM encrypted in DIR/tokens with
// a random 32-byte key kept in DIR/file.key (created with mode 0600, in a
// 0700 directory; tokenkeeper refuses a key file or record that others can
// read). That is the choice gh and gcloud make with a plain file, plus
// encryption: the key beside the records protects against a record copied
// or backed up on its own (a synced state directory, a support bundle),
// but not against a program running as the same user, which can read both
// files — that is what the keyring is for. To keep the key elsewhere (a
// secrets mount, another volume), point TKCLI_KEY_FILE at it.

// openStore returns the store for cfg, a description of where tokens are
// kept, and a notice for the user when the keyring was wanted but is
// missing. key is the account's key, used to probe the keyring.
func (a *app) openStore(ctx context.Context, cfg *config, key string) (st storage.Store, where, notice string, err error) {
	if cfg.store == "file" {
		st, where, err = fileStore(cfg)
		return st, where, "", err
	}
	kc := storage.KeyringConfig{Service: cfg.keyringService, Dir: filepath.Join(cfg.dir, "keyring")}
	newKeyring := a.newKeyring
	if newKeyring == nil {
		newKeyring = func(c storage.KeyringConfig) (storage.Store, error) { return storage.NewKeyring(c) }
	}
	k, err := newKeyring(kc)
	if err != nil {
		return nil, "", "", err
	}
	// The first keyring call tells whether there is a keyring at all.
	_, kerr := k.Load(ctx, key)
	switch {
	case kerr == nil || errors.Is(kerr, storage.ErrNotFound):
		return k, fmt.Sprintf("the OS keyring (service %q), with the encrypted record in %s", kc.Service, kc.Dir), "", nil
	case errors.Is(kerr, storage.ErrKeyringUnavailable) && cfg.store == "auto":
		st, where, err = fileStore(cfg)
		if err != nil {
			return nil, "", "", err
		}
		notice = fmt.Sprintf("No OS keyring is available here (%v).\nTokens are kept in %s instead.", kerr, where)
		return st, where, notice, nil
	default:
		return nil, "", "", kerr
	}
}

// fileStore opens the encrypted file store, creating its key on first use.
func fileStore(cfg *config) (storage.Store, string, error) {
	if err := ensureKeyFile(cfg.keyFile); err != nil {
		return nil, "", err
	}
	key, err := storage.KeyFromFile(cfg.keyFile)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(cfg.dir, "tokens")
	st, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: key})
	if err != nil {
		return nil, "", err
	}
	return st, fmt.Sprintf("an encrypted file in %s (key in %s)", dir, cfg.keyFile), nil
}

// ensureKeyFile creates path with a random 32-byte key, hex encoded, mode
// 0600, unless it exists. The key is written to a temporary file that is
// then hard-linked to path, so no reader ever sees a partial key and, of
// two first runs racing, both end up with the same key.
func ensureKeyFile(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return nil // storage.KeyFromFile checks its owner and mode
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the key file's directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".file.key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("creating the key file: %w", err)
	}
	defer os.Remove(f.Name())
	raw := make([]byte, storage.KeySize)
	if _, err := rand.Read(raw); err != nil {
		f.Close()
		return err
	}
	_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
	clear(raw)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("writing the key file: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating the key file: %w", err)
	}
	return nil
}
