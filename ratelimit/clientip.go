package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP extracts the address a guest is limited by. The zero value
// trusts no proxy and uses the connection's RemoteAddr, which a client
// cannot forge. It is safe for concurrent use and never changes after
// construction.
//
// With trusted proxies configured, and only when the connection itself
// comes from one of them, the X-Forwarded-For chain is read from the right:
// trusted hops are skipped and the first untrusted hop is the client. Hops a
// client wrote itself lie to the left of that and are never reached, so
// forging X-Forwarded-For gains nothing. A malformed hop stops the walk at
// the nearest hop already verified (a trusted proxy), so garbage never
// becomes a key and never spreads a client over many keys.
//
// IPv6 clients are grouped by their /64, the block one subscriber usually
// controls; IPv4 addresses (and IPv4-mapped IPv6) stand alone. So do IPv4
// clients reaching the service through NAT64 under the well-known prefix
// 64:ff9b::/96 (RFC 6052): each is keyed by the IPv4 address embedded in
// its last 32 bits, as if it had come over IPv4, rather than all of them
// sharing the gateway's /64. (Operator-chosen NAT64 prefixes, such as
// 64:ff9b:1::/48, place the address as the operator configured, and are
// grouped by /64 like any IPv6 block.)
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that trusts X-Forwarded-For hops added by
// proxies in the given prefixes (for example 10.0.0.0/8 for a load
// balancer's private network). IPv4-mapped IPv6 prefixes mean their IPv4
// prefix; invalid (zero) prefixes are ignored.
func NewClientIP(trusted ...netip.Prefix) *ClientIP {
	c := &ClientIP{trusted: make([]netip.Prefix, 0, len(trusted))}
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		// Addresses are compared unmapped, so an IPv4-mapped prefix
		// (::ffff:10.0.0.0/104) is trusted as the IPv4 one it names.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return c
}

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	if c == nil {
		return false
	}
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client address of r and whether one was found. The
// result is unmapped and without zone; it is the invalid Addr only when
// RemoteAddr itself is not an IP address (a Unix socket, a test request
// without an address).
func (c *ClientIP) Addr(r *http.Request) (netip.Addr, bool) {
	remote, ok := parseHop(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !c.isTrusted(remote) {
		return remote, true
	}
	client := remote
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			var hop string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				hop, line = line[j+1:], line[:j]
			} else {
				hop, line = line, ""
			}
			a, ok := parseHop(hop)
			if !ok {
				return client, true // stop at the nearest verified hop
			}
			client = a
			if !c.isTrusted(a) {
				return a, true
			}
		}
	}
	return client, true
}

// Prefix returns the block r's client is limited as: its /32 (IPv4, also
// when embedded in the NAT64 well-known prefix) or /64 (IPv6).
func (c *ClientIP) Prefix(r *http.Request) (netip.Prefix, bool) {
	a, ok := c.Addr(r)
	if !ok {
		return netip.Prefix{}, false
	}
	return prefixOf(a), true
}

func prefixOf(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	if nat64WellKnown.Contains(a) {
		b := a.As16()
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[12:])), 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// nat64WellKnown is the NAT64 well-known prefix of RFC 6052: an IPv4
// address in its last 32 bits.
var nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")

// parseHop parses one address as it appears in RemoteAddr or a
// X-Forwarded-For hop: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1",
// "[2001:db8::1]:443", with surrounding spaces. Zones are dropped and
// IPv4-mapped IPv6 is unmapped.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if s[0] == '[' && s[len(s)-1] == ']' {
		if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
			return netip.Addr{}, false
		}
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
