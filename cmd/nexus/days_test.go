package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d":   30 * 24 * time.Hour,
		"2w":    14 * 24 * time.Hour,
		"2w3d":  17 * 24 * time.Hour,
		"1d12h": 36 * time.Hour,
		"24h":   24 * time.Hour,
		"90m":   90 * time.Minute,
		"0":     0,
		"-1h":   -time.Hour, // refused by the command, with its own message
	} {
		got, err := parseDays(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "d", "30", "3x", "1d2w", "-1d", "1.5d", "30 d"} {
		_, err := parseDays(bad)
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "such as 30d", "%q", bad)
	}
}
