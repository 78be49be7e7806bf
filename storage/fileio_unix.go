//go:build unix

package storage

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// noFollow is added to the flags of every open of a record or lock file.
const noFollow = syscall.O_NOFOLLOW

// openNoFollow opens path for reading, failing if it is a symlink. It does
// not block on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// checkFile checks that f, opened from path, is a regular file owned by
// the current user that group and others cannot access.
func checkFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file (%s); remove it", path, ErrInsecurePermissions, fi.Mode().Type())
	}
	if err := checkOwner(fi, path); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: %w: mode %#o lets other users access it; fix: chmod 600 %s", path, ErrInsecurePermissions, perm, path)
	}
	return nil
}

// checkDir checks that dir is a directory owned by the current user that
// group and others cannot access.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkDirInfo(fi, dir)
}

// checkDirInfo is checkDir for fi, the result of a Stat of dir.
func checkDirInfo(fi os.FileInfo, dir string) error {
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if err := checkOwner(fi, dir); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: %w: directory mode %#o lets other users access it; fix: chmod 700 %s", dir, ErrInsecurePermissions, perm, dir)
	}
	return nil
}

func checkOwner(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s: %w: owned by uid %d, not by this process's uid %d; fix: chown %d %s, or remove it",
			path, ErrInsecurePermissions, st.Uid, uid, uid, path)
	}
	return nil
}

// syncDir fsyncs dir so that a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockTemp takes a non-blocking exclusive flock on f, the temporary file
// just created at name, and checks that name still refers to it. It
// reports false when a cleaner got there first.
func lockTemp(f *os.File, name string) (bool, error) {
	if err := flockNB(f); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	return samePath(f, name), nil
}

// removeStaleTemp removes the temporary file name unless a writer holds
// its lock.
func removeStaleTemp(name string) {
	f, err := openNoFollow(name)
	if err != nil {
		return
	}
	defer f.Close()
	if flockNB(f) != nil || !samePath(f, name) {
		return
	}
	os.Remove(name)
}

func flockNB(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := sc.Control(func(fd uintptr) {
		ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return err
	}
	return ferr
}

// samePath reports whether name still names the file f has open.
func samePath(f *os.File, name string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(name)
	return err == nil && os.SameFile(a, b)
}
