package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says which endpoint URLs lunas may post to. In production an
// endpoint must be https and must not reach loopback, link-local, private
// or otherwise internal addresses, in any spelling (an IPv6 address that
// embeds an internal IPv4 one is internal) — finance types the URL, and a URL that
// reaches the metadata service or an internal admin port would make lunas
// an attacker's proxy. The check runs at registration (the host's current
// addresses) and again at every dial (the address actually connected to),
// so a name that later resolves to an internal address is refused too.
// Allow lists a self-hosted app's hosts or networks that are internal on
// purpose (LUNAS_WEBHOOK_ALLOW_HOSTS). Outside production (dev, test)
// http, loopback and private networks are allowed, link-local (the cloud
// metadata service), multicast and unspecified addresses never.
type Policy struct {
	Production bool
	AllowHosts []string       // host names, lower case, allowed whatever they resolve to
	AllowNets  []netip.Prefix // addresses allowed even when internal
	// Resolver looks host names up at registration (net.DefaultResolver when nil).
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
}

// ParseAllow reads LUNAS_WEBHOOK_ALLOW_HOSTS: comma-separated host names,
// addresses or CIDR networks.
func ParseAllow(s string) (hosts []string, nets []netip.Prefix, err error) {
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case strings.Contains(f, "/"):
			p, perr := netip.ParsePrefix(f)
			if perr != nil {
				return nil, nil, fmt.Errorf("%q is not a CIDR network", f)
			}
			nets = append(nets, p.Masked())
		default:
			if a, perr := netip.ParseAddr(f); perr == nil {
				nets = append(nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			hosts = append(hosts, strings.ToLower(f))
		}
	}
	return hosts, nets, nil
}

// Networks no endpoint may reach in production, beyond what netip's
// predicates name: IPv4 special-purpose blocks (RFC 6890 and successors)
// that are not globally reachable, and deprecated IPv6 site-local.
var (
	internalV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255
	}
	siteLocal  = netip.MustParsePrefix("fec0::/10")      // deprecated (RFC 3879), still routed by some stacks
	discard    = netip.MustParsePrefix("100::/64")       // discard-only
	docV6      = netip.MustParsePrefix("2001:db8::/32")  // documentation
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // NAT64 well-known prefix (RFC 6052): IPv4 in the last 32 bits
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // NAT64 local-use prefix (RFC 8215): the IPv4 may sit at any RFC 6052 position
	sixToFour  = netip.MustParsePrefix("2002::/16")      // 6to4 (RFC 3056): IPv4 in bits 16–47
	teredo     = netip.MustParsePrefix("2001::/32")      // Teredo (RFC 4380): server IPv4 in bits 32–63, client IPv4 inverted in the last 32
	v4Compat   = netip.MustParsePrefix("::/96")          // IPv4-compatible (RFC 4291, deprecated): ::a.b.c.d
)

// embedded lists the IPv4 addresses an IPv6 address carries, by every
// form that routes to (or through) them: IPv4-mapped, IPv4-compatible,
// NAT64 (well-known and local-use), 6to4 and Teredo. A local-use NAT64
// address is read at each position RFC 6052 allows (/32 … /96), since the
// operator's prefix length cannot be known from outside.
func embedded(a netip.Addr) []netip.Addr {
	if a.Is4() {
		return nil
	}
	b := a.As16()
	v4 := func(x [4]byte) netip.Addr { return netip.AddrFrom4(x) }
	switch {
	case a.Is4In6():
		return []netip.Addr{a.Unmap()}
	case v4Compat.Contains(a):
		return []netip.Addr{v4([4]byte{b[12], b[13], b[14], b[15]})}
	case nat64.Contains(a):
		return []netip.Addr{v4([4]byte{b[12], b[13], b[14], b[15]})}
	case nat64Local.Contains(a):
		// RFC 6052 §2.2: bits 64–71 (byte 8) are the reserved "u" octet.
		return []netip.Addr{
			v4([4]byte{b[4], b[5], b[6], b[7]}),     // /32
			v4([4]byte{b[5], b[6], b[7], b[9]}),     // /40
			v4([4]byte{b[6], b[7], b[9], b[10]}),    // /48
			v4([4]byte{b[7], b[9], b[10], b[11]}),   // /56
			v4([4]byte{b[9], b[10], b[11], b[12]}),  // /64
			v4([4]byte{b[12], b[13], b[14], b[15]}), // /96
		}
	case sixToFour.Contains(a):
		return []netip.Addr{v4([4]byte{b[2], b[3], b[4], b[5]})}
	case teredo.Contains(a):
		return []netip.Addr{
			v4([4]byte{b[4], b[5], b[6], b[7]}),         // the Teredo server
			v4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), // the client, obfuscated
		}
	}
	return nil
}

// internal reports whether a is an address an endpoint must not reach in
// production: loopback, private, link-local, multicast, unspecified, the
// IPv4 special-purpose blocks above, IPv6 site-local, discard and
// documentation — and any IPv6 address that embeds an IPv4 address that is
// internal (NAT64 to 169.254.169.254 is the metadata service too).
func internal(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	if a.Is4() {
		for _, n := range internalV4 {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	if siteLocal.Contains(a) || discard.Contains(a) || docV6.Contains(a) {
		return true
	}
	for _, e := range embedded(a) {
		if internal(e) {
			return true
		}
	}
	return false
}

// reachableOutsideProduction reports whether a is an address an endpoint may be dialled at
// outside production (dev, test): loopback and private networks are
// allowed there — a developer's receiver, a test's — but never link-local
// (the cloud metadata service at 169.254.169.254 / fe80::), multicast or
// the unspecified address, in any IPv6 spelling.
func reachableOutsideProduction(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, e := range embedded(a) {
		if !reachableOutsideProduction(e) {
			return false
		}
	}
	return true
}

func (p Policy) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.AllowHosts {
		if h == host {
			return true
		}
	}
	return false
}

func (p Policy) addrAllowed(a netip.Addr) bool {
	if !p.Production {
		return reachableOutsideProduction(a)
	}
	if !internal(a) {
		return true
	}
	for _, n := range p.AllowNets {
		if n.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ErrRefused is a URL or address the policy refuses.
var ErrRefused = errors.New("webhook: endpoint address refused")

// CheckURL validates an endpoint URL at registration; the error says why
// it is refused, in words for the finance user.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if u.Fragment != "" {
		return errors.New("must not have a #fragment")
	}
	if len(raw) > 2000 {
		return errors.New("must be at most 2000 characters")
	}
	if p.Production && u.Scheme != "https" {
		return errors.New("must be https in production")
	}
	host := u.Hostname()
	if p.hostAllowed(host) {
		return nil
	}
	if !p.Production {
		// Names are not looked up outside production (a developer's host
		// may resolve only later); the dial refuses what they reach.
		if a, err := netip.ParseAddr(host); err == nil && !p.addrAllowed(a) {
			return fmt.Errorf("%s is a link-local, multicast or unspecified address, which no endpoint may use", a.Unmap())
		}
		return nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = r.LookupNetIP(lctx, "ip", host); err != nil || len(addrs) == 0 {
			return fmt.Errorf("host %s does not resolve", host)
		}
	}
	for _, a := range addrs {
		if !p.addrAllowed(a) {
			return fmt.Errorf("host %s reaches the internal address %s (allow it with LUNAS_WEBHOOK_ALLOW_HOSTS)", host, a.Unmap())
		}
	}
	return nil
}

// DialContext dials like net.Dialer, refusing in production any address
// the policy does not allow — checked on the address being connected to,
// after resolution, so DNS cannot be used to slip past CheckURL.
func (p Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	trusted := p.hostAllowed(host)
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			if trusted {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrRefused, address)
			}
			if !p.addrAllowed(ap.Addr()) {
				return fmt.Errorf("%w: %s is internal", ErrRefused, ap.Addr().Unmap())
			}
			return nil
		}}
	return d.DialContext(ctx, network, addr)
}
