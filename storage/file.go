package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileConfig configures a [File] store.
type FileConfig struct {
	// Dir is the directory holding one record file and one lock file per
	// account key. Required. NewFile creates it with mode 0700 (and any
	// missing parent) when absent; an existing Dir must be a directory
	// owned by the current user that group and others cannot access
	// (e.g. mode 0700), or NewFile returns [ErrInsecurePermissions].
	// Symlinks in Dir are resolved once, by NewFile; see [File].
	Dir string

	// Key encrypts every record. Required: the zero FileKey is refused.
	Key FileKey
}

func (c *FileConfig) validate() error {
	if c.Dir == "" {
		return errors.New("storage: file: FileConfig.Dir is empty")
	}
	if c.Key.k == nil {
		return errors.New("storage: file: FileConfig.Key is the zero FileKey; use KeyFromBytes, KeyFromFile, KeyFromEnv or KeyFromPassphrase")
	}
	return nil
}

// codec turns a record into the bytes of its file and back.
type codec interface {
	seal(account string, plaintext []byte) ([]byte, error)
	open(account string, data []byte) ([]byte, error)
}

// File is a [Store] and [Locker] that keeps each account's record in its
// own AES-256-GCM encrypted file in a directory:
//
//   - The file name is a readable, sanitised prefix of the account key and
//     a hex SHA-256 prefix of it, so any key string is safe.
//   - A record is bound to its account key (associated data), so a file
//     copied to another account's name is [ErrCorrupt].
//   - Save writes a temporary file (mode 0600), fsyncs it, renames it over
//     the record and fsyncs the directory: a reader, in this process or
//     another, sees the old or the new record, never a torn one. Temporary
//     files left by a crashed process are removed by the next NewFile.
//   - Load and Save refuse a record that is a symlink, owned by another
//     user or accessible to group or others ([ErrInsecurePermissions]),
//     and one that does not decrypt with the store's key ([ErrWrongKey],
//     [ErrCorrupt], [ErrUnsupportedVersion]). Save never overwrites such a
//     file: Delete it first. There is no plaintext fallback.
//   - Save refuses a record that is not newer than the stored one
//     ([ErrStale], see [Store]) and one too big for Load to accept
//     ([ErrTooBig]), before writing anything.
//   - Lock takes an advisory lock on "<name>.lock" beside the record; see
//     [File.Lock].
//
// # Directory
//
// NewFile resolves symlinks in Dir once and works in the directory it
// found. Every operation then checks that Dir still leads to that same
// directory (same device and inode on Unix) and that it is still private
// (owned by the current user, mode 0700): if Dir was re-pointed to
// another directory or the directory replaced, it returns
// [ErrInsecurePermissions] and touches nothing; create the store again
// after checking the directory. On Windows, modes and owners are not
// checked (its access control lists are not modes) and the directory is
// not fsynced.
//
// # Rolled-back records
//
// Each record carries a random lineage id, kept by every Save that
// replaces a record and renewed by a Save that creates one (after a
// Delete, in any process) or saves Version 0. A File remembers, in
// memory, the newest version it has loaded or saved of each key's
// lineage and the lineages that replaced ones it saw; Load then refuses
// a record of the same lineage with a lower Version, or of a lineage
// that was replaced, with [ErrRolledBack], and Save refuses to overwrite
// it. A Delete followed by a new login, here or in another process,
// starts a new lineage and is never refused. What a File cannot detect:
// a rollback before this process has seen a newer record (after a
// restart, the first record loaded is believed), and records written by
// a tokenkeeper that predates lineages or with Version 0. [Keyring] also
// records the newest version in the OS keyring, which survives restarts.
//
// # Concurrency
//
// A File is safe for concurrent use by multiple goroutines and processes.
// In one process, the Loads, Saves and Deletes of one key take turns, so
// that a Save's check of the stored record and its rename are one step.
// Between processes they are two steps: processes that share an account
// make them one by holding the account's Lock around Load and Save, as
// package tokensource does; otherwise a Save by another process in
// between, of an older record or with another key, is not detected.
// No error a File returns contains a key, passphrase or token.
//
// The zero File is not usable: create one with [NewFile].
type File struct {
	dir     string      // the directory, symlinks resolved by NewFile
	given   string      // the absolute directory NewFile was given
	dirInfo os.FileInfo // the identity of dir when NewFile checked it
	codec   codec       // how records are sealed; nil only inside a Keyring
	locks   lockSet     // in-process side of Lock
	keyMu   lockSet     // in-process lock of each key's Load, Save and Delete; never a file lock
	seen    seenRecords // newest records seen, to detect rollbacks

	// write writes a record to its temporary file; tests inject failures.
	write func(*os.File, []byte) (int, error)
}

var (
	_ Store  = (*File)(nil)
	_ Locker = (*File)(nil)
)

// NewFile returns a [File] store for cfg. It creates cfg.Dir if needed,
// checks its permissions and removes temporary files that crashed writers
// left behind.
func NewFile(cfg FileConfig) (*File, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newFile(cfg.Dir, cfg.Key.k)
}

func newFile(dir string, c codec) (*File, error) {
	given, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	if err := ensureDir(given); err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	real, info, err := resolveDir(given)
	if err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	cleanupTemps(real)
	return &File{dir: real, given: given, dirInfo: info, codec: c, write: writeFile}, nil
}

// Load implements [Store]. It refuses a record older than one this File
// has seen ([ErrRolledBack]; see [File]).
func (f *File) Load(ctx context.Context, key string) (*Token, error) {
	return f.load(ctx, key, f.codec, 0)
}

// Save implements [Store]. It first checks that the existing record, if
// any, decrypts with the store's key and is not rolled back: if not, it
// returns that error and leaves the file as it is. It refuses a record
// whose Version is not above the stored one's ([ErrStale]) and one too
// big for Load ([ErrTooBig]).
func (f *File) Save(ctx context.Context, key string, t *Token) error {
	return f.save(ctx, key, t, f.codec, 0)
}

// Delete implements [Store]. It removes the record file, not the lock file.
func (f *File) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := f.recordPath(key)
	if err != nil {
		return err
	}
	release, err := f.keyMu.lockProc(ctx, path, key)
	if err != nil {
		return err
	}
	defer release()
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: file: %w", err)
	}
	f.seen.get(key).retire()
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("storage: file: sync %s: %w", f.dir, err)
	}
	return nil
}

// load returns key's record. floor is the lowest version known from
// outside this process to have been stored (0 for none).
func (f *File) load(ctx context.Context, key string, c codec, floor uint64) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := f.recordPath(key)
	if err != nil {
		return nil, err
	}
	release, err := f.keyMu.lockProc(ctx, path, key)
	if err != nil {
		return nil, err
	}
	defer release()
	t, lineage, err := f.current(path, key, c, floor)
	if err != nil {
		return nil, err
	}
	f.seen.get(key).observe(lineage, t.Version)
	return t, nil
}

// current returns the record at path and its lineage, or an error
// matching ErrNotFound if there is none, or ErrRolledBack if it is older
// than floor or than a record this File has seen. The caller holds key's
// keyMu.
func (f *File) current(path, key string, c codec, floor uint64) (*Token, string, error) {
	plain, err := f.read(path, key, c)
	if err != nil {
		return nil, "", err
	}
	t, lineage, err := decodeRecord(plain)
	if err == nil {
		err = f.seen.get(key).check(lineage, t.Version, floor)
	}
	if err != nil {
		return nil, "", fmt.Errorf("storage: file %s: %w", path, err)
	}
	return t, lineage, nil
}

func (f *File) save(ctx context.Context, key string, t *Token, c codec, floor uint64) error {
	if t == nil {
		return errors.New("storage: file: save of a nil token")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := f.recordPath(key)
	if err != nil {
		return err
	}
	release, err := f.keyMu.lockProc(ctx, path, key)
	if err != nil {
		return err
	}
	defer release()
	// The existing record must be ours, not rolled back, and older.
	// Checking costs one small read and an AES-GCM open (derived keys are
	// cached), next to two fsyncs.
	cur, lineage, err := f.current(path, key, c, floor)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w (not overwritten: Delete the key to replace it)", err)
	}
	if err := checkFence(cur, t); err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	if cur == nil || lineage == "" || t.Version == 0 {
		if lineage, err = newLineage(); err != nil {
			return fmt.Errorf("storage: file: %w", err)
		}
	}
	data, err := f.sealRecord(key, t, lineage, c)
	if err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	if err := writeAtomic(path, data, f.write); err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	f.seen.get(key).saved(lineage, t.Version)
	return nil
}

// sealRecord returns the record file of t, or an error matching ErrTooBig
// if Load would refuse it for its size.
func (f *File) sealRecord(key string, t *Token, lineage string, c codec) ([]byte, error) {
	plain, err := encodeRecord(t, lineage)
	if err != nil {
		return nil, err
	}
	data, err := c.seal(key, plain)
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes encrypted, more than the %d a record file may hold (the ID token alone is %d bytes); nothing was written",
			ErrTooBig, len(data), maxFileSize, len(t.IDToken))
	}
	return data, nil
}

// read returns the decrypted record at path, or an error matching
// ErrNotFound if there is none.
func (f *File) read(path, key string, c codec) ([]byte, error) {
	fd, err := openNoFollow(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("storage: file %s: %w", path, ErrNotFound)
		}
		return nil, fmt.Errorf("storage: file %w", symlinkError(path, err))
	}
	defer fd.Close()
	if err := checkFile(fd, path); err != nil {
		return nil, fmt.Errorf("storage: file %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("storage: file %s: %w", path, err)
	}
	plain, err := c.open(key, data)
	if err != nil {
		return nil, fmt.Errorf("storage: file %s: %w", path, err)
	}
	return plain, nil
}

// recordPath returns the path of key's record file, after checking that
// the store's directory is still the one NewFile checked.
func (f *File) recordPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("storage: file: empty key")
	}
	if err := f.checkSameDir(); err != nil {
		return "", fmt.Errorf("storage: file: %w", err)
	}
	return filepath.Join(f.dir, fileBase(key)+".tk"), nil
}

// lockPath returns the path of key's lock file.
func (f *File) lockPath(key, suffix string) string {
	return filepath.Join(f.dir, fileBase(key)+suffix)
}

// fileBase maps an account key to a file name stem: up to 32 characters of
// the key with everything but ASCII letters, digits and "@._+-" replaced by
// "_" (and no leading "." or "-"), then "-" and 32 hex digits of the key's
// SHA-256. No key can produce a path separator or "..".
func fileBase(key string) string {
	var b strings.Builder
	for _, r := range key {
		if b.Len() >= 32 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune("@._+-", r) && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(key))
	return b.String() + "-" + hex.EncodeToString(sum[:16])
}
