package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Remove deletes the store in dir (the database and its write-ahead log),
// holding the data directory's write lock while it does, so that a store
// another process has open is never pulled from under it. Only the demo,
// which rebuilds its own store, calls it: audit records are otherwise
// deleted by retention alone.
func Remove(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: opening the lock of %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := os.ReadFile(filepath.Join(dir, LockName))
			return fmt.Errorf("sqlite: %s is in use by pid %s; stop it first", dir, strings.TrimSpace(string(pid)))
		}
		return fmt.Errorf("sqlite: locking %s: %w", dir, err)
	}
	for _, name := range []string{FileName, FileName + "-wal", FileName + "-shm"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite: removing %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}
