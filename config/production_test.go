package config

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realProduction is a production environment with real-looking values.
func realProduction() map[string]string {
	return map[string]string{
		"LUNAS_ENV": "production", "LUNAS_SIGNING_KEY": "a-real-signing-key-of-enough-length-0123456789",
		"LUNAS_API_TOKENS":  "app:tok-app-0123456789abcdef0123456789abcdef,finance:tok-fin-0123456789abcdef0123456789abcdef",
		"LUNAS_SELLER_NAME": "PT Kirim Pesan Nusantara", "LUNAS_SELLER_ADDRESS": "Jl. Gatot Subroto Kav. 1, Jakarta 12930",
		"LUNAS_SELLER_NPWP": "01.234.567.8-901.000", "LUNAS_BANK_ACCOUNT": "BCA|8730012345|PT Kirim Pesan Nusantara",
		"LUNAS_HTTP_ADDR": "0.0.0.0:8080", "LUNAS_PUBLIC_URL": "https://billing.kirimpesan.example",
		"LUNAS_MAIL_FROM":     "Kirim Pesan Billing <billing@kirimpesan.example>",
		"MIDTRANS_SERVER_KEY": "Mid-server-0123456789abcdef", "MIDTRANS_ENV": "production",
		"XENDIT_SECRET_KEY": "xnd_production_0123456789abcdef", "OVO_CALLBACK_TOKEN": "ovo-callback-0123456789abcdef0123456789",
	}
}

func TestProductionStartsWithRealValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(realProduction()))
	if err != nil {
		t.Fatalf("real production configuration refused: %v", err)
	}
	if c.PublicURL != "https://billing.kirimpesan.example" || c.AllowSandbox {
		t.Errorf("%+v", c)
	}
	// No gateway at all (manual transfers only) is a deployment too.
	e := realProduction()
	for _, k := range []string{"MIDTRANS_SERVER_KEY", "MIDTRANS_ENV", "XENDIT_SECRET_KEY", "OVO_CALLBACK_TOKEN"} {
		delete(e, k)
	}
	if _, err := Load(env(e)); err != nil {
		t.Errorf("production without gateways: %v", err)
	}
}

// Every placeholder is named in the one error production start-up returns.
func TestProductionRefusesPlaceholders(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"LUNAS_ENV": "production",
		"LUNAS_SIGNING_KEY": "a-real-signing-key-of-enough-length-0123456789", "LUNAS_API_TOKENS": "app:tok-app-0123456789abcdef0123456789abcdef",
		"MIDTRANS_BASE_URL": "https://api.midtrans.com", "OVO_CALLBACK_TOKEN": "ovo-callback-0123456789abcdef0123456789"}))
	if err == nil {
		t.Fatal("production started with placeholders")
	}
	for _, want := range []string{"LUNAS_SELLER_NAME", "LUNAS_SELLER_ADDRESS", "LUNAS_SELLER_NPWP", "LUNAS_BANK_ACCOUNT", "LUNAS_MAIL_FROM",
		"LUNAS_PUBLIC_URL", "MIDTRANS_SERVER_KEY: required", "MIDTRANS_ENV: sandbox", "XENDIT_SECRET_KEY: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "OVO_CALLBACK_TOKEN: required") {
		t.Errorf("a set OVO_CALLBACK_TOKEN named as missing:\n%v", err)
	}
}

func TestProductionRefusesEachOne(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		change map[string]string
		want   string
	}{
		{map[string]string{"LUNAS_SELLER_NAME": ""}, "LUNAS_SELLER_NAME"},
		{map[string]string{"LUNAS_BANK_ACCOUNT": placeholderBankAccount}, "LUNAS_BANK_ACCOUNT"},
		{map[string]string{"LUNAS_PUBLIC_URL": "http://localhost:8080"}, "LUNAS_PUBLIC_URL"},
		{map[string]string{"LUNAS_PUBLIC_URL": "http://[::1]:8080"}, "LUNAS_PUBLIC_URL"},
		{map[string]string{"LUNAS_PUBLIC_URL": "", "LUNAS_HTTP_ADDR": "0.0.0.0:8080"}, "LUNAS_PUBLIC_URL"},
		{map[string]string{"MIDTRANS_SERVER_KEY": ""}, "MIDTRANS_SERVER_KEY: required: Midtrans is enabled (MIDTRANS_ENV set)"},
		{map[string]string{"MIDTRANS_ENV": ""}, "MIDTRANS_ENV: sandbox"},
		{map[string]string{"MIDTRANS_SERVER_KEY": "SB-Mid-server-FAKE_LOCAL_KEY"}, "MIDTRANS_SERVER_KEY: a sandbox key"},
		{map[string]string{"OVO_CALLBACK_TOKEN": ""}, "OVO_CALLBACK_TOKEN: required"},
		{map[string]string{"XENDIT_SECRET_KEY": "xnd_development_FAKE_LOCAL_KEY"}, "XENDIT_SECRET_KEY: a test-mode key"},
	} {
		e := realProduction()
		for k, v := range c.change {
			e[k] = v
		}
		_, err := Load(env(e))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %q, got %v", c.change, c.want, err)
		}
	}
}

// A staging deployment may run production mode against the sandboxes when it says so.
func TestProductionSandboxOverride(t *testing.T) {
	t.Parallel()
	e := realProduction()
	e["MIDTRANS_ENV"], e["MIDTRANS_SERVER_KEY"], e["XENDIT_SECRET_KEY"] = "sandbox", "SB-Mid-server-abc123456789", "xnd_development_abc123456789"
	if _, err := Load(env(e)); err == nil {
		t.Fatal("sandbox accepted without the override")
	}
	e["LUNAS_ALLOW_SANDBOX"] = "true"
	if c, err := Load(env(e)); err != nil || !c.AllowSandbox {
		t.Errorf("LUNAS_ALLOW_SANDBOX=true: %v", err)
	}
	e["LUNAS_ALLOW_SANDBOX"] = "yes please"
	if _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), "LUNAS_ALLOW_SANDBOX") {
		t.Errorf("malformed LUNAS_ALLOW_SANDBOX: %v", err)
	}
}

// Outside production the placeholders are the defaults that make `make run` work.
func TestPlaceholdersAllowedOutsideProduction(t *testing.T) {
	t.Parallel()
	if _, err := Load(env(map[string]string{"LUNAS_ENV": "test", "MIDTRANS_BASE_URL": "http://127.0.0.1:8090"})); err != nil {
		t.Error(err)
	}
}

func TestPublicURLFollowsHTTPAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:8080", // the default address
		"127.0.0.1:9090": "http://127.0.0.1:9090",
		"0.0.0.0:8081":   "http://127.0.0.1:8081",
		":8082":          "http://127.0.0.1:8082",
		"[::1]:8083":     "http://[::1]:8083",
		"lunas.lan:8084": "http://lunas.lan:8084",
		"10.1.2.3:80":    "http://10.1.2.3:80",
	} {
		c, err := Load(env(map[string]string{"LUNAS_HTTP_ADDR": addr}))
		if err != nil {
			t.Fatal(err)
		}
		if c.PublicURL != want {
			t.Errorf("LUNAS_HTTP_ADDR=%q: public URL %s, want %s", addr, c.PublicURL, want)
		}
	}
	c, err := Load(env(map[string]string{"LUNAS_HTTP_ADDR": "127.0.0.1:9090", "LUNAS_PUBLIC_URL": "https://pay.example/"}))
	if err != nil || c.PublicURL != "https://pay.example" {
		t.Errorf("an explicit LUNAS_PUBLIC_URL wins: %v %v", c, err)
	}
}

func TestSellerLogo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 2))); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "logo.png")
	bad := filepath.Join(dir, "logo.svg")
	if err := os.WriteFile(good, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(env(map[string]string{"LUNAS_SELLER_LOGO": good})); err != nil || c.SellerLogo != good {
		t.Errorf("PNG logo: %v", err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.png")} {
		if _, err := Load(env(map[string]string{"LUNAS_SELLER_LOGO": p})); err == nil || !strings.Contains(err.Error(), "LUNAS_SELLER_LOGO") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// The wave-3 variables in production: a sandbox client key is a sandbox,
// a client key switches Midtrans on, WhatsApp webhooks need both secrets,
// and the verify token is one lunas chooses, so it must be long.
func TestProductionWave3Refusals(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", MinSecretBytes)
	for _, c := range []struct {
		change map[string]string
		want   string
	}{
		{map[string]string{"MIDTRANS_CLIENT_KEY": "SB-Mid-client-abc123"}, "MIDTRANS_CLIENT_KEY: a sandbox key"},
		{map[string]string{"MIDTRANS_CLIENT_KEY": "Mid-client-abc123", "MIDTRANS_SERVER_KEY": "", "MIDTRANS_ENV": ""},
			"MIDTRANS_SERVER_KEY: required: Midtrans is enabled (MIDTRANS_CLIENT_KEY set)"},
		{map[string]string{"LUNAS_WA_APP_SECRET": "0123456789abcdef0123456789abcdef"}, "LUNAS_WA_VERIFY_TOKEN: required"},
		{map[string]string{"LUNAS_WA_VERIFY_TOKEN": long}, "LUNAS_WA_APP_SECRET: required"},
		{map[string]string{"LUNAS_WA_APP_SECRET": "0123456789abcdef0123456789abcdef", "LUNAS_WA_VERIFY_TOKEN": "short"},
			"LUNAS_WA_VERIFY_TOKEN: 5 bytes; production needs at least 32"},
	} {
		e := realProduction()
		for k, v := range c.change {
			e[k] = v
		}
		_, err := Load(env(e))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %q, got %v", c.change, c.want, err)
		}
	}
	e := realProduction()
	e["MIDTRANS_CLIENT_KEY"], e["LUNAS_WA_APP_SECRET"], e["LUNAS_WA_VERIFY_TOKEN"] = "Mid-client-abc123", "0123456789abcdef0123456789abcdef", long
	e["LUNAS_METRICS_ADDR"], e["LUNAS_TAX_INVOICE_MODE"], e["LUNAS_SELLER_NITKU"] = "10.0.0.5:9100", "simple", "0012345678901000000001"
	if _, err := Load(env(e)); err != nil {
		t.Errorf("production with every wave-3 variable set: %v", err)
	}
	e["MIDTRANS_CLIENT_KEY"], e["LUNAS_ALLOW_SANDBOX"] = "SB-Mid-client-abc123", "true"
	if _, err := Load(env(e)); err != nil {
		t.Errorf("a sandbox client key with LUNAS_ALLOW_SANDBOX=true: %v", err)
	}
	// Outside production none of this is refused.
	if _, err := Load(env(map[string]string{"MIDTRANS_CLIENT_KEY": "SB-Mid-client-abc123", "LUNAS_WA_APP_SECRET": "x"})); err != nil {
		t.Errorf("dev: %v", err)
	}
}
