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
// or otherwise internal addresses — finance types the URL, and a URL that
// reaches the metadata service or an internal admin port would make lunas
// an attacker's proxy. The check runs at registration (the host's current
// addresses) and again at every dial (the address actually connected to),
// so a name that later resolves to an internal address is refused too.
// Allow lists a self-hosted app's hosts or networks that are internal on
// purpose (LUNAS_WEBHOOK_ALLOW_HOSTS).
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

// cgnat is shared address space (RFC 6598): internal to carriers and clouds.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// internal reports whether a is an address an endpoint must not reach in
// production.
func internal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a) ||
		(a.Is4() && a.As4()[0] == 0) // 0.0.0.0/8: "this network"
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
	if !p.Production || !internal(a) {
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
	if !p.Production {
		return nil
	}
	if u.Scheme != "https" {
		return errors.New("must be https in production")
	}
	host := u.Hostname()
	if p.hostAllowed(host) {
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
