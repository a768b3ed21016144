package gateway_test

import (
	"testing"

	"github.com/lunas-id/lunas/gateway"
)

func TestProviderFor(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]string{
		gateway.MethodQRIS: gateway.ProviderMidtrans, gateway.MethodGoPay: gateway.ProviderMidtrans, gateway.MethodShopeePay: gateway.ProviderMidtrans,
		gateway.MethodBCAVA: gateway.ProviderMidtrans, gateway.MethodOVO: gateway.ProviderOVO, gateway.MethodManualTransfer: gateway.ProviderManual,
		"dana": "",
	} {
		if got := gateway.ProviderFor(m); got != want {
			t.Errorf("ProviderFor(%q) = %q, want %q", m, got, want)
		}
	}
}

func TestQRISAcquirer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": gateway.AcquirerGoPay, "gopay": gateway.AcquirerGoPay, " GoPay ": gateway.AcquirerGoPay,
		"airpay shopee": gateway.AcquirerShopee, "AIRPAY  SHOPEE": gateway.AcquirerShopee,
		"shopeepay": "", "dana": "",
	} {
		got, ok := gateway.QRISAcquirer(in)
		if got != want || ok != (want != "") {
			t.Errorf("QRISAcquirer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
