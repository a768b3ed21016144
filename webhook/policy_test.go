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
