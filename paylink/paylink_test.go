package paylink_test

import (
	"strings"
	"testing"

	"github.com/lunas-id/lunas/paylink"
)

func TestTokenRoundTripAndTamper(t *testing.T) {
	l := paylink.New("k1", "https://billing.example/")
	tok := l.Token("ord_abc")
	if id, ok := l.OrderID(tok); !ok || id != "ord_abc" {
		t.Fatalf("own token: %q %v", id, ok)
	}
	if got := l.PayURL("ord_abc"); got != "https://billing.example/pay/"+tok {
		t.Errorf("pay url %s", got)
	}
	if got := l.QRURL("ord_abc", "pay_1"); got != "https://billing.example/pay/"+tok+"/qr/pay_1.png" {
		t.Errorf("qr url %s", got)
	}
	// The signature part carries at least 128 bits.
	if _, sig, _ := strings.Cut(tok, "."); len(sig)*6 < 128 {
		t.Errorf("signature %q is %d bits", sig, len(sig)*6)
	}
	for _, bad := range []string{
		"", "ord_abc", "ord_abc.", tok + "x", tok[:len(tok)-1], "ord_abd" + tok[len("ord_abc"):],
		strings.Replace(tok, tok[len(tok)-2:], "AA", 1),
	} {
		if _, ok := l.OrderID(bad); ok && bad != tok {
			t.Errorf("tampered token %q accepted", bad)
		}
	}
	if _, ok := paylink.New("k2", "").OrderID(tok); ok {
		t.Error("another key's token accepted")
	}
	if _, ok := paylink.New("", "").OrderID(paylink.New("", "").Token("ord_abc")); ok {
		t.Error("a token signed with no key accepted")
	}
}
