// Package config reads lunas's configuration from the environment, exactly
// as shared/API.md lists it, validates every value at start and prints the
// effective configuration with secrets masked.
//
// cmd/lunas calls Load once; everything else receives the values it needs.
//
// # Declared once
//
// Every variable is one entry of Vars (vars.go): its name, default, doc
// string, how secret it is, and the parser that validates it and sets its
// Config field. Load, Print and MarkdownTable (docs/configuration.md's configuration
// table, checked by a test and rewritten by `go generate ./config`) all
// walk that one table, so they cannot disagree.
//
// The table is our own rather than github.com/caarlos0/env struct tags.
// Both would declare each variable once; what decided it is what lunas's
// variables need beyond a tag:
//
//   - Validation per variable, not per type. LUNAS_VAT_RATE is a rate in
//     [0, 1), LUNAS_WHATSAPP_RATE a decimal in (0, 1000], LUNAS_WA_MIN_TOPUP
//     positive, LUNAS_WA_TOPUP_STEP may be 0: all share a Go type, and
//     env's custom parsers (Options.FuncMap) are keyed by reflect.Type, so
//     the ranges would live in a second pass away from the declaration —
//     unless each field got a new named type, which the fields' users
//     (other packages) would then see.
//   - Defaults derived from other variables: LUNAS_PUBLIC_URL from
//     LUNAS_HTTP_ADDR, MIDTRANS_BASE_URL from MIDTRANS_ENV, the dev signing
//     key and API tokens from LUNAS_ENV, LUNAS_SELLER_NITKU from
//     LUNAS_SELLER_NPWP. envDefault is a constant (or ${VAR} expansion,
//     which cannot turn 0.0.0.0 into 127.0.0.1).
//   - One variable filling several fields (LUNAS_WEBHOOK_ALLOW_HOSTS,
//     LUNAS_BANK_ACCOUNT) or an unexported one, and an inverted map
//     (LUNAS_API_TOKENS is role:token, the field token → role).
//   - Masking by kind (a whole secret, a URL's password, role:token
//     pairs) and a doc string: env knows neither, so Print and docs/configuration.md
//     would read tags of our own by reflection anyway.
//
// What env would add over these fifty-odd entries is a parser per type we
// would mostly replace; the table costs no dependency and keeps each
// variable's rules in one place a reader can see.
//
// Every command loads the whole table, so which command needs which
// variable is not declared: a malformed value stops any command, which is
// what an operator wants to hear before the one that needs it runs.
package config

//go:generate go run ./internal/readmetable ../docs/configuration.md

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/tariff"
)

// Environments.
const (
	EnvDev        = "dev"
	EnvTest       = "test"
	EnvProduction = "production"
)

// LUNAS_TAX_INVOICE_MODE values (API.md "Tax").
const (
	// TaxModeDPPNilaiLain: PPN 12 % on a tax base of 11/12 of the
	// subtotal (PMK 131/2024, from 2025-01-01).
	TaxModeDPPNilaiLain = "dpp_nilai_lain"
	// TaxModeSimple: PPN at LUNAS_VAT_RATE on the subtotal.
	TaxModeSimple = "simple"
)

// LUNAS_QRIS_ACQUIRER values: Midtrans's `qris.acquirer`.
const (
	QRISAcquirerGoPay     = "gopay"
	QRISAcquirerShopeePay = "airpay shopee"
)

// MinSecretBytes is the shortest secret production accepts: a signing key,
// an API token or a callback token that can be guessed is no secret.
const MinSecretBytes = 32

const (
	devSigningKey = "dev-only-signing-key-do-not-use-in-production"
	devAPITokens  = "app:dev-app-token,finance:dev-finance-token"

	midtransSandboxURL    = "https://api.sandbox.midtrans.com"
	midtransProductionURL = "https://api.midtrans.com"
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

	// Operations.
	LogLevel  slog.Level // LUNAS_LOG_LEVEL
	PprofAddr string     // LUNAS_PPROF_ADDR: /debug/pprof on its own listener; "" for none
	// MetricsAddr is LUNAS_METRICS_ADDR: /metrics on its own listener.
	// "": /metrics only on the main listener, and only outside production.
	MetricsAddr string

	// Wave 3 (API.md): the pay page, WhatsApp webhooks, tax, four eyes.

	// QRISAcquirer is the acquirer of QRIS charges: QRISAcquirerGoPay or
	// QRISAcquirerShopeePay.
	QRISAcquirer string
	// MidtransClientKey enables card payment on the pay page. Public by
	// Midtrans's design (its script uses it in the payer's browser).
	MidtransClientKey string
	// WAAppSecret checks X-Hub-Signature-256 of /webhooks/whatsapp; "":
	// the route answers 404.
	WAAppSecret string
	// WAVerifyToken answers Meta's subscription handshake.
	WAVerifyToken string
	// TaxInvoiceMode is TaxModeDPPNilaiLain or TaxModeSimple.
	TaxInvoiceMode string
	// PPh23Rate is what a withholding buyer deducts from the subtotal.
	PPh23Rate decimal.Decimal
	// SellerNITKU is the seller's 22-digit place-of-business id.
	SellerNITKU string
	// ApprovalThreshold: adjustments, reconciliations and refunds by hand
	// above this many rupiah need a second approver.
	ApprovalThreshold int64
}

// WhatsAppInterval is the time between two WhatsApp messages at WhatsAppRate.
func (c *Config) WhatsAppInterval() time.Duration {
	if !c.WhatsAppRate.IsPositive() {
		return 0
	}
	return time.Duration(decimal.NewFromInt(int64(time.Second)).Div(c.WhatsAppRate).Ceil().IntPart())
}

// Load reads the configuration from getenv (os.Getenv in production): every
// variable of Vars, an empty value meaning unset. It reports every
// malformed or missing value at once, as an *Error naming each variable;
// with LUNAS_ENV=production also every dev secret and placeholder
// (production.go).
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{APITokens: map[string]string{}, WorkerPools: map[string]int{}}
	var bad Error
	given := map[string]bool{}
	for _, v := range Vars() {
		raw := getenv(v.Name)
		switch {
		case raw != "":
			given[v.Name] = true
		case v.defaultFrom != nil:
			raw = v.defaultFrom(c)
		default:
			raw = v.Default
		}
		if raw == "" {
			continue // none: the field stays zero
		}
		if err := v.parse(c, raw); err != nil {
			bad.add(v.Name, err)
		}
	}
	if c.Env == EnvProduction {
		refuseInProduction(c, given, &bad)
	}
	if len(bad.Fields) > 0 {
		return nil, &bad
	}
	return c, nil
}

// Error is Load's refusal: every variable it could not accept, with why.
type Error struct {
	Fields []lunas.FieldError // Field is the variable's name
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = f.Field + ": " + f.Message
	}
	return "configuration: " + strings.Join(lines, "\n")
}

// add records err against name, each of a joined error on its own.
func (e *Error) add(name string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, one := range j.Unwrap() {
			e.add(name, one)
		}
		return
	}
	e.Fields = append(e.Fields, lunas.FieldError{Field: name, Message: err.Error()})
}

func (e *Error) addf(name, format string, args ...any) {
	e.Fields = append(e.Fields, lunas.FieldError{Field: name, Message: fmt.Sprintf(format, args...)})
}

// Print writes the effective configuration, one variable a line in the
// declaration's order, secrets masked by their Secrecy.
func (c *Config) Print(w io.Writer) {
	vars := Vars()
	width := 0
	for _, v := range vars {
		width = max(width, len(v.Name))
	}
	for _, v := range vars {
		fmt.Fprintf(w, "  %-*s %s\n", width, v.Name, v.Secrecy.Show(v.show(c)))
	}
}
