package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// NativeMode says which store [NewNative] may choose.
type NativeMode int

const (
	// NativeAuto uses the OS keyring when there is one, else the
	// encrypted file. It is the zero NativeMode.
	NativeAuto NativeMode = iota
	// NativeKeyring uses the OS keyring, and NewNative fails with
	// [ErrKeyringUnavailable] when there is none.
	NativeKeyring
	// NativeFile uses the encrypted file and never talks to the keyring
	// unless a record is found there to migrate (see [Native]).
	NativeFile
)

// NativeConfig configures a [Native] store.
type NativeConfig struct {
	// Service names the application in the OS keyring, e.g.
	// "com.example.mycli"; see [KeyringConfig.Service]. Required.
	Service string

	// Dir holds the store's files: the keyring's encrypted records in
	// Dir/keyring, the file store's in Dir/tokens, and by default the file
	// store's key. Empty means "<state dir>/<Service>", with the state
	// dir of [KeyringConfig.Dir].
	Dir string

	// KeyFile is the file store's key, created on first use with a random
	// 32-byte key (mode 0600, in a directory created with mode 0700).
	// Empty means Dir/file.key. Point it elsewhere (a secrets mount,
	// another volume) to keep the key apart from the records.
	KeyFile string

	// Mode says which store may be chosen. Zero is [NativeAuto].
	Mode NativeMode

	// Timeout bounds every keyring call; see [KeyringConfig.Timeout].
	Timeout time.Duration

	// NewKeyring opens the keyring store. Nil means [NewKeyring]. Tests
	// and applications with a keyring of their own set it; the store it
	// returns must report a missing keyring with [ErrKeyringUnavailable]
	// and keep its records in [KeyringConfig.Dir] as [Keyring] does.
	NewKeyring func(KeyringConfig) (Store, error)
}

func (c *NativeConfig) validate() error {
	kc := c.keyringConfig("")
	if err := kc.validate(); err != nil {
		return err
	}
	if c.Mode < NativeAuto || c.Mode > NativeFile {
		return fmt.Errorf("storage: native: NativeConfig.Mode %d is unknown", c.Mode)
	}
	return nil
}

func (c *NativeConfig) dir() (string, error) {
	if c.Dir != "" {
		return c.Dir, nil
	}
	kc := c.keyringConfig("")
	d, err := kc.dir() // <state dir>/<Service>/tokens
	if err != nil {
		return "", err
	}
	return filepath.Dir(d), nil
}

func (c *NativeConfig) keyFile(dir string) string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(dir, "file.key")
}

func (c *NativeConfig) keyringConfig(dir string) KeyringConfig {
	return KeyringConfig{Service: c.Service, Dir: dir, Timeout: c.Timeout}
}

func (c *NativeConfig) newKeyring(kc KeyringConfig) (Store, error) {
	if c.NewKeyring != nil {
		return c.NewKeyring(kc)
	}
	return NewKeyring(kc)
}

// Native is a [Store] and [Locker] for the tokens of an application
// running on a user's machine (a CLI, a desktop app). It keeps them in the
// OS keyring when there is one, else in an encrypted file, and moves a
// record from one to the other when the choice changes.
//
// # Where tokens go
//
// The OS keyring is the right place for a desktop user's refresh token:
// it keeps the token from other users of the machine and from a copy of
// the disk or a backup, but no OS keyring keeps it from another program
// running as the same user:
//
//   - macOS Keychain: the item is encrypted in the user's login keychain,
//     but go-keyring creates it through /usr/bin/security without -T, so
//     any process of the user can read it, without a prompt, while the
//     keychain is unlocked.
//   - Windows Credential Manager: the credential is encrypted with the
//     user's logon secret (DPAPI), and any process of that user can read
//     it; Windows has no per-application control.
//   - Linux Secret Service: the collection is encrypted with the login
//     password on disk, and while it is unlocked (normally the whole
//     session) any process on the user's D-Bus session bus can read it.
//
// There, Native uses a [Keyring] with its records in Dir/keyring.
// Without a keyring (a server over SSH, a container, CI), it uses a [File]
// in Dir/tokens, AES-256-GCM encrypted with a random 32-byte key kept in
// [NativeConfig.KeyFile] (created on first use, mode 0600 in a 0700
// directory). The key beside the records protects against a record copied
// or backed up on its own (a synced state directory, a support bundle),
// but not against a program running as the same user, which can read both
// files: that is what the keyring is for. [Native.Where] says which store
// was chosen and [Native.Notice] tells the user when the keyring was
// wanted but missing.
//
// # Migration
//
// A Load of a key the chosen store has no record for looks in the other
// store, if that store has a record file for the key on disk (nothing is
// created just to look). A record found there is saved into the chosen
// store, with the same Version, and deleted from the other, so a login
// made without a keyring is found once a keyring appears, and the
// reverse. An error of the other store other than [ErrNotFound] (a
// corrupt record, a keyring that is missing or locked) is returned, never
// taken as "no record". Delete removes the key from both stores.
//
// Native implements neither [LeaseLocker] nor [Lister]: [Keyring] and
// [File] do not. A Native is safe for concurrent use by multiple
// goroutines and processes; the zero Native is not usable: create one
// with [NewNative].
type Native struct {
	chosen Store
	where  string
	notice string

	// The other store, opened on first need; mu guards the fields below.
	mu        sync.Mutex
	other     Store
	otherDir  string                // its records directory
	openOther func() (Store, error) // opens it; nil when it cannot be consulted
}

var (
	_ Store  = (*Native)(nil)
	_ Locker = (*Native)(nil)
)

// NewNative returns a [Native] store for cfg. It asks the keyring whether
// it is there (unless cfg.Mode is [NativeFile]) and creates the chosen
// store's directories, and the key file when the file store is chosen.
// It fails with [ErrKeyringUnavailable] when cfg.Mode is [NativeKeyring]
// and there is no keyring.
func NewNative(ctx context.Context, cfg NativeConfig) (*Native, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := cfg.dir()
	if err != nil {
		return nil, err
	}
	keyFile := cfg.keyFile(dir)
	kc := cfg.keyringConfig(filepath.Join(dir, "keyring"))
	fileDir := filepath.Join(dir, "tokens")
	openFile := func() (Store, error) { return openNativeFile(fileDir, keyFile) }
	if cfg.Mode == NativeFile {
		return newNativeFile(fileDir, keyFile, "", kc.Dir, func() (Store, error) { return cfg.newKeyring(kc) })
	}
	k, kerr := probeKeyring(ctx, &cfg, kc)
	switch {
	case kerr == nil:
		return &Native{
			chosen:    k,
			where:     fmt.Sprintf("the OS keyring (service %q), with the encrypted record in %s", kc.Service, kc.Dir),
			otherDir:  fileDir,
			openOther: openFile,
		}, nil
	case errors.Is(kerr, ErrKeyringUnavailable) && cfg.Mode == NativeAuto:
		notice := fmt.Sprintf("No OS keyring is available here, so tokens are kept in an encrypted file in %s.", fileDir)
		// The keyring cannot be read: records there wait for it.
		return newNativeFile(fileDir, keyFile, notice, "", nil)
	default:
		return nil, kerr
	}
}

// newNativeFile returns a Native on the file store; otherDir and openOther
// are the keyring's, if it may be consulted.
func newNativeFile(fileDir, keyFile, notice, otherDir string, openOther func() (Store, error)) (*Native, error) {
	if err := ensureKeyFile(keyFile); err != nil {
		return nil, err
	}
	f, err := openNativeFile(fileDir, keyFile)
	if err != nil {
		return nil, err
	}
	return &Native{
		chosen:    f,
		where:     fmt.Sprintf("an encrypted file in %s (key in %s)", fileDir, keyFile),
		notice:    notice,
		otherDir:  otherDir,
		openOther: openOther,
	}, nil
}

func openNativeFile(dir, keyFile string) (Store, error) {
	key, err := KeyFromFile(keyFile)
	if err != nil {
		return nil, err
	}
	return NewFile(FileConfig{Dir: dir, Key: key})
}

// probeKeyring opens the keyring store and asks it for a record, which
// tells whether there is a keyring at all. If there is none, it removes the
// records directory if opening the store created it.
func probeKeyring(ctx context.Context, cfg *NativeConfig, kc KeyringConfig) (Store, error) {
	_, statErr := os.Lstat(kc.Dir)
	k, err := cfg.newKeyring(kc)
	if err != nil {
		return nil, err
	}
	_, err = k.Load(ctx, "tokenkeeper-native-probe")
	if err == nil || errors.Is(err, ErrNotFound) {
		return k, nil
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		os.Remove(kc.Dir) // only if empty
	}
	return nil, err
}

// Where describes, in one sentence fragment for the user, where tokens are
// kept, e.g. `the OS keyring (service "x"), with the encrypted record in
// DIR` or "an encrypted file in DIR (key in KEYFILE)".
func (n *Native) Where() string { return n.where }

// Notice is one sentence for the user when the OS keyring was wanted but
// is missing, saying where tokens are kept instead; "" otherwise.
func (n *Native) Notice() string { return n.notice }

// Load implements [Store]. If the chosen store has no record for key, it
// moves one from the other store; see [Native].
func (n *Native) Load(ctx context.Context, key string) (*Token, error) {
	t, err := n.chosen.Load(ctx, key)
	if !errors.Is(err, ErrNotFound) {
		return t, err
	}
	other, oerr := n.otherFor(key)
	if oerr != nil {
		return nil, oerr
	}
	if other == nil {
		return nil, err
	}
	t, oerr = other.Load(ctx, key)
	if errors.Is(oerr, ErrNotFound) {
		// Gone since the check: another process may have moved it.
		return n.chosen.Load(ctx, key)
	}
	if oerr != nil {
		return nil, fmt.Errorf("storage: native: moving the record from %s: %w", n.otherDir, oerr)
	}
	if err := n.chosen.Save(ctx, key, t); errors.Is(err, ErrStale) {
		// Another process moved it first.
		return n.chosen.Load(ctx, key)
	} else if err != nil {
		return nil, err
	}
	if err := other.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("storage: native: deleting the moved record from %s: %w", n.otherDir, err)
	}
	return t, nil
}

// Save implements [Store] with the chosen store.
func (n *Native) Save(ctx context.Context, key string, t *Token) error {
	return n.chosen.Save(ctx, key, t)
}

// Delete implements [Store]: it deletes key from the chosen store and,
// if it has a record file for key, from the other.
func (n *Native) Delete(ctx context.Context, key string) error {
	if err := n.chosen.Delete(ctx, key); err != nil {
		return err
	}
	other, err := n.otherFor(key)
	if err != nil || other == nil {
		return err
	}
	return other.Delete(ctx, key)
}

// Lock implements [Locker] with the chosen store's lock. It fails if the
// store from [NativeConfig.NewKeyring] is not a Locker.
func (n *Native) Lock(ctx context.Context, key string) (func() error, error) {
	l, ok := n.chosen.(Locker)
	if !ok {
		return nil, fmt.Errorf("storage: native: %T is not a Locker", n.chosen)
	}
	return l.Lock(ctx, key)
}

// otherFor returns the other store if it may be consulted and has a record
// file for key on disk, opening it on first need; else nil.
func (n *Native) otherFor(key string) (Store, error) {
	if n.openOther == nil || key == "" {
		return nil, nil
	}
	_, err := os.Lstat(filepath.Join(n.otherDir, fileBase(key)+".tk"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: native: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.other == nil {
		if n.other, err = n.openOther(); err != nil {
			return nil, fmt.Errorf("storage: native: opening %s: %w", n.otherDir, err)
		}
	}
	return n.other, nil
}
