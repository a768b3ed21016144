package config

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// The declaration itself: every variable once, with a doc, a parser and a
// printed value.
func TestDeclaration(t *testing.T) {
	t.Parallel()
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	seen := map[string]bool{}
	for _, v := range Vars() {
		if !name.MatchString(v.Name) || seen[v.Name] {
			t.Errorf("%q: malformed or declared twice", v.Name)
		}
		seen[v.Name] = true
		if v.Doc == "" || v.parse == nil || v.show == nil {
			t.Errorf("%s: doc, parser and show are all required", v.Name)
		}
		if v.defaultFrom != nil && (v.Default != "" || v.DefaultDoc == "") {
			t.Errorf("%s: a derived default has no literal Default and says in DefaultDoc how it is derived", v.Name)
		}
	}
	// API.md's wave-3 variables are declared.
	for _, n := range []string{"LUNAS_QRIS_ACQUIRER", "MIDTRANS_CLIENT_KEY", "LUNAS_WA_APP_SECRET", "LUNAS_WA_VERIFY_TOKEN",
		"LUNAS_TAX_INVOICE_MODE", "LUNAS_PPH23_RATE", "LUNAS_SELLER_NITKU", "LUNAS_APPROVAL_THRESHOLD", "LUNAS_METRICS_ADDR"} {
		if !seen[n] {
			t.Errorf("%s is not declared", n)
		}
	}
}

// acceptsAnything are the variables whose every non-empty value is valid
// (free text or a secret only production judges).
func acceptsAnything(name string) bool {
	switch name {
	case "LUNAS_SIGNING_KEY", "LUNAS_SELLER_NAME", "LUNAS_SELLER_ADDRESS",
		"MIDTRANS_SERVER_KEY", "XENDIT_SECRET_KEY", "OVO_CALLBACK_TOKEN", "LUNAS_WHATSAPP_TOKEN":
		return true
	}
	return false
}

// badValues holds, for each variable with a parser that can refuse, values
// it refuses and a part of the message each gets.
func badValues() map[string][][2]string {
	return map[string][][2]string{
		"LUNAS_ENV":                          {{"staging", `"staging" is not one of dev, test, production`}},
		"LUNAS_HTTP_ADDR":                    {{"8080", "not host:port"}, {"127.0.0.1:", "not host:port"}},
		"LUNAS_DATABASE_URL":                 {{"mysql://h/db", `scheme "mysql"`}, {"postgres:///db", "has no host"}},
		"LUNAS_REDIS_URL":                    {{"http://x", `scheme "http" is not one of redis, rediss, redis-sentinel`}},
		"LUNAS_SMTP_URL":                     {{"smtp://u:hunter2@%zz", "malformed URL"}},
		"LUNAS_SMTP_TIMEOUT":                 {{"0s", "not a positive duration"}, {"-1s", "not a positive duration"}, {"15", "not a positive duration"}},
		"LUNAS_MAIL_FROM":                    {{"billing", "is not an address"}},
		"LUNAS_PUBLIC_URL":                   {{"ftp://pay.example", `scheme "ftp"`}},
		"LUNAS_API_TOKENS":                   {{"admin:tok-admin-123456", "want role:token"}, {"app:", "want role:token"}},
		"LUNAS_TIMEZONE":                     {{"Mars/Olympus", `unknown zone "Mars/Olympus"`}},
		"LUNAS_VAT_RATE":                     {{"eleven", "not a rate in [0, 1)"}, {"1", "not a rate"}, {"-0.1", "not a rate"}},
		"LUNAS_CARD_FEE_RATE":                {{"3.5%", "not a rate"}},
		"LUNAS_TAX_INVOICE_MODE":             {{"dpp", `"dpp" is not one of dpp_nilai_lain, simple`}},
		"LUNAS_PPH23_RATE":                   {{"2", "not a rate"}, {"0,02", "not a rate"}},
		"LUNAS_SWEEP_INTERVAL":               {{"soon", "not a positive duration"}},
		"LUNAS_AUTO_MIGRATE":                 {{"yes", "not true or false"}},
		"LUNAS_SELLER_NPWP":                  {{"01.234.567", "not an NPWP"}, {"0123456789012345678", "not an NPWP"}},
		"LUNAS_SELLER_NITKU":                 {{"0012345678901000", "not 22 digits"}, {"9912345678901000000000", "does not start with the seller NPWP"}},
		"LUNAS_SELLER_LOGO":                  {{"/nonexistent/logo.png", "no such file"}},
		"LUNAS_ALLOW_SANDBOX":                {{"yes please", "not true or false"}},
		"LUNAS_BANK_ACCOUNT":                 {{"BCA", "want BANK|number|holder name"}, {"BCA||x", "want BANK|number|holder name"}},
		"LUNAS_APPROVAL_THRESHOLD":           {{"-1", "not a whole number >= 0"}, {"5e6", "not a whole number"}, {"5.000.000", "not a whole number"}},
		"LUNAS_WA_MIN_TOPUP":                 {{"0", "not a positive whole number"}},
		"LUNAS_MUV_PACK_SIZE":                {{"0500", "not a positive whole number"}},
		"LUNAS_MUV_PACK_PRICE":               {{"+300000", "not a positive whole number"}},
		"LUNAS_WA_PRICES":                    {{"62:marketing=600", "no price for utility"}},
		"LUNAS_WA_TOPUP_STEP":                {{"-5", "not a whole number >= 0"}},
		"LUNAS_LOW_BALANCE_RATIO":            {{"1.5", "not a rate"}},
		"LUNAS_WEBHOOK_CONCURRENCY":          {{"0", "not a positive whole number"}},
		"LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY": {{"four", "not a positive whole number"}},
		"LUNAS_WEBHOOK_ALLOW_HOSTS":          {{"10.0.0.0/33", "not a CIDR network"}},
		"LUNAS_RECONCILE_AFTER":              {{"15", "not a positive duration"}},
		"LUNAS_WORKER_CONCURRENCY":           {{"-10", "not a positive whole number"}},
		"LUNAS_WORKER_POOLS":                 {{"critical", "want pool:concurrency"}, {"mail:0", "pool mail:"}, {"mail:2,mail:3", "each pool once"}},
		"LUNAS_DB_DEADLINE":                  {{"2", "not a positive duration"}},
		"LUNAS_OUTBOX_REQUEUE_AFTER":         {{"never", "not a positive duration"}},
		"LUNAS_LOG_LEVEL":                    {{"LOUD", `"LOUD" is not DEBUG, INFO, WARN or ERROR`}},
		"LUNAS_PPROF_ADDR":                   {{"localhost", "not host:port"}},
		"LUNAS_METRICS_ADDR":                 {{"9100", "not host:port"}},
		"MIDTRANS_CLIENT_KEY":                {{"Mid-client-abc def", "contains white space"}},
		"MIDTRANS_ENV":                       {{"live", `"live" is not one of sandbox, production`}},
		"MIDTRANS_BASE_URL":                  {{"api.midtrans.com", "scheme"}},
		"LUNAS_QRIS_ACQUIRER":                {{"shopeepay", `"shopeepay" is not one of gopay, airpay shopee`}},
		"XENDIT_BASE_URL":                    {{"https://", "has no host"}},
		"LUNAS_WHATSAPP_URL":                 {{"wa.example/send", "scheme"}},
		"LUNAS_WHATSAPP_RATE":                {{"0", "messages per second in (0, 1000]"}, {"1001", "(0, 1000]"}, {"fast", "(0, 1000]"}},
		"LUNAS_WA_APP_SECRET":                {{"0123456789abcdef\n", "contains white space"}},
		"LUNAS_WA_VERIFY_TOKEN":              {{"verify me", "contains white space"}},
	}
}

// Every parser's refusals, each named with its variable; a variable added
// without a case here fails the test.
func TestEveryParserRefuses(t *testing.T) {
	t.Parallel()
	bad := badValues()
	for _, v := range Vars() {
		if _, ok := bad[v.Name]; !ok && !acceptsAnything(v.Name) {
			t.Errorf("%s: no refused value tested (add one to badValues, or to acceptsAnything)", v.Name)
		}
	}
	for name, cases := range bad {
		for _, bc := range cases {
			_, err := Load(env(map[string]string{name: bc[0]}))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("%s=%q: want a *config.Error, got %v", name, bc[0], err)
				continue
			}
			found := false
			for _, f := range ce.Fields {
				if f.Field == name && strings.Contains(f.Message, bc[1]) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s=%q: want %q in %v", name, bc[0], bc[1], err)
			}
		}
	}
}

// Load reports every bad value at once, one line per variable, in the
// declaration's order.
func TestLoadReportsEveryVariableAtOnce(t *testing.T) {
	t.Parallel()
	e := map[string]string{}
	for name, cases := range badValues() {
		e[name] = cases[0][0]
	}
	_, err := Load(env(e))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error, got %v", err)
	}
	named := map[string]bool{}
	for _, f := range ce.Fields {
		named[f.Field] = true
	}
	for name := range e {
		if !named[name] {
			t.Errorf("%s is not named", name)
		}
	}
	if !strings.HasPrefix(err.Error(), "configuration: LUNAS_ENV: ") || !strings.Contains(err.Error(), "\nLUNAS_VAT_RATE: ") {
		t.Errorf("message layout:\n%v", err)
	}
}

// A refused secret is named, never quoted.
func TestRefusedSecretsAreNotQuoted(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"LUNAS_API_TOKENS": "admin:SeCrEt-token-value", "LUNAS_WA_APP_SECRET": "SeCrEt app\n",
		"LUNAS_WA_VERIFY_TOKEN": "SeCrEt verify", "LUNAS_SMTP_URL": "smtp://u:SeCrEt@%zz", "LUNAS_DATABASE_URL": "mysql://u:SeCrEt@h/db",
		"LUNAS_REDIS_URL": "redis://:SeCrEt@"}))
	if err == nil || strings.Contains(err.Error(), "SeCrEt") || !strings.Contains(err.Error(), "LUNAS_REDIS_URL") {
		t.Errorf("the error shows a secret: %v", err)
	}
}

func TestWave3Settings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.QRISAcquirer != QRISAcquirerGoPay || c.TaxInvoiceMode != TaxModeDPPNilaiLain || c.PPh23Rate.String() != "0.02" ||
		c.ApprovalThreshold != 5000000 || c.MidtransClientKey != "" || c.WAAppSecret != "" || c.WAVerifyToken != "" || c.MetricsAddr != "" {
		t.Errorf("wave-3 defaults: %+v", c)
	}
	// The placeholder NPWP has 15 digits: 0 + them + 000000.
	if c.SellerNITKU != "0000000000000000000000" || len(c.SellerNITKU) != 22 {
		t.Errorf("default NITKU %q", c.SellerNITKU)
	}
	c, err = Load(env(map[string]string{"LUNAS_QRIS_ACQUIRER": "airpay shopee", "LUNAS_TAX_INVOICE_MODE": "simple", "LUNAS_PPH23_RATE": "0.015",
		"LUNAS_APPROVAL_THRESHOLD": "0", "LUNAS_SELLER_NPWP": "01.234.567.8-901.000", "MIDTRANS_CLIENT_KEY": "SB-Mid-client-abc",
		"LUNAS_WA_APP_SECRET": "0123456789abcdef0123456789abcdef", "LUNAS_WA_VERIFY_TOKEN": "verify", "LUNAS_METRICS_ADDR": "127.0.0.1:9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.QRISAcquirer != QRISAcquirerShopeePay || c.TaxInvoiceMode != TaxModeSimple || c.PPh23Rate.String() != "0.015" || c.ApprovalThreshold != 0 ||
		c.SellerNITKU != "0012345678901000000000" || c.MidtransClientKey != "SB-Mid-client-abc" ||
		c.WAAppSecret != "0123456789abcdef0123456789abcdef" || c.WAVerifyToken != "verify" || c.MetricsAddr != "127.0.0.1:9100" {
		t.Errorf("wave-3 settings: %+v", c)
	}
	// A 16-digit NPWP and a branch NITKU of its own.
	c, err = Load(env(map[string]string{"LUNAS_SELLER_NPWP": "0012345678901234", "LUNAS_SELLER_NITKU": "0012345678901234000001"}))
	if err != nil || c.SellerNITKU != "0012345678901234000001" {
		t.Errorf("explicit NITKU: %v %v", c, err)
	}
	// A malformed NPWP is reported once: the NITKU it cannot derive is not another error.
	_, err = Load(env(map[string]string{"LUNAS_SELLER_NPWP": "12"}))
	if err == nil || strings.Contains(err.Error(), "LUNAS_SELLER_NITKU") {
		t.Errorf("bad NPWP: %v", err)
	}
}

func TestOperationsSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != slog.LevelInfo || c.PprofAddr != "" {
		t.Errorf("defaults: %v %q", c.LogLevel, c.PprofAddr)
	}
	c, err = Load(env(map[string]string{"LUNAS_LOG_LEVEL": "debug", "LUNAS_PPROF_ADDR": "127.0.0.1:6060"}))
	if err != nil || c.LogLevel != slog.LevelDebug || c.PprofAddr != "127.0.0.1:6060" {
		t.Errorf("set: %v %v", c, err)
	}
}

func TestMidtransBaseURLFollowsEnv(t *testing.T) {
	t.Parallel()
	for e, want := range map[string]string{"": midtransSandboxURL, "sandbox": midtransSandboxURL, "production": midtransProductionURL} {
		c, err := Load(env(map[string]string{"MIDTRANS_ENV": e}))
		if err != nil || c.MidtransBaseURL != want {
			t.Errorf("MIDTRANS_ENV=%q: %v %v", e, c.MidtransBaseURL, err)
		}
	}
	c, err := Load(env(map[string]string{"MIDTRANS_ENV": "production", "MIDTRANS_BASE_URL": "http://127.0.0.1:8090/"}))
	if err != nil || c.MidtransBaseURL != "http://127.0.0.1:8090" {
		t.Errorf("explicit base URL: %v %v", c.MidtransBaseURL, err)
	}
}

// secretValues sets every non-public variable to a value whose secret part
// carries the marker SeCrEt.
func secretValues() map[string]string {
	return map[string]string{
		"LUNAS_DATABASE_URL":    "postgres://lunas:SeCrEt-db@db.example:5432/lunas?sslmode=require&password=SeCrEt-q",
		"LUNAS_REDIS_URL":       "redis-sentinel://:SeCrEt-redis@s1:26379,s2:26379/0?master=lunas&sentinel_password=SeCrEt-sentinel",
		"LUNAS_SMTP_URL":        "smtps://billing:SeCrEt-smtp@mail.example:465",
		"LUNAS_SIGNING_KEY":     "SeCrEt-signing-key-0123456789",
		"LUNAS_API_TOKENS":      "app:SeCrEt-app-123456,finance:SeCrEt-fin-654321",
		"MIDTRANS_SERVER_KEY":   "SB-Mid-server-SeCrEt",
		"XENDIT_SECRET_KEY":     "xnd_development_SeCrEt",
		"OVO_CALLBACK_TOKEN":    "ovo-SeCrEt-token",
		"LUNAS_WHATSAPP_URL":    "https://wa:SeCrEt-wa@wa.example/send",
		"LUNAS_WHATSAPP_TOKEN":  "SeCrEt-wa-token",
		"LUNAS_WA_APP_SECRET":   "SeCrEt-0123456789abcdef01234567",
		"LUNAS_WA_VERIFY_TOKEN": "SeCrEt-verify-token",
	}
}

// Every secret the declaration names is masked in the start-up print; the
// public rest is printed in full.
func TestPrintMasksEverySecret(t *testing.T) {
	t.Parallel()
	e := secretValues()
	for _, v := range Vars() {
		if _, ok := e[v.Name]; !ok && v.Secrecy != Public {
			t.Errorf("%s is secret (%d) and has no case in secretValues", v.Name, v.Secrecy)
		}
	}
	e["MIDTRANS_CLIENT_KEY"] = "SB-Mid-client-public-by-design"
	c, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.Print(&buf)
	out := buf.String()
	if strings.Contains(strings.ToLower(out), "secret-") {
		t.Errorf("the print shows a secret:\n%s", out)
	}
	for _, want := range []string{"SB-Mid-client-public-by-design", "app:****56,finance:****21", "smtps://billing:****@mail.example:465",
		"sentinel_password=****", "master=lunas", "LUNAS_LOG_LEVEL"} {
		if !strings.Contains(out, want) {
			t.Errorf("the print lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(Vars()) {
		t.Errorf("%d lines for %d variables", len(lines), len(Vars()))
	}
}

func TestSecrecyShow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s        Secrecy
		in, want string
	}{
		{Public, "gopay", "gopay"},
		{Masked, "", "(unset)"},
		{Masked, "short", "****"},
		{Masked, "a-longer-key-xy", "****xy"},
		{URLPassword, "", ""},
		{URLPassword, "postgres://u@h/db", "postgres://u@h/db"},
		{URLPassword, "postgres://u:pw@h/db?sslmode=disable", "postgres://u:****@h/db?sslmode=disable"},
		{URLPassword, "postgres://h/db?password=pw&user=u", "postgres://h/db?password=****&user=u"},
		{URLPassword, "%zz://", "(malformed)"},
		{RoleTokens, "", ""},
		{RoleTokens, "app:tok-app-123456", "app:****56"},
	} {
		if got := c.s.Show(c.in); got != c.want {
			t.Errorf("%d.Show(%q) = %q, want %q", c.s, c.in, got, c.want)
		}
	}
}
