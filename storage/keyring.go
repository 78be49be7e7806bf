package storage

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
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
// larger. So the keyring holds, per account, only a random 32-byte key
// (entry service [KeyringConfig.Service], account the key string), and the
// record lives in a [File] store in [KeyringConfig.Dir], encrypted with
// that key. This was chosen over splitting a record across several
// entries because:
//
//   - a Save is all-or-nothing through one atomic rename, already proven
//     by the file store's crash test, where chunks and a manifest in the
//     keyring cannot be replaced atomically and leave orphans on a crash;
//   - the keyring is written once per account, when its key is created,
//     not at every refresh-token rotation: no D-Bus round trips or macOS
//     access prompts per entry on the hot path of a refresh;
//   - any record size works on every platform.
//
// The cost: the record's ciphertext lives on disk (mode 0600 in a 0700
// directory) and is useless without the keyring entry; a keyring that is
// reset or restored without the directory (or the reverse) makes the
// record unreadable, reported as [ErrWrongKey], never overwritten or taken
// as "not found".
//
// # Errors and time limits
//
// Keyring failures match [ErrKeyringUnavailable], [ErrKeyringLocked],
// [ErrKeyringTooBig] or [ErrKeyringTimeout]. Every keyring call runs in its
// own goroutine bounded by [KeyringConfig.Timeout]: the Linux Secret
// Service can hang. A call that times out returns at once, but its
// goroutine lingers until D-Bus answers or the connection closes; a late
// answer is discarded. Every key written is read back and compared.
//
// A Keyring is safe for concurrent use by multiple goroutines and
// processes. It caches each account's key in memory and reads the
// keyring again when a record turns out to be encrypted with another key
// (another process logged out and in again). The zero Keyring is not
// usable: create one with [NewKeyring].
type Keyring struct {
	service string
	timeout time.Duration
	files   *File          // records and lock files, sealed with per-account keys
	backend keyringBackend // the OS keyring; tests use a fake

	mu   sync.Mutex
	keys map[string]*fileKey // guarded by mu; account key → its file key
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

// Load implements [Store].
func (k *Keyring) Load(ctx context.Context, key string) (*Token, error) {
	fk, cached, err := k.fileKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if fk == nil {
		return nil, k.noKey(key)
	}
	t, err := k.files.load(ctx, key, fk)
	if cached && errors.Is(err, ErrWrongKey) {
		k.forget(key)
		return k.Load(ctx, key)
	}
	return t, err
}

// Save implements [Store]. The first Save of an account creates its key in
// the keyring; it fails with [ErrWrongKey] if a record file exists for
// which the keyring has no key.
func (k *Keyring) Save(ctx context.Context, key string, t *Token) error {
	if t == nil {
		return errors.New("storage: keyring: save of a nil token")
	}
	fk, cached, err := k.fileKey(ctx, key)
	if err != nil {
		return err
	}
	if fk == nil {
		if fk, err = k.createKey(ctx, key); err != nil {
			return err
		}
	}
	err = k.files.save(ctx, key, t, fk)
	if cached && errors.Is(err, ErrWrongKey) {
		k.forget(key)
		return k.Save(ctx, key, t)
	}
	return err
}

// Delete implements [Store]: it removes the record file, then the key from
// the keyring. If the keyring fails, the record is already gone and the
// key stays, to be reused by the next Save.
func (k *Keyring) Delete(ctx context.Context, key string) error {
	if err := k.files.Delete(ctx, key); err != nil {
		return err
	}
	k.forget(key)
	_, err := k.call(ctx, "delete", key, func() (string, error) {
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

// fileKey returns key's file key from the cache (cached true) or the
// keyring, or nil if the keyring has none.
func (k *Keyring) fileKey(ctx context.Context, key string) (fk *fileKey, cached bool, err error) {
	if key == "" {
		return nil, false, errors.New("storage: keyring: empty key")
	}
	k.mu.Lock()
	fk = k.keys[key]
	k.mu.Unlock()
	if fk != nil {
		return fk, true, nil
	}
	v, err := k.call(ctx, "get", key, func() (string, error) { return k.backend.Get(k.service, key) })
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if fk, err = parseKeyringValue(v); err != nil {
		return nil, false, fmt.Errorf("storage: keyring: %q: %w", key, err)
	}
	k.remember(key, fk)
	return fk, false, nil
}

// createKey creates key's file key in the keyring. Processes creating the
// same account's key serialise on "<name>.keyinit.lock" (not the lock that
// Lock takes, which the caller of Save may hold), and the keyring is read
// again under that lock, so they all end with the same key.
func (k *Keyring) createKey(ctx context.Context, key string) (*fileKey, error) {
	unlock, err := k.files.locks.lock(ctx, k.files.lockPath(key, ".keyinit.lock"), key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if fk, _, err := k.fileKey(ctx, key); err != nil || fk != nil {
		return fk, err
	}
	if err := k.noKey(key); !errors.Is(err, ErrNotFound) {
		return nil, err // a record exists without a key: never replace it
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("storage: keyring: %w", err)
	}
	value := keyringValuePrefix + base64.RawStdEncoding.EncodeToString(raw)
	if _, err := k.call(ctx, "set", key, func() (string, error) { return "", k.backend.Set(k.service, key, value) }); err != nil {
		return nil, err
	}
	got, err := k.call(ctx, "read back", key, func() (string, error) { return k.backend.Get(k.service, key) })
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(value)) != 1 {
		return nil, fmt.Errorf("storage: keyring: %q: the key read back differs from the key written", key)
	}
	fk, err := KeyFromBytes(raw)
	if err != nil {
		return nil, err
	}
	k.remember(key, fk.k)
	return fk.k, nil
}

// keyringValuePrefix starts every keyring value this package writes, so
// that other formats can follow.
const keyringValuePrefix = "tokenkeeper-file-key-v1:"

func parseKeyringValue(v string) (*fileKey, error) {
	enc, ok := strings.CutPrefix(v, keyringValuePrefix)
	if !ok {
		return nil, fmt.Errorf("%w: the keyring entry is not a tokenkeeper file key", ErrCorrupt)
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("%w: the keyring entry holds a malformed file key", ErrCorrupt)
	}
	fk, err := KeyFromBytes(raw)
	return fk.k, err
}

func (k *Keyring) remember(key string, fk *fileKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]*fileKey)
	}
	k.keys[key] = fk
}

func (k *Keyring) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}
