package main

import (
	"context"

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

// openStore returns the store for cfg (storage.NewNative makes the
// choice above and moves a record between the keyring and the file when
// the choice changes), a description of where tokens are kept, and a
// notice for the user when the keyring was wanted but is missing.
func (a *app) openStore(ctx context.Context, cfg *config) (st storage.Store, where, notice string, err error) {
	mode := storage.NativeAuto
	switch cfg.store {
	case "keyring":
		mode = storage.NativeKeyring
	case "file":
		mode = storage.NativeFile
	}
	n, err := storage.NewNative(ctx, storage.NativeConfig{
		Service:    cfg.keyringService,
		Dir:        cfg.dir,
		KeyFile:    cfg.keyFile,
		Mode:       mode,
		NewKeyring: a.newKeyring,
	})
	if err != nil {
		return nil, "", "", err
	}
	return n, n.Where(), n.Notice(), nil
}
