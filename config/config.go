// Package config reads lunas's configuration from the environment, exactly
// as shared/API.md lists it, validates every value at start and prints the
// effective configuration with secrets masked.
//
// cmd/lunas calls Load once; everything else receives the values it needs.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/webhook"
)

// Environments.
const (
	EnvDev        = "dev"
	EnvTest       = "test"
	EnvProduction = "production"
)

// MinSecretBytes is the shortest secret production accepts: a signing key,
// an API token or a callback token that can be guessed is no secret.
const MinSecretBytes = 32

const (
	devSigningKey = "dev-only-signing-key-do-not-use-in-production"
	devAPITokens  = "app:dev-app-token,finance:dev-finance-token"
)

// Placeholder defaults: fine on a laptop, refused in production (production.go).
const (
	placeholderSellerName    = "PT Lunas Contoh Indonesia"
	placeholderSellerAddress = "Jl. Contoh No. 1, Jakarta 10110"
	placeholderSellerNPWP    = "00.000.000.0-000.000"
	placeholderBankAccount   = "BCA|1234567890|PT Lunas Contoh Indonesia"
	placeholderMailFrom      = "lunas <billing@localhost>"
)

// BankAccount is where manual transfers are paid into.
type BankAccount struct {
	Bank   string `json:"bank"`
	Number string `json:"number"`
	Holder string `json:"holder"`
}

// Config is the whole effective configuration.
type Config struct {
	Env           string
	HTTPAddr      string
	DatabaseURL   string
	RedisURL      string
	SMTPURL       string
	MailFrom      string
	PublicURL     string
	SigningKey    string
	APITokens     map[string]string // token → role
	Timezone      *time.Location
	VATRate       decimal.Decimal
	CardFeeRate   decimal.Decimal
	SweepInterval time.Duration
	AutoMigrate   bool

	SellerName    string
	SellerAddress string
	SellerNPWP    string
	// SellerLogo is the path of a PNG or JPEG printed on the proforma
	// (LUNAS_SELLER_LOGO); empty for none. Load has checked it decodes.
	SellerLogo  string
	BankAccount BankAccount
	// AllowSandbox lets production run against gateway sandboxes
	// (LUNAS_ALLOW_SANDBOX=true): a staging deployment.
	AllowSandbox bool

	// Catalog (defaults from DESIGN.md).
	WAMinTopUp   int64
	MUVPackSize  int64
	MUVPackPrice int64

	MidtransServerKey string
	MidtransEnv       string
	MidtransBaseURL   string
	XenditSecretKey   string
	XenditBaseURL     string
	OVOCallbackToken  string

	// Usage billing (API.md "Usage billing").
	WAPrices        tariff.Table
	WATopUpStep     int64           // 0: top-ups are not rounded to a step
	LowBalanceRatio decimal.Decimal // share of the balance right after the last top-up

	// WorkerConcurrency is how many tasks each worker pool of a work
	// process runs at once, unless WorkerPools names the pool.
	WorkerConcurrency int
	// WorkerPools is LUNAS_WORKER_POOLS: pool name → concurrency
	// (worker.Pools knows the names and refuses others).
	WorkerPools map[string]int
	// SMTPTimeout bounds dialing and every SMTP command.
	SMTPTimeout time.Duration
	// DBDeadline bounds the database work of one API request or webhook:
	// past it the request is answered 503 with Retry-After.
	DBDeadline time.Duration
	// OutboxRequeueAfter is how long a relayed outbox row may stay undone
	// before it is relayed again (its task may have been lost with Redis).
	OutboxRequeueAfter time.Duration
	// ReconcileAfter is how long after it opened a pending gateway attempt
	// is first asked at its gateway (then 4× longer each time).
	ReconcileAfter time.Duration

	// Events to the app (outbound webhooks).
	WebhookAllowHosts          []string       // host names an endpoint may use even when they resolve internally
	WebhookAllowNets           []netip.Prefix // addresses an endpoint may reach even when internal
	WebhookConcurrency         int            // deliveries one work process posts at once
	WebhookEndpointConcurrency int            // of which at most this many to one endpoint
	webhookAllowRaw            string

	// Bulk sending (API.md "Bulk sending"): the Fonnte-compatible WhatsApp
	// gateway ("" URL: the whatsapp channel is refused) and its rate.
	WhatsAppURL   string
	WhatsAppToken string
	WhatsAppRate  decimal.Decimal // messages per second, at most, every process together
}

// WhatsAppInterval is the time between two WhatsApp messages at WhatsAppRate.
func (c *Config) WhatsAppInterval() time.Duration {
	if !c.WhatsAppRate.IsPositive() {
		return 0
	}
	return time.Duration(decimal.NewFromInt(int64(time.Second)).Div(c.WhatsAppRate).Ceil().IntPart())
}

// Load reads the configuration from getenv (os.Getenv in production) and
// reports every malformed or missing value at once.
func Load(getenv func(string) string) (*Config, error) {
	var errs []error
	get := func(k, def string) string {
		if v, ok := lookup(getenv, k); ok {
			return v
		}
		return def
	}
	c := &Config{
		Env:               get("LUNAS_ENV", EnvDev),
		HTTPAddr:          get("LUNAS_HTTP_ADDR", "127.0.0.1:8080"),
		DatabaseURL:       get("LUNAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable"),
		RedisURL:          get("LUNAS_REDIS_URL", "redis://127.0.0.1:6379/0"),
		SMTPURL:           get("LUNAS_SMTP_URL", "smtp://127.0.0.1:1025"),
		MailFrom:          get("LUNAS_MAIL_FROM", placeholderMailFrom),
		SigningKey:        get("LUNAS_SIGNING_KEY", ""),
		SellerName:        get("LUNAS_SELLER_NAME", placeholderSellerName),
		SellerAddress:     get("LUNAS_SELLER_ADDRESS", placeholderSellerAddress),
		SellerNPWP:        get("LUNAS_SELLER_NPWP", placeholderSellerNPWP),
		SellerLogo:        get("LUNAS_SELLER_LOGO", ""),
		MidtransServerKey: get("MIDTRANS_SERVER_KEY", ""),
		MidtransEnv:       get("MIDTRANS_ENV", "sandbox"),
		MidtransBaseURL:   strings.TrimRight(get("MIDTRANS_BASE_URL", ""), "/"),
		XenditSecretKey:   get("XENDIT_SECRET_KEY", ""),
		XenditBaseURL:     strings.TrimRight(get("XENDIT_BASE_URL", "https://api.xendit.co"), "/"),
		OVOCallbackToken:  get("OVO_CALLBACK_TOKEN", ""),
		WhatsAppURL:       get("LUNAS_WHATSAPP_URL", ""),
		WhatsAppToken:     get("LUNAS_WHATSAPP_TOKEN", ""),
	}
	// Links in mail follow the listen address unless told otherwise, so
	// moving LUNAS_HTTP_ADDR does not break them.
	c.PublicURL = strings.TrimRight(get("LUNAS_PUBLIC_URL", publicURLFor(c.HTTPAddr)), "/")
	switch c.Env {
	case EnvDev, EnvTest, EnvProduction:
	default:
		errs = append(errs, fmt.Errorf("LUNAS_ENV: %q is not one of dev, test, production", c.Env))
	}
	if c.MidtransEnv != "sandbox" && c.MidtransEnv != "production" {
		errs = append(errs, fmt.Errorf("MIDTRANS_ENV: %q is not sandbox or production", c.MidtransEnv))
	}
	if c.MidtransBaseURL == "" {
		c.MidtransBaseURL = "https://api.sandbox.midtrans.com"
		if c.MidtransEnv == "production" {
			c.MidtransBaseURL = "https://api.midtrans.com"
		}
	}
	for _, u := range []struct {
		name, val string
		schemes   []string
	}{
		{"LUNAS_DATABASE_URL", c.DatabaseURL, []string{"postgres", "postgresql"}},
		{"LUNAS_REDIS_URL", c.RedisURL, []string{"redis", "rediss", "redis-sentinel"}},
		{"LUNAS_SMTP_URL", c.SMTPURL, []string{"smtp", "smtps"}},
		{"LUNAS_PUBLIC_URL", c.PublicURL, []string{"http", "https"}},
		{"MIDTRANS_BASE_URL", c.MidtransBaseURL, []string{"http", "https"}},
		{"XENDIT_BASE_URL", c.XenditBaseURL, []string{"http", "https"}},
	} {
		if err := checkURL(u.val, u.schemes); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		errs = append(errs, fmt.Errorf("LUNAS_MAIL_FROM: %q is not an address: %v", c.MailFrom, err))
	}
	tz := get("LUNAS_TIMEZONE", "Asia/Jakarta")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		errs = append(errs, fmt.Errorf("LUNAS_TIMEZONE: unknown zone %q", tz))
		loc = time.UTC
	}
	c.Timezone = loc
	c.VATRate = rate(get("LUNAS_VAT_RATE", "0.11"), "LUNAS_VAT_RATE", &errs)
	c.CardFeeRate = rate(get("LUNAS_CARD_FEE_RATE", "0.035"), "LUNAS_CARD_FEE_RATE", &errs)
	c.SweepInterval = duration(get("LUNAS_SWEEP_INTERVAL", "1m"), "LUNAS_SWEEP_INTERVAL", &errs)
	c.OutboxRequeueAfter = duration(get("LUNAS_OUTBOX_REQUEUE_AFTER", "2m"), "LUNAS_OUTBOX_REQUEUE_AFTER", &errs)
	c.ReconcileAfter = duration(get("LUNAS_RECONCILE_AFTER", "15m"), "LUNAS_RECONCILE_AFTER", &errs)
	switch v := get("LUNAS_AUTO_MIGRATE", "true"); v {
	case "true", "1":
		c.AutoMigrate = true
	case "false", "0":
	default:
		errs = append(errs, fmt.Errorf("LUNAS_AUTO_MIGRATE: %q is not true or false", v))
	}
	c.WAMinTopUp = positive(get("LUNAS_WA_MIN_TOPUP", "1000000"), "LUNAS_WA_MIN_TOPUP", &errs)
	c.MUVPackSize = positive(get("LUNAS_MUV_PACK_SIZE", "500"), "LUNAS_MUV_PACK_SIZE", &errs)
	c.MUVPackPrice = positive(get("LUNAS_MUV_PACK_PRICE", "300000"), "LUNAS_MUV_PACK_PRICE", &errs)
	if t, err := tariff.Parse(get("LUNAS_WA_PRICES", tariff.Default)); err != nil {
		errs = append(errs, fmt.Errorf("LUNAS_WA_PRICES: %w", err))
	} else {
		c.WAPrices = t
	}
	c.WATopUpStep = nonNegative(get("LUNAS_WA_TOPUP_STEP", "0"), "LUNAS_WA_TOPUP_STEP", &errs)
	c.LowBalanceRatio = rate(get("LUNAS_LOW_BALANCE_RATIO", "0.4"), "LUNAS_LOW_BALANCE_RATIO", &errs)
	if c.WhatsAppURL != "" {
		if err := checkURL(c.WhatsAppURL, []string{"http", "https"}); err != nil {
			errs = append(errs, fmt.Errorf("LUNAS_WHATSAPP_URL: %w", err))
		}
	}
	waRate := get("LUNAS_WHATSAPP_RATE", "1")
	if r, err := decimal.NewFromString(waRate); err != nil || !r.IsPositive() || r.GreaterThan(decimal.NewFromInt(1000)) {
		errs = append(errs, fmt.Errorf("LUNAS_WHATSAPP_RATE: %q is not a number of messages per second in (0, 1000]", waRate))
		c.WhatsAppRate = decimal.NewFromInt(1)
	} else {
		c.WhatsAppRate = r
	}
	c.WorkerConcurrency = int(positive(get("LUNAS_WORKER_CONCURRENCY", "10"), "LUNAS_WORKER_CONCURRENCY", &errs))
	c.WebhookConcurrency = int(positive(get("LUNAS_WEBHOOK_CONCURRENCY", "16"), "LUNAS_WEBHOOK_CONCURRENCY", &errs))
	c.WebhookEndpointConcurrency = int(positive(get("LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY", "4"), "LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY", &errs))
	c.webhookAllowRaw = get("LUNAS_WEBHOOK_ALLOW_HOSTS", "")
	if hosts, nets, err := webhook.ParseAllow(c.webhookAllowRaw); err != nil {
		errs = append(errs, fmt.Errorf("LUNAS_WEBHOOK_ALLOW_HOSTS: %w", err))
	} else {
		c.WebhookAllowHosts, c.WebhookAllowNets = hosts, nets
	}
	c.WorkerPools = map[string]int{}
	if v := get("LUNAS_WORKER_POOLS", ""); v != "" {
		for _, pair := range strings.Split(v, ",") {
			name, n, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if _, dup := c.WorkerPools[name]; !ok || name == "" || dup {
				errs = append(errs, fmt.Errorf("LUNAS_WORKER_POOLS: want pool:concurrency,… with each pool once, got %q", pair))
				continue
			}
			c.WorkerPools[name] = int(positive(n, "LUNAS_WORKER_POOLS "+name, &errs))
		}
	}
	c.SMTPTimeout = duration(get("LUNAS_SMTP_TIMEOUT", "15s"), "LUNAS_SMTP_TIMEOUT", &errs)
	c.DBDeadline = duration(get("LUNAS_DB_DEADLINE", "2s"), "LUNAS_DB_DEADLINE", &errs)

	if c.SellerLogo != "" {
		if err := checkLogo(c.SellerLogo); err != nil {
			errs = append(errs, fmt.Errorf("LUNAS_SELLER_LOGO: %w", err))
		}
	}
	switch v := get("LUNAS_ALLOW_SANDBOX", "false"); v {
	case "true", "1":
		c.AllowSandbox = true
	case "false", "0":
	default:
		errs = append(errs, fmt.Errorf("LUNAS_ALLOW_SANDBOX: %q is not true or false", v))
	}

	bank := get("LUNAS_BANK_ACCOUNT", placeholderBankAccount)
	parts := strings.Split(bank, "|")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		errs = append(errs, fmt.Errorf("LUNAS_BANK_ACCOUNT: want BANK|number|holder name, got %q", bank))
	} else {
		c.BankAccount = BankAccount{Bank: parts[0], Number: parts[1], Holder: parts[2]}
	}

	tokens, tokSet := lookup(getenv, "LUNAS_API_TOKENS")
	if !tokSet && c.Env != EnvProduction {
		tokens = devAPITokens
	}
	c.APITokens = map[string]string{}
	for _, pair := range strings.Split(tokens, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		role, tok, ok := strings.Cut(pair, ":")
		if !ok || tok == "" || (role != "app" && role != "finance") {
			errs = append(errs, fmt.Errorf("LUNAS_API_TOKENS: want role:token with role app or finance, got %q", mask(pair)))
			continue
		}
		c.APITokens[tok] = role
	}
	if c.SigningKey == "" && c.Env != EnvProduction {
		c.SigningKey = devSigningKey
	}
	if c.Env == EnvProduction {
		if c.SigningKey == "" || c.SigningKey == devSigningKey {
			errs = append(errs, errors.New("LUNAS_SIGNING_KEY: required in production (and not the dev value)"))
		} else if len(c.SigningKey) < MinSecretBytes {
			errs = append(errs, fmt.Errorf("LUNAS_SIGNING_KEY: %d bytes; production needs at least %d (e.g. openssl rand -hex 32)", len(c.SigningKey), MinSecretBytes))
		}
		if len(c.APITokens) == 0 {
			errs = append(errs, errors.New("LUNAS_API_TOKENS: required in production"))
		}
		for tok := range c.APITokens {
			if strings.HasPrefix(tok, "dev-") {
				errs = append(errs, errors.New("LUNAS_API_TOKENS: dev tokens are refused in production"))
				break
			}
		}
		errs = append(errs, refusePlaceholders(c, getenv)...)
		for tok, role := range c.APITokens {
			if len(tok) < MinSecretBytes {
				errs = append(errs, fmt.Errorf("LUNAS_API_TOKENS: the %s token has %d bytes; production needs at least %d", role, len(tok), MinSecretBytes))
			}
		}
		if c.OVOCallbackToken != "" && len(c.OVOCallbackToken) < MinSecretBytes {
			errs = append(errs, fmt.Errorf("OVO_CALLBACK_TOKEN: %d bytes; production needs at least %d", len(c.OVOCallbackToken), MinSecretBytes))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// Print writes the effective configuration, one variable a line, secrets masked.
func (c *Config) Print(w io.Writer) {
	roles := make([]string, 0, len(c.APITokens))
	for tok, role := range c.APITokens {
		roles = append(roles, role+":"+mask(tok))
	}
	sort.Strings(roles)
	rows := [][2]string{
		{"LUNAS_ENV", c.Env},
		{"LUNAS_HTTP_ADDR", c.HTTPAddr},
		{"LUNAS_DATABASE_URL", redactURL(c.DatabaseURL)},
		{"LUNAS_REDIS_URL", redactURL(c.RedisURL)},
		{"LUNAS_SMTP_URL", redactURL(c.SMTPURL)},
		{"LUNAS_SMTP_TIMEOUT", c.SMTPTimeout.String()},
		{"LUNAS_MAIL_FROM", c.MailFrom},
		{"LUNAS_PUBLIC_URL", c.PublicURL},
		{"LUNAS_SIGNING_KEY", mask(c.SigningKey)},
		{"LUNAS_API_TOKENS", strings.Join(roles, ",")},
		{"LUNAS_TIMEZONE", c.Timezone.String()},
		{"LUNAS_VAT_RATE", c.VATRate.String()},
		{"LUNAS_CARD_FEE_RATE", c.CardFeeRate.String()},
		{"LUNAS_SWEEP_INTERVAL", c.SweepInterval.String()},
		{"LUNAS_OUTBOX_REQUEUE_AFTER", c.OutboxRequeueAfter.String()},
		{"LUNAS_RECONCILE_AFTER", c.ReconcileAfter.String()},
		{"LUNAS_AUTO_MIGRATE", fmt.Sprint(c.AutoMigrate)},
		{"LUNAS_SELLER_NAME", c.SellerName},
		{"LUNAS_SELLER_ADDRESS", c.SellerAddress},
		{"LUNAS_SELLER_NPWP", c.SellerNPWP},
		{"LUNAS_SELLER_LOGO", c.SellerLogo},
		{"LUNAS_ALLOW_SANDBOX", fmt.Sprint(c.AllowSandbox)},
		{"LUNAS_BANK_ACCOUNT", c.BankAccount.Bank + "|" + c.BankAccount.Number + "|" + c.BankAccount.Holder},
		{"LUNAS_WA_MIN_TOPUP", fmt.Sprint(c.WAMinTopUp)},
		{"LUNAS_MUV_PACK_SIZE", fmt.Sprint(c.MUVPackSize)},
		{"LUNAS_MUV_PACK_PRICE", fmt.Sprint(c.MUVPackPrice)},
		{"LUNAS_WORKER_CONCURRENCY", fmt.Sprint(c.WorkerConcurrency)},
		{"LUNAS_WEBHOOK_CONCURRENCY", fmt.Sprint(c.WebhookConcurrency)},
		{"LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY", fmt.Sprint(c.WebhookEndpointConcurrency)},
		{"LUNAS_WEBHOOK_ALLOW_HOSTS", c.webhookAllowRaw},
		{"LUNAS_WA_PRICES", c.WAPrices.String()},
		{"LUNAS_WA_TOPUP_STEP", fmt.Sprint(c.WATopUpStep)},
		{"LUNAS_LOW_BALANCE_RATIO", c.LowBalanceRatio.String()},
		{"LUNAS_WORKER_POOLS", pools(c.WorkerPools)},
		{"LUNAS_DB_DEADLINE", c.DBDeadline.String()},
		{"MIDTRANS_SERVER_KEY", mask(c.MidtransServerKey)},
		{"MIDTRANS_ENV", c.MidtransEnv},
		{"MIDTRANS_BASE_URL", c.MidtransBaseURL},
		{"XENDIT_SECRET_KEY", mask(c.XenditSecretKey)},
		{"XENDIT_BASE_URL", c.XenditBaseURL},
		{"OVO_CALLBACK_TOKEN", mask(c.OVOCallbackToken)},
		{"LUNAS_WHATSAPP_URL", redactURL(c.WhatsAppURL)},
		{"LUNAS_WHATSAPP_TOKEN", mask(c.WhatsAppToken)},
		{"LUNAS_WHATSAPP_RATE", c.WhatsAppRate.String()},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-26s %s\n", r[0], r[1])
	}
}

func pools(m map[string]int) string {
	if len(m) == 0 {
		return "(each pool LUNAS_WORKER_CONCURRENCY)"
	}
	parts := make([]string, 0, len(m))
	for name, n := range m {
		parts = append(parts, fmt.Sprintf("%s:%d", name, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

func checkURL(raw string, schemes []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("malformed URL: %v", err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" {
				return fmt.Errorf("%q has no host", redactURL(raw))
			}
			return nil
		}
	}
	return fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
}

func rate(s, name string, errs *[]error) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil || d.IsNegative() || d.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		*errs = append(*errs, fmt.Errorf("%s: %q is not a rate in [0, 1)", name, s))
		return decimal.Zero
	}
	return d
}

func duration(s, name string, errs *[]error) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s: %q is not a positive duration (e.g. 1m, 30s)", name, s))
		return time.Minute
	}
	return d
}

func positive(s, name string, errs *[]error) int64 {
	var n int64
	_, err := fmt.Sscan(s, &n)
	if err != nil || n <= 0 || fmt.Sprint(n) != s {
		*errs = append(*errs, fmt.Errorf("%s: %q is not a positive whole number", name, s))
		return 1
	}
	return n
}

func nonNegative(s, name string, errs *[]error) int64 {
	var n int64
	_, err := fmt.Sscan(s, &n)
	if err != nil || n < 0 || fmt.Sprint(n) != s {
		*errs = append(*errs, fmt.Errorf("%s: %q is not a whole number >= 0", name, s))
		return 0
	}
	return n
}

// mask keeps a hint of a secret (its length class and last two characters)
// so an operator can tell two keys apart without seeing either.
func mask(s string) string {
	if s == "" {
		return "(unset)"
	}
	if len(s) <= 6 {
		return "****"
	}
	return "****" + s[len(s)-2:]
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "****")
		}
	}
	return u.String()
}
