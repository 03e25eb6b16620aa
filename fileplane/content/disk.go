package content

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nexus-authz/nexus/errs"
)

// DiskChunks is the ChunkStore in a directory, for the embedded default: a
// chunk lives at DIR/ab/cd/<hex>, where ab and cd are the first two bytes of
// its hash. A write goes to a temporary file in DIR/tmp, is fsynced, renamed
// into place, and the directory is fsynced, so a Put that returned survives a
// crash.
//
// One DiskChunks must own its directory: the locks that make Sweep atomic
// with Put are in memory.
type DiskChunks struct {
	dir   string
	locks [256]sync.Mutex // by the first byte of the hash
	// mkLocks serialize making the shard directories below DIR/ab, by the
	// first byte of the hash (ab), so writers of other shards never wait
	// on one shard's fsyncs.
	mkLocks [256]sync.Mutex
	// dirsMu guards made, the shard directories known to exist.
	dirsMu sync.Mutex
	made   map[string]bool
}

var (
	_ ChunkStore = (*DiskChunks)(nil)
	_ Sweeper    = (*DiskChunks)(nil)
)

const (
	tmpDir = "tmp"
	// staleTemp is how old a temporary file must be for NewDiskChunks to
	// treat it as left behind by a crash.
	staleTemp = time.Hour
)

// NewDiskChunks opens (creating if needed) the chunk directory dir, removing
// temporary files older than an hour that a crash left behind.
func NewDiskChunks(dir string) (*DiskChunks, error) {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("chunk directory: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("chunk directory: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("chunk directory: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(dir, tmpDir, e.Name()))
		}
	}
	return &DiskChunks{dir: dir, made: map[string]bool{}}, nil
}

// Path returns the file where chunk h is (or would be) stored.
func (d *DiskChunks) Path(h Hash) string {
	s := h.String()
	return filepath.Join(d.dir, s[0:2], s[2:4], s)
}

func (d *DiskChunks) lock(h Hash) *sync.Mutex { return &d.locks[h[0]] }

// Put implements ChunkStore.
func (d *DiskChunks) Put(ctx context.Context, h Hash, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := d.Path(h)
	if ok, err := d.refresh(h, path, int64(len(data))); ok || err != nil {
		return err
	}
	if got := Sum(data); got != h {
		return errs.E(errs.InvalidArgument, "chunk put as %s hashes to %s", h, got)
	}
	shard := filepath.Dir(path)
	if err := d.mkShard(h, shard); err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Join(d.dir, tmpDir), data)
	if err != nil {
		return fmt.Errorf("writing chunk %s: %w", h, err)
	}
	mu := d.lock(h)
	mu.Lock()
	err = os.Rename(tmp, path)
	mu.Unlock()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing chunk %s: %w", h, err)
	}
	if err := syncDir(shard); err != nil {
		return fmt.Errorf("writing chunk %s: %w", h, err)
	}
	return nil
}

// refresh sets the modification time of an existing chunk to now, under the
// chunk's lock so that Sweep sees either the old time and deletes first, or
// the new one. It reports false when the chunk is missing, or is not of the
// expected size (a damaged file, which Put then replaces).
func (d *DiskChunks) refresh(h Hash, path string, size int64) (bool, error) {
	mu := d.lock(h)
	mu.Lock()
	defer mu.Unlock()
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("chunk %s: %w", h, err)
	case info.Size() != size:
		return false, nil
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return false, fmt.Errorf("chunk %s: %w", h, err)
	}
	return true, nil
}

// mkShard makes DIR/ab/cd, h's shard, and makes its creation durable. A
// writer that finds the directory being made waits until it is durable
// before using it.
func (d *DiskChunks) mkShard(h Hash, shard string) error {
	if d.known(shard) {
		return nil
	}
	mu := &d.mkLocks[h[0]]
	mu.Lock()
	defer mu.Unlock()
	if d.known(shard) {
		return nil
	}
	parent := filepath.Dir(shard)
	for _, p := range []string{parent, shard} {
		err := os.Mkdir(p, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("chunk directory: %w", err)
		}
		if err == nil {
			if err := syncDir(filepath.Dir(p)); err != nil {
				return fmt.Errorf("chunk directory: %w", err)
			}
		}
	}
	d.dirsMu.Lock()
	d.made[shard] = true
	d.dirsMu.Unlock()
	return nil
}

func (d *DiskChunks) known(shard string) bool {
	d.dirsMu.Lock()
	defer d.dirsMu.Unlock()
	return d.made[shard]
}

// writeTemp writes data to a new file in dir, fsyncs it and returns its name.
// Its modification time is set from the same clock as GC's cutoff.
func writeTemp(dir string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, "chunk-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	now := time.Now()
	if err = os.Chtimes(f.Name(), now, now); err != nil {
		return "", err
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Get implements ChunkStore.
func (d *DiskChunks) Get(ctx context.Context, h Hash) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.Path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk %s: %w", h, errs.NotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading chunk %s: %w", h, err)
	}
	if got := Sum(data); got != h {
		return nil, errs.E(errs.DataLoss, "chunk %s is damaged: its %d bytes hash to %s", h, len(data), got)
	}
	return data, nil
}

// Delete implements ChunkStore.
func (d *DiskChunks) Delete(ctx context.Context, h Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mu := d.lock(h)
	mu.Lock()
	defer mu.Unlock()
	err := os.Remove(d.Path(h))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting chunk %s: %w", h, err)
	}
	return nil
}

// Sweep implements Sweeper.
func (d *DiskChunks) Sweep(ctx context.Context, h Hash, cutoff time.Time) (bool, int64, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	mu := d.lock(h)
	mu.Lock()
	defer mu.Unlock()
	path := d.Path(h)
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("chunk %s: %w", h, err)
	}
	if !info.ModTime().Before(cutoff) {
		return false, 0, nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("deleting chunk %s: %w", h, err)
	}
	return true, info.Size(), nil
}

// Walk implements ChunkStore. Files that are not chunks are skipped.
func (d *DiskChunks) Walk(ctx context.Context, fn func(h Hash, modTime time.Time) error) error {
	level1, err := readHexDirs(d.dir)
	if err != nil {
		return err
	}
	for _, a := range level1 {
		level2, err := readHexDirs(filepath.Join(d.dir, a))
		if err != nil {
			return err
		}
		for _, b := range level2 {
			shard := filepath.Join(d.dir, a, b)
			entries, err := os.ReadDir(shard)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("walking chunks: %w", err)
			}
			for _, e := range entries {
				if err := ctx.Err(); err != nil {
					return err
				}
				name := e.Name()
				if !e.Type().IsRegular() || !strings.HasPrefix(name, a+b) {
					continue
				}
				h, err := ParseHash(name)
				if err != nil {
					continue
				}
				info, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted since ReadDir
				}
				if err != nil {
					return fmt.Errorf("walking chunks: %w", err)
				}
				if err := fn(h, info.ModTime()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readHexDirs lists the subdirectories of dir named by two lowercase hex digits.
func readHexDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walking chunks: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.IsDir() && len(n) == 2 && isLowerHex(n) {
			names = append(names, n)
		}
	}
	return names, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
