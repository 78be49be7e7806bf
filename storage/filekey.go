package storage

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// KeySize is the size in bytes of the AES-256 keys [File] encrypts with.
const KeySize = 32

// FileKey is the key a [File] store encrypts its records with: a 32-byte
// key, or a passphrase from which keys are derived with Argon2id. Create
// one with [KeyFromBytes], [KeyFromFile], [KeyFromEnv] or
// [KeyFromPassphrase]; they copy the secret, so the caller may wipe its own
// copy afterwards.
//
// The zero FileKey holds no key and is refused by [NewFile]. A FileKey is a
// small handle: copies share the same key and the same cache of derived
// keys, and it is safe for concurrent use. Printing a FileKey with any fmt
// verb or logging it with log/slog shows only its kind and key id.
type FileKey struct {
	k *fileKey
}

// kdfKind is how the key of a record file is obtained.
type kdfKind uint8

const (
	kdfNone     kdfKind = 0 // the key is used as given
	kdfArgon2id kdfKind = 1 // the key is derived from a passphrase
)

// Argon2id parameters for new files, RFC 9106 section 4 second recommended
// option. They are also the caps enforced on parameters read from a file
// header, so that a file written by someone else cannot make every open
// cost more than a file this version writes.
const (
	argonTime      = 3
	argonMemoryKiB = 64 * 1024
	argonThreads   = 4

	saltSize = 16
	keyIDLen = 8

	maxDerivedKeys = 16 // derived keys cached per passphrase FileKey
)

// kdfParams are the Argon2id parameters of one file; comparable, so they
// key the cache of derived keys.
type kdfParams struct {
	time      uint32
	memoryKiB uint32
	threads   uint8
	salt      [saltSize]byte
}

// cost reports whether p costs at least as much as q to derive.
func (p kdfParams) costsAtLeast(q kdfParams) bool {
	return p.time >= q.time && p.memoryKiB >= q.memoryKiB && p.threads >= q.threads
}

// kdfLimits caps the parameters accepted from a file header; the caps are
// checked before any key is derived.
type kdfLimits struct {
	maxTime, maxMemoryKiB uint32
	maxThreads            uint8
}

func (l kdfLimits) check(p kdfParams) error {
	if p.time == 0 || p.time > l.maxTime || p.threads == 0 || p.threads > l.maxThreads ||
		p.memoryKiB < 8*uint32(p.threads) || p.memoryKiB > l.maxMemoryKiB {
		return fmt.Errorf("%w: Argon2id parameters out of range (time %d, memory %d KiB, threads %d; this version accepts at most "+
			"what it writes, %d, %d KiB, %d): the file was written by another program or a later tokenkeeper; "+
			"open it with that, or Delete the key and log in again",
			ErrCorrupt, p.time, p.memoryKiB, p.threads, l.maxTime, l.maxMemoryKiB, l.maxThreads)
	}
	return nil
}

// fileKey is the state behind a FileKey.
type fileKey struct {
	kind kdfKind
	raw  []byte         // kdfNone: the key
	id   [keyIDLen]byte // kdfNone: keyID(raw)

	pass   []byte    // kdfArgon2id: the passphrase
	base   kdfParams // kdfArgon2id: the cost new files must at least have
	limits kdfLimits // kdfArgon2id: caps on parameters read from files

	// kdf derives a key: argon2.IDKey; tests count the calls.
	kdf func(pass, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) []byte

	mu      sync.Mutex
	write   kdfParams                 // guarded by mu; parameters for new files
	derived map[kdfParams]*derivedKey // guarded by mu; at most maxDerivedKeys entries
}

// derivedKey is one cached Argon2id derivation; once guards key and id.
type derivedKey struct {
	once sync.Once
	key  []byte
	id   [keyIDLen]byte
}

// KeyFromBytes returns a FileKey for a 32-byte key, which it copies.
func KeyFromBytes(key []byte) (FileKey, error) {
	if len(key) != KeySize {
		return FileKey{}, fmt.Errorf("storage: file key: got %d bytes, want %d", len(key), KeySize)
	}
	k := &fileKey{kind: kdfNone, raw: bytes.Clone(key), limits: defaultKDFLimits()}
	k.id = keyID(k.raw)
	return FileKey{k}, nil
}

// KeyFromFile returns a FileKey read from the file at path: either exactly
// 32 raw bytes, or the key in hex or base64 (standard or URL alphabet,
// padded or not), surrounding white space ignored. The file must be a
// regular file owned by the current user and not accessible to group or
// others (e.g. mode 0600), or [ErrInsecurePermissions] is returned.
func KeyFromFile(path string) (FileKey, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return FileKey{}, fmt.Errorf("storage: key file %s: %w", path, symlinkError(path, err))
	}
	defer f.Close()
	if err := checkFile(f, path); err != nil {
		return FileKey{}, fmt.Errorf("storage: key file %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return FileKey{}, fmt.Errorf("storage: key file %s: %w", path, err)
	}
	if len(b) == KeySize {
		return KeyFromBytes(b)
	}
	key, err := decodeKeyText(string(b))
	if err != nil {
		return FileKey{}, fmt.Errorf("storage: key file %s: %w", path, err)
	}
	return KeyFromBytes(key)
}

// KeyFromEnv returns a FileKey from the environment variable name, which
// holds the 32-byte key in hex or base64 (standard or URL alphabet, padded
// or not). The value never appears in an error.
func KeyFromEnv(name string) (FileKey, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return FileKey{}, fmt.Errorf("storage: file key: environment variable %s is not set", name)
	}
	key, err := decodeKeyText(v)
	if err != nil {
		return FileKey{}, fmt.Errorf("storage: file key: environment variable %s: %w", name, err)
	}
	return KeyFromBytes(key)
}

// decodeKeyText decodes a 32-byte key written in hex or base64. Its errors
// never quote the text.
func decodeKeyText(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not a %d-byte key in hex or base64 (%d characters)", KeySize, len(s))
}

// KeyFromPassphrase returns a FileKey that derives keys from pass, which it
// copies, with Argon2id (time 3, 64 MiB, 4 threads, a random 16-byte salt;
// all stored in each file's header). A derivation takes around 100 ms; the
// key derived for each salt is cached in the FileKey, so only the first
// Load or Save of a given salt pays for it. Parameters read from a file
// may not exceed these: a file asking for more time, memory or threads
// (written by another program, or by a later tokenkeeper with a higher
// cost) is [ErrCorrupt], refused before any key is derived and any memory
// allocated for it.
func KeyFromPassphrase(pass []byte) (FileKey, error) {
	return keyFromPassphrase(pass, kdfParams{time: argonTime, memoryKiB: argonMemoryKiB, threads: argonThreads}, defaultKDFLimits())
}

// defaultKDFLimits returns the caps on Argon2id parameters read from files.
func defaultKDFLimits() kdfLimits {
	return kdfLimits{maxTime: argonTime, maxMemoryKiB: argonMemoryKiB, maxThreads: argonThreads}
}

// keyFromPassphrase is KeyFromPassphrase with the cost and caps as
// parameters, so that tests can use cheap ones.
func keyFromPassphrase(pass []byte, p kdfParams, limits kdfLimits) (FileKey, error) {
	if len(pass) == 0 {
		return FileKey{}, errors.New("storage: file key: empty passphrase")
	}
	if _, err := rand.Read(p.salt[:]); err != nil {
		return FileKey{}, fmt.Errorf("storage: file key: salt: %w", err)
	}
	if err := limits.check(p); err != nil {
		return FileKey{}, fmt.Errorf("storage: file key: %w", err)
	}
	k := &fileKey{kind: kdfArgon2id, pass: bytes.Clone(pass), base: p, limits: limits, write: p, kdf: argon2.IDKey}
	return FileKey{k}, nil
}

// keyID names a key without revealing it: the first bytes of an HMAC of a
// fixed label under the key.
func keyID(key []byte) [keyIDLen]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tokenkeeper storage key id v1"))
	var id [keyIDLen]byte
	copy(id[:], m.Sum(nil))
	return id
}

// derive returns the key and key id for p, deriving it at most once per
// parameter set however many goroutines ask. p must have passed
// k.limits.check.
func (k *fileKey) derive(p kdfParams) ([]byte, [keyIDLen]byte) {
	k.mu.Lock()
	d := k.derived[p]
	if d == nil {
		if k.derived == nil {
			k.derived = make(map[kdfParams]*derivedKey)
		}
		if len(k.derived) >= maxDerivedKeys {
			for q := range k.derived {
				if q != k.write {
					delete(k.derived, q)
					break
				}
			}
		}
		d = new(derivedKey)
		k.derived[p] = d
	}
	k.mu.Unlock()
	d.once.Do(func() {
		d.key = k.kdf(k.pass, p.salt[:], p.time, p.memoryKiB, p.threads, KeySize)
		d.id = keyID(d.key)
	})
	return d.key, d.id
}

// writeParams returns the Argon2id parameters for a new file.
func (k *fileKey) writeParams() kdfParams {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.write
}

// adopt makes new files reuse p, the parameters of a file this key just
// decrypted, so that a process derives one key rather than two. p is
// adopted only if it costs at least as much as the key's own parameters.
func (k *fileKey) adopt(p kdfParams) {
	if !p.costsAtLeast(k.base) {
		return
	}
	k.mu.Lock()
	k.write = p
	k.mu.Unlock()
}

// describe names the key's kind and, for a raw key, its id.
func (k *fileKey) describe() string {
	if k == nil {
		return "none"
	}
	if k.kind == kdfArgon2id {
		return "passphrase (Argon2id)"
	}
	return "key id " + hex.EncodeToString(k.id[:])
}

// String describes the key without revealing it.
func (k FileKey) String() string { return "storage.FileKey(" + k.k.describe() + ")" }

// GoString is String.
func (k FileKey) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints String.
func (k FileKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue implements slog.LogValuer with String.
func (k FileKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
