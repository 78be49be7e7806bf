package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// KeyringConfig configures a [Keyring] store.
type KeyringConfig struct {
	// Service names the application in the OS keyring, e.g.
	// "com.example.mycli". Required; it is also a directory name, so it
	// must not contain a path separator or be "." or "..".
	Service string

	// Dir holds the encrypted record files and the lock files. Empty
	// means "<state dir>/<Service>/tokens", where the state dir is
	// $XDG_STATE_HOME or ~/.local/state on Linux and other Unix systems,
	// ~/Library/Application Support on macOS and %LocalAppData% on
	// Windows. It is created and checked like [FileConfig.Dir].
	Dir string

	// Timeout bounds every keyring call. Zero means 10 seconds. A user
	// asked by the desktop to unlock the keyring must answer within it.
	Timeout time.Duration
}

const defaultKeyringTimeout = 10 * time.Second

func (c *KeyringConfig) validate() error {
	s := c.Service
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("storage: keyring: KeyringConfig.Service %q must be a non-empty name without path separators", s)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("storage: keyring: KeyringConfig.Timeout %v is negative", c.Timeout)
	}
	return nil
}

func (c *KeyringConfig) timeout() time.Duration {
	if c.Timeout == 0 {
		return defaultKeyringTimeout
	}
	return c.Timeout
}

func (c *KeyringConfig) dir() (string, error) {
	if c.Dir != "" {
		return c.Dir, nil
	}
	var base string
	var err error
	switch runtime.GOOS {
	case "windows":
		base, err = os.UserCacheDir() // %LocalAppData%: per user, not roaming
	case "darwin", "ios":
		base, err = os.UserConfigDir() // ~/Library/Application Support
	default:
		if base = os.Getenv("XDG_STATE_HOME"); !filepath.IsAbs(base) {
			var home string
			home, err = os.UserHomeDir()
			base = filepath.Join(home, ".local", "state")
		}
	}
	if err != nil {
		return "", fmt.Errorf("storage: keyring: no directory for records, set KeyringConfig.Dir: %w", err)
	}
	return filepath.Join(base, c.Service, "tokens"), nil
}

// Keyring is a [Store] and [Locker] that keeps tokens safe with the OS
// keyring (macOS Keychain, Windows Credential Manager, the Secret Service
// on Linux) through github.com/zalando/go-keyring.
//
// # Size strategy
//
// Keyring entries are small: about 2.5 KB on Windows and 3 KB on macOS
// (service, account and secret together), and an ID token alone can be
// larger. So the keyring holds, per account, only a random 32-byte key and
// the newest version saved with it (entry service [KeyringConfig.Service],
// account the key string), and the record lives in a [File] store in
// [KeyringConfig.Dir], encrypted with that key. This was chosen over
// splitting a record across several entries because:
//
//   - a Save is all-or-nothing through one atomic rename, already proven
//     by the file store's crash test, where chunks and a manifest in the
//     keyring cannot be replaced atomically and leave orphans on a crash;
//   - the entry stays under 100 bytes whatever the record's size, so any
//     record size works on every platform.
//
// The cost: the record's ciphertext lives on disk (mode 0600 in a 0700
// directory) and is useless without the keyring entry; a keyring that is
// reset or restored without the directory (or the reverse) makes the
// record unreadable, reported as [ErrWrongKey], never overwritten or taken
// as "not found".
//
// # Keys, versions and other processes
//
// Load uses the entry cached in memory and reads the keyring again when
// the record turns out to be encrypted with another key (another process
// logged out and in again) or older than the cached version (another
// process saved Version 0). Save never trusts the cache: under a lock
// file shared by the processes of the account, it reads the entry, seals
// with the key found there (creating one if there is none), and then, if
// the version changed, writes the entry with the saved version and reads
// it back. That is one keyring call per Save, three when the version
// changes, about a millisecond each over D-Bus and tens of milliseconds
// on macOS, where go-keyring runs a program; package tokensource saves
// once per refresh. The version is recorded after the record is written,
// on a best-effort basis: if the keyring fails then, Save still succeeds
// (the record is durable) and the recorded version lags behind.
//
// Load refuses, with [ErrRolledBack], a record whose Version is below the
// one recorded in the entry (the record directory was restored from a
// backup), in every process and after restarts, and one older than a
// record this process saw (see [File]). A Delete, in any process, removes
// the entry; the next Save creates a new key, so versions start over and
// records of the old key are [ErrWrongKey]. Not detected: a keyring and a
// directory restored together, a rollback that happens while this process
// has the entry cached and has not seen the newer record, and records
// saved with Version 0. Entries written by this version are not readable
// by a tokenkeeper that predates version marks ([ErrCorrupt] there).
//
// # Errors and time limits
//
// Keyring failures match [ErrKeyringUnavailable], [ErrKeyringLocked],
// [ErrKeyringTooBig] or [ErrKeyringTimeout]. Every keyring call runs in its
// own goroutine bounded by [KeyringConfig.Timeout]: the Linux Secret
// Service can hang. A call that times out returns at once, but its
// goroutine lingers until D-Bus answers or the connection closes; a late
// answer is discarded. Every entry written is read back and compared.
//
// A Keyring is safe for concurrent use by multiple goroutines and
// processes. The zero Keyring is not usable: create one with
// [NewKeyring].
type Keyring struct {
	service string
	timeout time.Duration
	files   *File          // records and lock files, sealed with per-account keys
	backend keyringBackend // the OS keyring; tests use a fake

	mu   sync.Mutex
	keys map[string]keyEntry // guarded by mu; account key → its entry as last read or written
}

// keyEntry is one account's keyring entry: its file key and the newest
// version saved under that key (0 when unknown).
type keyEntry struct {
	fk   *fileKey
	mark uint64
}

var (
	_ Store  = (*Keyring)(nil)
	_ Locker = (*Keyring)(nil)
)

// NewKeyring returns a [Keyring] store for cfg. It creates and checks the
// records directory but does not talk to the keyring yet.
func NewKeyring(cfg KeyringConfig) (*Keyring, error) {
	return newKeyring(cfg, osKeyring{})
}

func newKeyring(cfg KeyringConfig, backend keyringBackend) (*Keyring, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := cfg.dir()
	if err != nil {
		return nil, err
	}
	files, err := newFile(dir, nil)
	if err != nil {
		return nil, err
	}
	return &Keyring{service: cfg.Service, timeout: cfg.timeout(), files: files, backend: backend}, nil
}

// Load implements [Store]. It refuses a record older than the version
// recorded in the keyring entry or one this process has seen
// ([ErrRolledBack]; see [Keyring]).
func (k *Keyring) Load(ctx context.Context, key string) (*Token, error) {
	e, cached, err := k.entry(ctx, key)
	if err != nil {
		return nil, err
	}
	if e.fk == nil {
		return nil, k.noKey(key)
	}
	t, err := k.files.load(ctx, key, e.fk, e.mark)
	// Another process may have replaced the key (a new login) or lowered
	// the version (an unversioned save) since the entry was cached.
	if cached && (errors.Is(err, ErrWrongKey) || errors.Is(err, ErrRolledBack)) {
		k.forget(key)
		return k.Load(ctx, key)
	}
	return t, err
}

// Save implements [Store]. The first Save of an account creates its key in
// the keyring; it fails with [ErrWrongKey] if a record file exists for
// which the keyring has no key. Every Save reads the account's entry from
// the keyring, never from the cache, so that it seals with the key other
// processes will read, then records the saved version in the entry; see
// [Keyring] for the cost.
func (k *Keyring) Save(ctx context.Context, key string, t *Token) error {
	if t == nil {
		return errors.New("storage: keyring: save of a nil token")
	}
	unlock, err := k.lockEntry(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	e, err := k.readEntry(ctx, key)
	if err != nil {
		return err
	}
	if e.fk == nil {
		if e, err = k.createKey(ctx, key); err != nil {
			return err
		}
	}
	k.remember(key, e)
	if err := k.files.save(ctx, key, t, e.fk, e.mark); err != nil {
		return err
	}
	if t.Version != e.mark {
		// Best effort: the record is saved. If the keyring fails now, the
		// mark lags behind and only protects up to the version it holds.
		value := formatKeyringValue(e.fk.raw, t.Version)
		if err := k.writeEntry(ctx, key, value); err == nil {
			k.remember(key, keyEntry{fk: e.fk, mark: t.Version})
		}
	}
	return nil
}

// Delete implements [Store]: it removes the record file, then the key from
// the keyring. If the keyring fails, the record is already gone and the
// key stays, to be reused by the next Save.
func (k *Keyring) Delete(ctx context.Context, key string) error {
	unlock, err := k.lockEntry(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if err := k.files.Delete(ctx, key); err != nil {
		return err
	}
	k.forget(key)
	_, err = k.call(ctx, "delete", key, func() (string, error) {
		return "", k.backend.Delete(k.service, key)
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Lock implements [Locker] with a lock file in [KeyringConfig.Dir]; see
// [File.Lock].
func (k *Keyring) Lock(ctx context.Context, key string) (func() error, error) {
	return k.files.Lock(ctx, key)
}

// lockEntry serialises the processes that write or delete key's entry, on
// "<name>.keyinit.lock" (not the lock that Lock takes, which the caller
// of Save may hold). The returned function releases it.
func (k *Keyring) lockEntry(ctx context.Context, key string) (func(), error) {
	if key == "" {
		return nil, errors.New("storage: keyring: empty key")
	}
	unlock, err := k.files.locks.lock(ctx, k.files.lockPath(key, ".keyinit.lock"), key)
	if err != nil {
		return nil, err
	}
	return func() { unlock() }, nil
}

// noKey is the error of Load when the keyring has no key for key.
func (k *Keyring) noKey(key string) error {
	path, err := k.files.recordPath(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: keyring: %q: %w", key, ErrNotFound)
	}
	return fmt.Errorf("storage: keyring: %q: %w: the keyring has no key for the record file %s; Delete the key to start over",
		key, ErrWrongKey, path)
}

// entry returns key's entry from the cache (cached true) or the keyring;
// its fk is nil if the keyring has none.
func (k *Keyring) entry(ctx context.Context, key string) (e keyEntry, cached bool, err error) {
	if key == "" {
		return keyEntry{}, false, errors.New("storage: keyring: empty key")
	}
	k.mu.Lock()
	e, cached = k.keys[key]
	k.mu.Unlock()
	if cached {
		return e, true, nil
	}
	e, err = k.readEntry(ctx, key)
	if err == nil && e.fk != nil {
		k.remember(key, e)
	}
	return e, false, err
}

func (k *Keyring) remember(key string, e keyEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]keyEntry)
	}
	k.keys[key] = e
}

func (k *Keyring) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}
