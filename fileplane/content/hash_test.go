package content_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
)

func TestHashKnownValue(t *testing.T) {
	t.Parallel()
	// BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
	require.Equal(t, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", content.Sum(nil).String())
}

func TestParseHash(t *testing.T) {
	t.Parallel()
	h := content.Sum([]byte("abc"))
	got, err := content.ParseHash(h.String())
	require.NoError(t, err)
	require.Equal(t, h, got)

	for name, in := range map[string]string{
		"empty":     "",
		"short":     h.String()[:63],
		"long":      h.String() + "0",
		"uppercase": strings.ToUpper(h.String()),
		"not hex":   "g" + h.String()[1:],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := content.ParseHash(in)
			require.ErrorIs(t, err, errs.InvalidArgument)
		})
	}
}
