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
// own AES-256-GCM encrypted file in a directory (behaviour 9 of the
// design):
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
//   - Lock takes an advisory lock on "<name>.lock" beside the record; see
//     [File.Lock].
//
// The directory's permissions are checked by NewFile, each file's by
// every Load and Save. On Windows, modes and owners are not checked (its
// access control lists are not modes) and the directory is not fsynced.
//
// A File is safe for concurrent use by multiple goroutines and processes.
// Save's check of the existing record and its rename are two steps: a
// process writing the same account with another key in between is not
// detected. Processes that share an account serialise their
// read-modify-write cycles with Lock anyway (behaviour 3 of the design).
// No error a File returns contains a key, passphrase or token.
//
// The zero File is not usable: create one with [NewFile].
type File struct {
	dir    string
	codec  codec   // how records are sealed; nil only inside a Keyring
	locks  lockSet // in-process side of Lock
	saving lockSet // in-process lock of each key's Save; never a file lock

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
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("storage: file: %w", err)
	}
	cleanupTemps(dir)
	return &File{dir: dir, codec: c, write: writeFile}, nil
}

// Load implements [Store].
func (f *File) Load(ctx context.Context, key string) (*Token, error) {
	return f.load(ctx, key, f.codec)
}

// Save implements [Store]. It first checks that the existing record, if
// any, decrypts with the store's key: if not, it returns that error and
// leaves the file as it is.
func (f *File) Save(ctx context.Context, key string, t *Token) error {
	return f.save(ctx, key, t, f.codec)
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
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: file: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("storage: file: sync %s: %w", f.dir, err)
	}
	return nil
}

func (f *File) load(ctx context.Context, key string, c codec) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := f.recordPath(key)
	if err != nil {
		return nil, err
	}
	return f.decode(path, key, c)
}

// decode returns the record at path, or an error matching ErrNotFound if
// there is none.
func (f *File) decode(path, key string, c codec) (*Token, error) {
	plain, err := f.read(path, key, c)
	if err != nil {
		return nil, err
	}
	t, err := decodeRecord(plain)
	if err != nil {
		return nil, fmt.Errorf("storage: file %s: %w", path, err)
	}
	return t, nil
}

func (f *File) save(ctx context.Context, key string, t *Token, c codec) error {
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
	// Saves of one key in this process take turns, so that the check of
	// the stored version and the rename are one step for them.
	release, err := f.saving.lockProc(ctx, path, key)
	if err != nil {
		return err
	}
	defer release()
	// The existing record must be ours and older. Checking costs one small
	// read and an AES-GCM open (derived keys are cached), next to two
	// fsyncs.
	cur, err := f.decode(path, key, c)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w (not overwritten: Delete the key to replace it)", err)
	}
	if err := checkFence(cur, t); err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	plain, err := encodeRecord(t)
	if err != nil {
		return fmt.Errorf("storage: file: %w", err)
	}
	data, err := c.seal(key, plain)
	if err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	if err := writeAtomic(path, data, f.write); err != nil {
		return fmt.Errorf("storage: file %s: %w", path, err)
	}
	return nil
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

// recordPath returns the path of key's record file.
func (f *File) recordPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("storage: file: empty key")
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
