package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHumanSizesReadAsLsShowsThem(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 10 * 1024: "10K", 3 << 20: "3.0M",
		23<<20 + 1: "23M", 4 << 30: "4.0G", 5 << 40: "5.0T",
	} {
		require.Equal(t, want, humanSize(n), "%d", n)
	}
}

// fs ls -lh shows sizes as people read them; -h is not help there (--help
// is), as for ls.
func TestLsHumanReadable(t *testing.T) {
	_, _, ok := asAdmin(t)
	local := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(local, make([]byte, 1536), 0o600))
	ok("fs", "put", local, "/h/small.bin")
	out := ok("fs", "ls", "-lh", "/h")
	require.Regexp(t, `(?m)^file\s+1\.5K\s+1\s+.*small\.bin$`, out)
	require.Regexp(t, `(?m)^file\s+1536\s+`, ok("fs", "ls", "-l", "/h"))
	require.Contains(t, ok("fs", "ls", "--help"), "human-readable")
	require.False(t, strings.Contains(ok("fs", "ls", "-h", "/h"), "Usage"), "-h lists, it does not print help")
}
