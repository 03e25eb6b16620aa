package rpc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7")
	require.NoError(t, err)
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"a direct client", "198.51.100.4:5555", nil, "198.51.100.4"},
		{"a direct client's header is not believed", "198.51.100.4:5555", []string{"203.0.113.9"}, "198.51.100.4"},
		{"through a trusted proxy", "10.1.2.3:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a forged hop before the proxy's is ignored", "10.1.2.3:443", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "192.0.2.7:80", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several headers", "10.1.2.3:443", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"a trusted proxy without a header is itself", "10.1.2.3:443", nil, "10.1.2.3"},
		{"garbage in the header stops there", "10.1.2.3:443", []string{"203.0.113.9, nonsense"}, "10.1.2.3"},
		{"IPv6 counts by /64", "[2001:db8:1:2:aaaa::1]:443", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:198.51.100.4]:1", nil, "198.51.100.4"},
		{"no address is one client", "", nil, "unknown"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, clientAddr(c.peer, c.xff, trusted), c.name)
	}
	// Without trusted proxies the header is never believed.
	require.Equal(t, "10.1.2.3", clientAddr("10.1.2.3:443", []string{"203.0.113.9"}, nil))

	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1/8/1"} {
		_, err := ParseTrustedProxies(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "CIDR")
	}
}
