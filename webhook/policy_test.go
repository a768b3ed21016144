package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/lunas-id/lunas/internal/webhooktest"
)

// fakeResolver answers host names from a table: tests never use DNS.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

var resolver = fakeResolver{
	"app.example.com":   {"93.184.216.34"},
	"localhost":         {"127.0.0.1", "::1"},
	"sneaky.example":    {"93.184.216.34", "10.1.2.3"},
	"metadata.internal": {"169.254.169.254"},
	"billing.corp":      {"10.20.30.40"},
}

func TestProductionRefusesHTTPAndInternalAddresses(t *testing.T) {
	ctx := context.Background()
	prod := Policy{Production: true, Resolver: resolver}
	for _, u := range []string{
		"http://app.example.com/hook",       // not https
		"https://127.0.0.1/hook",            // loopback
		"https://localhost:8443/hook",       // resolves to loopback
		"https://[::1]/hook",                // IPv6 loopback
		"https://10.0.0.7/hook",             // private
		"https://192.168.1.1/hook",          // private
		"https://172.16.0.1/hook",           // private
		"https://169.254.169.254/latest",    // link-local (cloud metadata)
		"https://metadata.internal/",        // resolves link-local
		"https://sneaky.example/hook",       // one of its addresses is private
		"https://100.64.0.1/hook",           // shared address space
		"https://[::ffff:127.0.0.1]/hook",   // IPv4-mapped loopback
		"https://[fd00::1]/hook",            // IPv6 unique local
		"https://0.0.0.0/hook",              // unspecified
		"https://user:pw@app.example.com/x", // credentials in the URL
		"ftp://app.example.com/hook",        // not http(s)
		"https://nowhere.example/hook",      // does not resolve
		"/relative",                         // not absolute
	} {
		if err := prod.CheckURL(ctx, u); err == nil {
			t.Errorf("production accepted %s", u)
		}
	}
	if err := prod.CheckURL(ctx, "https://app.example.com/hooks/lunas"); err != nil {
		t.Errorf("production refused a public https endpoint: %v", err)
	}

	// A self-hosted app on purpose: the allow-list.
	hosts, nets, err := ParseAllow("billing.corp, 127.0.0.1, 192.168.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	allowed := Policy{Production: true, Resolver: resolver, AllowHosts: hosts, AllowNets: nets}
	for _, u := range []string{"https://billing.corp/hook", "https://127.0.0.1:9443/hook", "https://192.168.4.5/hook"} {
		if err := allowed.CheckURL(ctx, u); err != nil {
			t.Errorf("allow-listed %s refused: %v", u, err)
		}
	}
	if err := allowed.CheckURL(ctx, "https://10.0.0.7/hook"); err == nil {
		t.Error("an address outside the allow-list was accepted")
	}
	if err := allowed.CheckURL(ctx, "http://billing.corp/hook"); err == nil {
		t.Error("http accepted in production for an allow-listed host")
	}
	if _, _, err := ParseAllow("10.0.0.0/99"); err == nil {
		t.Error("a malformed network was accepted")
	}
}

func TestTestModeAllowsLoopback(t *testing.T) {
	dev := Policy{Resolver: resolver}
	for _, u := range []string{"http://127.0.0.1:23001/hook", "http://localhost/hook", "https://app.example.com/x"} {
		if err := dev.CheckURL(context.Background(), u); err != nil {
			t.Errorf("outside production %s refused: %v", u, err)
		}
	}
}

// The dial-time check: whatever the URL said at registration, production
// never connects to an internal address (DNS may have changed since).
func TestDialRefusesInternalAddressesInProduction(t *testing.T) {
	recv := webhooktest.Start(t)
	get := func(p Policy) error {
		c := &http.Client{Transport: &http.Transport{DialContext: p.DialContext}}
		res, err := c.Get(recv.URL)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := get(Policy{Production: true}); err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("production dialled loopback: %v", err)
	}
	if err := get(Policy{}); err != nil {
		t.Fatalf("test mode refused loopback: %v", err)
	}
	_, nets, _ := ParseAllow("127.0.0.0/8")
	if err := get(Policy{Production: true, AllowNets: nets}); err != nil {
		t.Fatalf("allow-listed network refused: %v", err)
	}
	if err := get(Policy{Production: true, AllowHosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatalf("allow-listed host refused: %v", err)
	}
}

// Every spelling of an internal address that an IPv6 literal allows is
// refused in production, at registration and at dial: the forms that embed
// an IPv4 address are judged by the address inside them.
func TestProductionRefusesIPv4EmbeddedInIPv6(t *testing.T) {
	ctx := context.Background()
	prod := Policy{Production: true, Resolver: resolver}
	for _, host := range []string{
		"64:ff9b::a9fe:a9fe",          // NAT64 well-known → 169.254.169.254
		"64:ff9b::7f00:1",             // NAT64 → 127.0.0.1
		"64:ff9b:1::a00:1",            // NAT64 local-use → 10.0.0.1
		"64:ff9b:1:a00:1::",           // NAT64 local-use /48 position, 10.0.0.1 at bits 48-63,72-87 (u octet skipped)
		"::127.0.0.1",                 // IPv4-compatible loopback
		"::10.0.0.1",                  // IPv4-compatible private
		"::a9fe:a9fe",                 // IPv4-compatible link-local
		"2002:7f00:1::1",              // 6to4 of 127.0.0.1
		"2002:a9fe:a9fe::1",           // 6to4 of 169.254.169.254
		"2001:0:a00:1::1",             // Teredo, server 10.0.0.1
		"2001:0:5db8:d822::80ff:fffe", // Teredo, client ^(7f.00.00.01) = 127.0.0.1
		"fec0::1",                     // site-local (deprecated)
		"::ffff:169.254.169.254",      // IPv4-mapped
		"100::1",                      // discard-only
		"2001:db8::1",                 // documentation
	} {
		if err := prod.CheckURL(ctx, "https://["+host+"]/hook"); err == nil {
			t.Errorf("production accepted https://[%s]/hook", host)
		}
		if !internal(netip.MustParseAddr(host)) {
			t.Errorf("internal(%s) = false", host)
		}
	}
	for _, host := range []string{
		"64:ff9b::5db8:d822",   // NAT64 of 93.184.216.34: a public address
		"2002:5db8:d822::1",    // 6to4 of the same
		"2606:4700:4700::1111", // a public IPv6 address
	} {
		if err := prod.CheckURL(ctx, "https://["+host+"]/hook"); err != nil {
			t.Errorf("production refused the public https://[%s]/hook: %v", host, err)
		}
	}
	for _, v4 := range []string{"192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255", "192.0.0.8"} {
		if !internal(netip.MustParseAddr(v4)) {
			t.Errorf("internal(%s) = false", v4)
		}
	}
}

// Outside production the README's rule: http, loopback and private
// networks are allowed (a developer's receiver), link-local — the cloud
// metadata service — multicast and unspecified never, in any spelling,
// at registration and at dial.
func TestOutsideProductionRefusesLinkLocal(t *testing.T) {
	dev := Policy{Resolver: resolver}
	for _, u := range []string{"http://169.254.169.254/latest", "http://[fe80::1]/x", "http://[64:ff9b::a9fe:a9fe]/x",
		"http://[::ffff:169.254.169.254]/x", "http://0.0.0.0/x", "http://224.0.0.1/x"} {
		if err := dev.CheckURL(context.Background(), u); err == nil {
			t.Errorf("outside production %s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:6399/hook", "http://10.1.2.3/hook", "http://[::1]/hook"} {
		if err := dev.CheckURL(context.Background(), u); err != nil {
			t.Errorf("outside production %s refused: %v", u, err)
		}
	}
	if dev.addrAllowed(netip.MustParseAddr("169.254.169.254")) {
		t.Error("the dial would reach 169.254.169.254 outside production")
	}
}

// FuzzInternal generates every IPv6 form that embeds an IPv4 address and
// checks the classifier judges it by the address inside: an internal IPv4
// makes every form internal. (A public IPv4 in a NAT64 local-use address
// may still be internal: its other positions are read too.)
func FuzzInternal(f *testing.F) {
	for _, seed := range [][4]byte{{169, 254, 169, 254}, {127, 0, 0, 1}, {10, 0, 0, 1}, {93, 184, 216, 34}, {0, 0, 0, 0}, {192, 168, 1, 1}, {100, 64, 0, 1}} {
		f.Add(seed[0], seed[1], seed[2], seed[3], uint16(0))
	}
	f.Fuzz(func(t *testing.T, a, b, c, d byte, salt uint16) {
		v4 := netip.AddrFrom4([4]byte{a, b, c, d})
		want := internal(v4)
		s1, s2 := byte(salt>>8), byte(salt)
		forms := map[string][16]byte{
			"mapped":    {10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d},
			"nat64":     {0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: a, 13: b, 14: c, 15: d},
			"nat64l/96": {0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 4: 0x00, 5: 0x01, 12: a, 13: b, 14: c, 15: d},
			"nat64l/48": {0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 4: 0x00, 5: 0x01, 6: a, 7: b, 9: c, 10: d},
			"6to4":      {0: 0x20, 1: 0x02, 2: a, 3: b, 4: c, 5: d, 14: s1, 15: s2},
			"teredo-s":  {0: 0x20, 1: 0x01, 4: a, 5: b, 6: c, 7: d, 12: 0x5d, 13: 0xb8, 14: 0xd8, 15: 0x22 ^ 0xff},
			"teredo-c":  {0: 0x20, 1: 0x01, 4: 93, 5: 184, 6: 216, 7: 34, 10: s1, 11: s2, 12: ^a, 13: ^b, 14: ^c, 15: ^d},
		}
		if a|b|c|d != 0 && !(a == 0 && b == 0 && c == 0 && d == 1) { // :: and ::1 are the unspecified and loopback addresses
			forms["compat"] = [16]byte{12: a, 13: b, 14: c, 15: d}
		}
		for name, raw := range forms {
			addr := netip.AddrFrom16(raw)
			got := internal(addr)
			if want && !got {
				t.Errorf("%s form %s of internal %s judged public", name, addr, v4)
			}
			if !want && got && name != "nat64l/96" && name != "nat64l/48" && name != "teredo-s" && name != "teredo-c" {
				t.Errorf("%s form %s of public %s judged internal", name, addr, v4)
			}
			p := Policy{Production: true}
			if want && p.addrAllowed(addr) {
				t.Errorf("dial check allows %s form %s of internal %s", name, addr, v4)
			}
		}
	})
}
