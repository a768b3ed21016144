package config

import (
	"bytes"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.Timezone.String() != "Asia/Jakarta" || c.VATRate.String() != "0.11" ||
		c.CardFeeRate.String() != "0.035" || c.APITokens["dev-app-token"] != "app" || c.MidtransBaseURL != "https://api.sandbox.midtrans.com" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestEveryBadValueIsReported(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"LUNAS_ENV": "staging", "LUNAS_VAT_RATE": "eleven", "LUNAS_SWEEP_INTERVAL": "soon",
		"LUNAS_REDIS_URL": "http://x", "LUNAS_TIMEZONE": "Mars/Olympus", "LUNAS_API_TOKENS": "admin:x", "LUNAS_BANK_ACCOUNT": "BCA"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"LUNAS_ENV", "LUNAS_VAT_RATE", "LUNAS_SWEEP_INTERVAL", "LUNAS_REDIS_URL", "LUNAS_TIMEZONE", "LUNAS_API_TOKENS", "LUNAS_BANK_ACCOUNT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestProductionRefusesDevSecrets(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"LUNAS_ENV": "production"}))
	if err == nil || !strings.Contains(err.Error(), "LUNAS_SIGNING_KEY") || !strings.Contains(err.Error(), "LUNAS_API_TOKENS") {
		t.Errorf("production with defaults: %v", err)
	}
	_, err = Load(env(map[string]string{"LUNAS_ENV": "production", "LUNAS_SIGNING_KEY": "s3cret-signing-key", "LUNAS_API_TOKENS": "app:dev-app-token"}))
	if err == nil {
		t.Error("production accepted a dev token")
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"MIDTRANS_SERVER_KEY": "SB-Mid-server-VERYSECRET", "LUNAS_SMTP_URL": "smtp://u:hunter2@mail.example:587",
		"LUNAS_API_TOKENS": "app:tok-app-123456,finance:tok-fin-654321", "OVO_CALLBACK_TOKEN": "ovo-secret-token"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.Print(&buf)
	for _, secret := range []string{"VERYSECRET", "hunter2", "tok-app-123456", "tok-fin-654321", "ovo-secret-token", c.SigningKey} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("printed configuration shows %q", secret)
		}
	}
}

func TestUsageBillingSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p, _, ok := c.WAPrices.Price("+6281234567890", "marketing"); !ok || p != 600 || c.WATopUpStep != 0 || c.LowBalanceRatio.String() != "0.4" {
		t.Errorf("usage defaults: price %d %v, step %d, ratio %s", p, ok, c.WATopUpStep, c.LowBalanceRatio)
	}
	c, err = Load(env(map[string]string{"LUNAS_WA_PRICES": "62:marketing=600,utility=300,authentication=440,service=275;*:marketing=900,utility=400,authentication=500,service=300",
		"LUNAS_WA_TOPUP_STEP": "500000", "LUNAS_LOW_BALANCE_RATIO": "0.25"}))
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := c.WAPrices.Price("+447911123456", "marketing"); p != 900 || c.WATopUpStep != 500000 || c.LowBalanceRatio.String() != "0.25" {
		t.Errorf("usage settings: %d %d %s", p, c.WATopUpStep, c.LowBalanceRatio)
	}
	_, err = Load(env(map[string]string{"LUNAS_WA_PRICES": "62:marketing=600", "LUNAS_WA_TOPUP_STEP": "-5", "LUNAS_LOW_BALANCE_RATIO": "1.5"}))
	for _, name := range []string{"LUNAS_WA_PRICES", "LUNAS_WA_TOPUP_STEP", "LUNAS_LOW_BALANCE_RATIO"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestProductionRefusesShortSecrets(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", MinSecretBytes)
	_, err := Load(env(map[string]string{"LUNAS_ENV": "production", "LUNAS_SIGNING_KEY": "x",
		"LUNAS_API_TOKENS": "app:y,finance:" + long, "OVO_CALLBACK_TOKEN": "z"}))
	if err == nil {
		t.Fatal("production accepted 1-byte secrets")
	}
	for _, name := range []string{"LUNAS_SIGNING_KEY", "LUNAS_API_TOKENS: the app token", "OVO_CALLBACK_TOKEN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "finance token") {
		t.Errorf("a %d-byte token was refused: %v", MinSecretBytes, err)
	}
	real := realProduction()
	real["LUNAS_SIGNING_KEY"], real["LUNAS_API_TOKENS"], real["OVO_CALLBACK_TOKEN"] = long, "app:a"+long+",finance:f"+long, long
	if _, err := Load(env(real)); err != nil {
		t.Errorf("production with %d-byte secrets: %v", MinSecretBytes, err)
	}
}

func TestWorkerPools(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"LUNAS_WORKER_POOLS": "critical:12, mail:3"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerPools["critical"] != 12 || c.WorkerPools["mail"] != 3 || len(c.WorkerPools) != 2 {
		t.Errorf("pools %v", c.WorkerPools)
	}
	for _, bad := range []string{"critical", "mail:0", "mail:2,mail:3", ":4", "mail:x"} {
		if _, err := Load(env(map[string]string{"LUNAS_WORKER_POOLS": bad})); err == nil || !strings.Contains(err.Error(), "LUNAS_WORKER_POOLS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
