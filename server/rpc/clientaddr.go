package rpc

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of proxy addresses or
// CIDR prefixes (the load balancers in front of Nexus).
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: give an IP address or a CIDR prefix such as 10.0.0.0/8", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientAddr is the address a request's limits and logs count it under:
// the connection's address, or — only when that is a trusted proxy — the
// nearest address in X-Forwarded-For that is not one (a client can write
// anything into the header, so only the part the proxies added counts).
// IPv6 addresses count by /64, since one host commonly has a whole /64;
// no address at all counts as "unknown", so it is limited like one client.
func clientAddr(peer string, xff []string, trusted []netip.Prefix) string {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		if host == "" {
			return "unknown"
		}
		return host
	}
	a = a.Unmap()
	if isTrusted(a, trusted) {
		var hops []string
		for _, h := range xff {
			hops = append(hops, strings.Split(h, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a hop that is not an address: stop at what we know
			}
			a = hop.Unmap()
			if !isTrusted(a, trusted) {
				break
			}
		}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
