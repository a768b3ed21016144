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
