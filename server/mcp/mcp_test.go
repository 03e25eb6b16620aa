package mcp

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/stretchr/testify/require"
)

// The end-to-end tests, over both transports against a real server, are
// cmd/nexus's TestMCP; these pin the pieces that decide what a caller reads.

func TestCheckPathRefusesWhatIsNoPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ path, want string }{
		{"", "is required"},
		{"docs/a.txt", "is not absolute"},
		{"/docs/../secret.txt", `has a ".." segment`},
		{"/docs/./a.txt", `has a "." segment`},
		{"/..", `has a ".." segment`},
	} {
		require.ErrorContains(t, checkPath("path", c.path), c.want, c.path)
	}
	for _, ok := range []string{"/", "/docs", "/docs/", "/docs/a..b.txt", "/d/é ü.txt"} {
		require.NoError(t, checkPath("path", ok), ok)
	}
}

func TestNotFoundSaysOnlyWhatWasAsked(t *testing.T) {
	t.Parallel()
	// Whatever the server's message, a NotFound reads the same for the same
	// name: the text is made from the name the caller sent.
	a := toolError("/x", connect.NewError(connect.CodeNotFound, errors.New("/x not found")))
	b := toolError("/x", connect.NewError(connect.CodeNotFound, errors.New("something else entirely")))
	require.Equal(t, a.Error(), b.Error())
	require.Contains(t, a.Error(), "not shared with you")
	internal := toolError("/x", connect.NewError(connect.CodeInternal, errors.New("SELECT * FROM secrets")))
	require.NotContains(t, internal.Error(), "SELECT")
	require.Contains(t, toolError("/x", connect.NewError(connect.CodeUnauthenticated, errors.New("k"))).Error(), "valid Nexus API key")
}

func TestResourceURIsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ zone, path, uri string }{
		{"default", "/docs/a.txt", "nexus://default/docs/a.txt"},
		{"default", "/", "nexus://default/"},
		{"acme", "/q 4/plan #1.md", "nexus://acme/q%204/plan%20%231.md"},
	} {
		require.Equal(t, c.uri, resourceURI(c.zone, c.path))
		zone, path, err := parseURI(c.uri)
		require.NoError(t, err, c.uri)
		require.Equal(t, c.zone, zone)
		require.Equal(t, c.path, path)
	}
	for _, bad := range []string{"file:///etc/passwd", "nexus://", "nexus:///docs", "nexus://default/docs/../x", "nexus://default/%zz"} {
		_, _, err := parseURI(bad)
		var je *jsonrpc.Error
		require.ErrorAs(t, err, &je, bad)
		require.Equal(t, int64(jsonrpc.CodeInvalidParams), je.Code, bad)
	}
}

func TestTextAndBinaryAreToldApart(t *testing.T) {
	t.Parallel()
	s, ok := asText([]byte("héllo"), false)
	require.True(t, ok)
	require.Equal(t, "héllo", s)
	_, ok = asText([]byte("a\x00b"), false)
	require.False(t, ok, "a NUL is binary")
	_, ok = asText([]byte{0xff, 0xfe}, false)
	require.False(t, ok)
	// A range that ends inside a character leaves it for the next read.
	s, ok = asText([]byte("ab\xc3"), true)
	require.True(t, ok)
	require.Equal(t, "ab", s)
	_, ok = asText([]byte("ab\xc3"), false)
	require.False(t, ok, "at the end of the file, a cut character is not text")
	_, ok = asText([]byte("\xc3"), true)
	require.False(t, ok, "a range of nothing but a cut character would never advance")
}

func TestLongLinesAreCutAndMarked(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxLine) // 2 bytes each
	c := cut(long)
	require.Contains(t, c, "[line cut: 1000 bytes]")
	require.True(t, strings.HasPrefix(c, strings.Repeat("é", maxLine/2)))
	require.Equal(t, "short", cut("short"))
}
