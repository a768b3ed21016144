package config

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/webhook"
)

// Secrecy says how the start-up print shows a variable's value (and the
// README's "secret" column says so too).
type Secrecy int

const (
	// Public values are printed in full.
	Public Secrecy = iota
	// Masked values are secrets: the print shows only a hint (see mask).
	Masked
	// URLPassword values are URLs whose password (user info, or a query
	// parameter named like a password) is masked; the rest is printed.
	URLPassword
	// RoleTokens values are role:token pairs: the roles are printed, the
	// tokens masked.
	RoleTokens
)

// Show returns value as the start-up print shows it.
func (s Secrecy) Show(value string) string {
	switch s {
	case Masked:
		return mask(value)
	case URLPassword:
		return redactURL(value)
	case RoleTokens:
		if value == "" {
			return ""
		}
		pairs := strings.Split(value, ",")
		for i, p := range pairs {
			role, tok, _ := strings.Cut(p, ":")
			pairs[i] = role + ":" + mask(tok)
		}
		return strings.Join(pairs, ",")
	}
	return value
}

// column is the README's "secret" column.
func (s Secrecy) column() string {
	switch s {
	case Masked:
		return "yes"
	case URLPassword:
		return "its password"
	case RoleTokens:
		return "the tokens"
	}
	return ""
}

// Var declares one environment variable: everything Load, Print and the
// README's table know about it.
type Var struct {
	Name string
	// Default is what Load parses when the variable is unset or empty.
	// Empty: none (the variable is then not parsed and its field stays
	// zero), unless defaultFrom derives one.
	Default string
	// DefaultDoc is the README's default column when Default alone does
	// not say it: a default derived from other variables or the
	// environment. Empty: Default, backticked, or "none".
	DefaultDoc string
	// Doc is the meaning, in Markdown (a "|" is escaped by MarkdownTable).
	Doc     string
	Secrecy Secrecy

	// defaultFrom derives the default from variables declared (so parsed)
	// before this one; it overrides Default.
	defaultFrom func(c *Config) string
	// parse validates a non-empty value and sets its field(s); its error
	// does not repeat the variable's name (Load prefixes it) nor, for a
	// secret, the value.
	parse func(c *Config, v string) error
	// show is the effective value, unmasked, as it would be written in
	// the environment (Print masks it by Secrecy).
	show func(c *Config) string
}

// DefaultText is the default as the README's table shows it.
func (v Var) DefaultText() string {
	switch {
	case v.DefaultDoc != "":
		return v.DefaultDoc
	case v.Default == "":
		return "none"
	}
	return "`" + v.Default + "`"
}

// Vars is the declaration: every variable lunas reads, in the order Load
// parses them (a derived default reads only variables above it) and
// Print and the README list them. Each call returns a fresh table.
func Vars() []Var {
	return []Var{
		{Name: "LUNAS_ENV", Default: EnvDev,
			Doc: "`dev`, `test` or `production`; `production` refuses dev secrets and secrets (`LUNAS_SIGNING_KEY`, every API token, " +
				"`OVO_CALLBACK_TOKEN`, `LUNAS_WA_VERIFY_TOKEN`) shorter than 32 bytes; `test` enables the test clock",
			parse: func(c *Config, v string) error {
				c.Env = v
				return oneOf(v, EnvDev, EnvTest, EnvProduction)
			},
			show: func(c *Config) string { return c.Env }},
		{Name: "LUNAS_HTTP_ADDR", Default: "127.0.0.1:8080", Doc: "listen address",
			parse: func(c *Config, v string) error { c.HTTPAddr = v; return hostPort(v) },
			show:  func(c *Config) string { return c.HTTPAddr }},
		{Name: "LUNAS_DATABASE_URL", Default: "postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable", Doc: "PostgreSQL", Secrecy: URLPassword,
			parse: func(c *Config, v string) error { c.DatabaseURL = v; return checkURL(v, "postgres", "postgresql") },
			show:  func(c *Config) string { return c.DatabaseURL }},
		{Name: "LUNAS_REDIS_URL", Default: "redis://127.0.0.1:6379/0", Secrecy: URLPassword,
			Doc: "Redis for asynq; `redis-sentinel://[:pass@]host:port,host:port[/db]?master=NAME[&sentinel_password=…]` for failover " +
				"(the password is the master's, and the sentinels' unless `sentinel_password` is given)",
			parse: func(c *Config, v string) error {
				c.RedisURL = v
				return checkURL(v, "redis", "rediss", "redis-sentinel")
			},
			show: func(c *Config) string { return c.RedisURL }},
		{Name: "LUNAS_SMTP_URL", Default: "smtp://127.0.0.1:1025", Secrecy: URLPassword,
			Doc:   "`smtp://[user:pass@]host:port` (STARTTLS when offered), `smtps://` implicit TLS",
			parse: func(c *Config, v string) error { c.SMTPURL = v; return checkURL(v, "smtp", "smtps") },
			show:  func(c *Config) string { return c.SMTPURL }},
		{Name: "LUNAS_SMTP_TIMEOUT", Default: "15s",
			Doc:   "bounds dialing and every SMTP command (a server that accepts and then stalls)",
			parse: func(c *Config, v string) (err error) { c.SMTPTimeout, err = parseDuration(v); return err },
			show:  func(c *Config) string { return c.SMTPTimeout.String() }},
		{Name: "LUNAS_MAIL_FROM", Default: placeholderMailFrom, Doc: "sender (production refuses the placeholder)",
			parse: func(c *Config, v string) error {
				c.MailFrom = v
				if _, err := mail.ParseAddress(v); err != nil {
					return fmt.Errorf("%q is not an address: %v", v, err)
				}
				return nil
			},
			show: func(c *Config) string { return c.MailFrom }},
		{Name: "LUNAS_PUBLIC_URL", DefaultDoc: "`http://` + `LUNAS_HTTP_ADDR` (wildcard host → `127.0.0.1`)",
			Doc: "base of links in mail (production refuses a loopback one)",
			// Links in mail follow the listen address unless told
			// otherwise, so moving LUNAS_HTTP_ADDR does not break them.
			defaultFrom: func(c *Config) string { return publicURLFor(c.HTTPAddr) },
			parse: func(c *Config, v string) error {
				c.PublicURL = strings.TrimRight(v, "/")
				return checkURL(c.PublicURL, "http", "https")
			},
			show: func(c *Config) string { return c.PublicURL }},
		{Name: "LUNAS_SIGNING_KEY", DefaultDoc: "dev-only value outside production", Secrecy: Masked,
			Doc: "key for signed PDF links (and the webhook secrets' seal)",
			defaultFrom: func(c *Config) string {
				if c.Env == EnvProduction {
					return ""
				}
				return devSigningKey
			},
			parse: func(c *Config, v string) error { c.SigningKey = v; return nil },
			show:  func(c *Config) string { return c.SigningKey }},
		{Name: "LUNAS_API_TOKENS", DefaultDoc: "dev: `" + devAPITokens + "`", Secrecy: RoleTokens,
			Doc: "comma-separated `role:token`; roles `app`, `finance`",
			defaultFrom: func(c *Config) string {
				if c.Env == EnvProduction {
					return ""
				}
				return devAPITokens
			},
			parse: parseAPITokens,
			show: func(c *Config) string {
				pairs := make([]string, 0, len(c.APITokens))
				for tok, role := range c.APITokens {
					pairs = append(pairs, role+":"+tok)
				}
				sort.Strings(pairs)
				return strings.Join(pairs, ",")
			}},
		{Name: "LUNAS_TIMEZONE", Default: "Asia/Jakarta", Doc: "business zone for deadlines and documents",
			parse: func(c *Config, v string) error {
				loc, err := time.LoadLocation(v)
				if err != nil {
					return fmt.Errorf("unknown zone %q", v)
				}
				c.Timezone = loc
				return nil
			},
			show: func(c *Config) string { return c.Timezone.String() }},
		{Name: "LUNAS_VAT_RATE", Default: "0.11", Doc: "VAT (PPN) on the subtotal (in `simple` tax-invoice mode)",
			parse: func(c *Config, v string) (err error) { c.VATRate, err = parseRate(v); return err },
			show:  func(c *Config) string { return c.VATRate.String() }},
		{Name: "LUNAS_CARD_FEE_RATE", Default: "0.035", Doc: "card fee on subtotal + VAT",
			parse: func(c *Config, v string) (err error) { c.CardFeeRate, err = parseRate(v); return err },
			show:  func(c *Config) string { return c.CardFeeRate.String() }},
		{Name: "LUNAS_TAX_INVOICE_MODE", Default: TaxModeDPPNilaiLain,
			Doc: "`dpp_nilai_lain`: PPN 12 % on a tax base of 11/12 of the subtotal (PMK 131/2024, from 2025-01-01); " +
				"`simple`: PPN at `LUNAS_VAT_RATE` on the subtotal",
			parse: func(c *Config, v string) error {
				c.TaxInvoiceMode = v
				return oneOf(v, TaxModeDPPNilaiLain, TaxModeSimple)
			},
			show: func(c *Config) string { return c.TaxInvoiceMode }},
		{Name: "LUNAS_PPH23_RATE", Default: "0.02",
			Doc:   "income tax a withholding buyer deducts from the subtotal (PPh 23 on services)",
			parse: func(c *Config, v string) (err error) { c.PPh23Rate, err = parseRate(v); return err },
			show:  func(c *Config) string { return c.PPh23Rate.String() }},
		{Name: "LUNAS_SWEEP_INTERVAL", Default: "1m", Doc: "how often the safety-net sweeper runs",
			parse: func(c *Config, v string) (err error) { c.SweepInterval, err = parseDuration(v); return err },
			show:  func(c *Config) string { return c.SweepInterval.String() }},
		{Name: "LUNAS_AUTO_MIGRATE", Default: "true", Doc: "`true`: `all`, `serve` and `work` apply migrations at start (`migrate` always does)",
			parse: func(c *Config, v string) (err error) { c.AutoMigrate, err = parseBool(v); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.AutoMigrate) }},
		{Name: "LUNAS_SELLER_NAME", Default: placeholderSellerName, Doc: "seller block on the PDF: name (production refuses the placeholder)",
			parse: func(c *Config, v string) error { c.SellerName = v; return nil },
			show:  func(c *Config) string { return c.SellerName }},
		{Name: "LUNAS_SELLER_ADDRESS", Default: placeholderSellerAddress, Doc: "seller block on the PDF: address (production refuses the placeholder)",
			parse: func(c *Config, v string) error { c.SellerAddress = v; return nil },
			show:  func(c *Config) string { return c.SellerAddress }},
		{Name: "LUNAS_SELLER_NPWP", Default: placeholderSellerNPWP,
			Doc: "seller block on the PDF: tax id, 16 digits or the old 15 (dots and dashes allowed; production refuses the placeholder)",
			parse: func(c *Config, v string) error {
				c.SellerNPWP = v
				if _, ok := npwp16(v); !ok {
					return fmt.Errorf("%q is not an NPWP (15 or 16 digits)", v)
				}
				return nil
			},
			show: func(c *Config) string { return c.SellerNPWP }},
		{Name: "LUNAS_SELLER_NITKU", DefaultDoc: "the seller NPWP (16 digits) + `000000`",
			Doc: "the seller's place-of-business id (22 digits, starting with the NPWP's 16) in the e-Faktur export",
			defaultFrom: func(c *Config) string {
				if n, ok := npwp16(c.SellerNPWP); ok {
					return n + "000000"
				}
				return "" // LUNAS_SELLER_NPWP's own error says it
			},
			parse: func(c *Config, v string) error {
				c.SellerNITKU = v
				if !allDigits(v, 22) {
					return fmt.Errorf("%q is not 22 digits", v)
				}
				if n, ok := npwp16(c.SellerNPWP); ok && !strings.HasPrefix(v, n) {
					return fmt.Errorf("%q does not start with the seller NPWP %s", v, n)
				}
				return nil
			},
			show: func(c *Config) string { return c.SellerNITKU }},
		{Name: "LUNAS_SELLER_LOGO", Doc: "path of a PNG or JPEG printed at the top left of the PDF (checked at start)",
			parse: func(c *Config, v string) error { c.SellerLogo = v; return checkLogo(v) },
			show:  func(c *Config) string { return c.SellerLogo }},
		{Name: "LUNAS_ALLOW_SANDBOX", Default: "false", Doc: "`true` lets `LUNAS_ENV=production` run against gateway sandboxes (staging)",
			parse: func(c *Config, v string) (err error) { c.AllowSandbox, err = parseBool(v); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.AllowSandbox) }},
		{Name: "LUNAS_BANK_ACCOUNT", Default: placeholderBankAccount,
			Doc: "`BANK|number|holder` for manual transfers (production refuses the placeholder)",
			parse: func(c *Config, v string) error {
				parts := strings.Split(v, "|")
				if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
					return fmt.Errorf("want BANK|number|holder name, got %q", v)
				}
				c.BankAccount = BankAccount{Bank: parts[0], Number: parts[1], Holder: parts[2]}
				return nil
			},
			show: func(c *Config) string {
				return c.BankAccount.Bank + "|" + c.BankAccount.Number + "|" + c.BankAccount.Holder
			}},
		{Name: "LUNAS_APPROVAL_THRESHOLD", Default: "5000000",
			Doc:   "adjustments, reconciliations and refunds by hand above this many rupiah need a second approver (`0`: every one)",
			parse: func(c *Config, v string) (err error) { c.ApprovalThreshold, err = parseWhole(v, 0); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.ApprovalThreshold) }},
		{Name: "LUNAS_WA_MIN_TOPUP", Default: "1000000", Doc: "catalog: minimum WhatsApp balance top-up (IDR)",
			parse: func(c *Config, v string) (err error) { c.WAMinTopUp, err = parseWhole(v, 1); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.WAMinTopUp) }},
		{Name: "LUNAS_MUV_PACK_SIZE", Default: "500", Doc: "catalog: unique visitors in one pack",
			parse: func(c *Config, v string) (err error) { c.MUVPackSize, err = parseWhole(v, 1); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.MUVPackSize) }},
		{Name: "LUNAS_MUV_PACK_PRICE", Default: "300000", Doc: "catalog: price of one unique-visitor pack (IDR)",
			parse: func(c *Config, v string) (err error) { c.MUVPackPrice, err = parseWhole(v, 1); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.MUVPackPrice) }},
		{Name: "LUNAS_WA_PRICES", Default: tariff.Default,
			Doc: "conversation prices (IDR) by recipient country code, longest prefix wins; `;` separates countries; " +
				"a `*` row prices every other country; each row prices all four categories",
			parse: func(c *Config, v string) (err error) { c.WAPrices, err = tariff.Parse(v); return err },
			show:  func(c *Config) string { return c.WAPrices.String() }},
		{Name: "LUNAS_WA_TOPUP_STEP", Default: "0",
			Doc:   "when > 0, `wa_balance` order quantities are rounded up to a multiple of it (Barantum: `500000`), the adjustment reported on the item",
			parse: func(c *Config, v string) (err error) { c.WATopUpStep, err = parseWhole(v, 0); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.WATopUpStep) }},
		{Name: "LUNAS_LOW_BALANCE_RATIO", Default: "0.4",
			Doc:   "low-balance alert when a debit takes a balance below this share of its value right after the last top-up",
			parse: func(c *Config, v string) (err error) { c.LowBalanceRatio, err = parseRate(v); return err },
			show:  func(c *Config) string { return c.LowBalanceRatio.String() }},
		{Name: "LUNAS_WEBHOOK_CONCURRENCY", Default: "16",
			Doc:   "webhook deliveries one `work` process posts at once (its own goroutines, not asynq's)",
			parse: func(c *Config, v string) (err error) { c.WebhookConcurrency, err = parseCount(v); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.WebhookConcurrency) }},
		{Name: "LUNAS_WEBHOOK_ENDPOINT_CONCURRENCY", Default: "4",
			Doc:   "of which at most this many to one endpoint, so a slow endpoint never holds them all",
			parse: func(c *Config, v string) (err error) { c.WebhookEndpointConcurrency, err = parseCount(v); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.WebhookEndpointConcurrency) }},
		{Name: "LUNAS_WEBHOOK_ALLOW_HOSTS",
			Doc: "production only: comma-separated host names, addresses or CIDR networks an endpoint may reach although internal (a self-hosted app)",
			parse: func(c *Config, v string) (err error) {
				c.webhookAllowRaw = v
				c.WebhookAllowHosts, c.WebhookAllowNets, err = webhook.ParseAllow(v)
				return err
			},
			show: func(c *Config) string { return c.webhookAllowRaw }},
		{Name: "LUNAS_RECONCILE_AFTER", Default: "15m",
			Doc:   "a gateway attempt with no final notification is asked at its gateway this long after it opened, then 4× longer each time (at most 100 attempts per sweep)",
			parse: func(c *Config, v string) (err error) { c.ReconcileAfter, err = parseDuration(v); return err },
			show:  func(c *Config) string { return c.ReconcileAfter.String() }},
		{Name: "LUNAS_WORKER_CONCURRENCY", Default: "10",
			Doc:   "tasks each worker pool of a `work` process runs at once, unless `LUNAS_WORKER_POOLS` names the pool",
			parse: func(c *Config, v string) (err error) { c.WorkerConcurrency, err = parseCount(v); return err },
			show:  func(c *Config) string { return fmt.Sprint(c.WorkerConcurrency) }},
		{Name: "LUNAS_WORKER_POOLS",
			Doc: "per-pool concurrency, e.g. `critical:10,mail:4,default:4`. Pools: `critical` (payment:apply, invoice:expire; queue `lunas-critical`), " +
				"`mail` (mail:send; `lunas-mail`), `default` (pdf:render, payment:cancel; `lunas`). " +
				"Each pool is an asynq server of its own, so no kind of task can take another's slots",
			parse: parseWorkerPools,
			show: func(c *Config) string {
				if len(c.WorkerPools) == 0 {
					return "(each pool LUNAS_WORKER_CONCURRENCY)"
				}
				parts := make([]string, 0, len(c.WorkerPools))
				for name, n := range c.WorkerPools {
					parts = append(parts, fmt.Sprintf("%s:%d", name, n))
				}
				sort.Strings(parts)
				return strings.Join(parts, ",")
			}},
		{Name: "LUNAS_DB_DEADLINE", Default: "2s",
			Doc: "database deadline of every API request and webhook: past it, while PostgreSQL has answered nothing for half of it, " +
				"503 with `Retry-After` and nothing written; a request waiting its turn (a lock, a pooled connection) while the server " +
				"answers others waits on, up to 30 s (starting a payment adds the gateway's 20 s)",
			parse: func(c *Config, v string) (err error) { c.DBDeadline, err = parseDuration(v); return err },
			show:  func(c *Config) string { return c.DBDeadline.String() }},
		{Name: "LUNAS_OUTBOX_REQUEUE_AFTER", Default: "2m", Doc: "a relayed job still undone after this is relayed again (same task id)",
			parse: func(c *Config, v string) (err error) { c.OutboxRequeueAfter, err = parseDuration(v); return err },
			show:  func(c *Config) string { return c.OutboxRequeueAfter.String() }},
		{Name: "LUNAS_LOG_LEVEL", Default: "INFO", Doc: "`DEBUG`, `INFO`, `WARN`, `ERROR`",
			parse: func(c *Config, v string) error {
				if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
					return fmt.Errorf("%q is not DEBUG, INFO, WARN or ERROR", v)
				}
				return nil
			},
			show: func(c *Config) string { return c.LogLevel.String() }},
		{Name: "LUNAS_PPROF_ADDR", Doc: "serve `/debug/pprof` on this separate address (never on the public one)",
			parse: func(c *Config, v string) error { c.PprofAddr = v; return hostPort(v) },
			show:  func(c *Config) string { return c.PprofAddr }},
		{Name: "LUNAS_METRICS_ADDR",
			Doc: "serve `/metrics` on this separate operator address (e.g. `127.0.0.1:9100` for a scraper on the host); " +
				"unset: `/metrics` is served on `LUNAS_HTTP_ADDR` outside production only, so a production deployment " +
				"that is scraped sets it",
			parse: func(c *Config, v string) error { c.MetricsAddr = v; return hostPort(v) },
			show:  func(c *Config) string { return c.MetricsAddr }},
		{Name: "MIDTRANS_SERVER_KEY", Doc: "Midtrans server key; also the notification signature secret", Secrecy: Masked,
			parse: func(c *Config, v string) error { c.MidtransServerKey = v; return nil },
			show:  func(c *Config) string { return c.MidtransServerKey }},
		{Name: "MIDTRANS_CLIENT_KEY",
			Doc: "Midtrans client key; when set the pay page offers card payment. Not a secret: Midtrans's card-tokenizing script " +
				"runs it in the payer's browser, so it is printed in full",
			parse: func(c *Config, v string) error { c.MidtransClientKey = v; return noSpace(v, false) },
			show:  func(c *Config) string { return c.MidtransClientKey }},
		{Name: "MIDTRANS_ENV", Default: "sandbox", Doc: "`sandbox` or `production`",
			parse: func(c *Config, v string) error { c.MidtransEnv = v; return oneOf(v, "sandbox", "production") },
			show:  func(c *Config) string { return c.MidtransEnv }},
		{Name: "MIDTRANS_BASE_URL",
			DefaultDoc: "the environment's API host: `" + midtransSandboxURL + "`, or `" + midtransProductionURL + "` with `MIDTRANS_ENV=production`",
			Doc:        "every Midtrans call goes here instead (fakes, proxies)",
			defaultFrom: func(c *Config) string {
				if c.MidtransEnv == "production" {
					return midtransProductionURL
				}
				return midtransSandboxURL
			},
			parse: func(c *Config, v string) error {
				c.MidtransBaseURL = strings.TrimRight(v, "/")
				return checkURL(c.MidtransBaseURL, "http", "https")
			},
			show: func(c *Config) string { return c.MidtransBaseURL }},
		{Name: "LUNAS_QRIS_ACQUIRER", Default: QRISAcquirerGoPay, Doc: "acquirer of QRIS charges (`gopay` or `airpay shopee`)",
			parse: func(c *Config, v string) error {
				c.QRISAcquirer = v
				return oneOf(v, QRISAcquirerGoPay, QRISAcquirerShopeePay)
			},
			show: func(c *Config) string { return c.QRISAcquirer }},
		{Name: "XENDIT_SECRET_KEY", Doc: "OVO charges through the Xendit e-wallet API", Secrecy: Masked,
			parse: func(c *Config, v string) error { c.XenditSecretKey = v; return nil },
			show:  func(c *Config) string { return c.XenditSecretKey }},
		{Name: "XENDIT_BASE_URL", Default: "https://api.xendit.co", Doc: "every Xendit call goes here instead",
			parse: func(c *Config, v string) error {
				c.XenditBaseURL = strings.TrimRight(v, "/")
				return checkURL(c.XenditBaseURL, "http", "https")
			},
			show: func(c *Config) string { return c.XenditBaseURL }},
		{Name: "OVO_CALLBACK_TOKEN", Doc: "expected `x-callback-token` on `/webhooks/ovo`", Secrecy: Masked,
			parse: func(c *Config, v string) error { c.OVOCallbackToken = v; return nil },
			show:  func(c *Config) string { return c.OVOCallbackToken }},
		{Name: "LUNAS_WHATSAPP_URL", Secrecy: URLPassword,
			Doc: "Fonnte-compatible WhatsApp gateway for bulk sending (`POST` form `target`, `message`; header `Authorization: <token>`); " +
				"unset: the `whatsapp` channel is refused (400)",
			parse: func(c *Config, v string) error { c.WhatsAppURL = v; return checkURL(v, "http", "https") },
			show:  func(c *Config) string { return c.WhatsAppURL }},
		{Name: "LUNAS_WHATSAPP_TOKEN", Doc: "the token `LUNAS_WHATSAPP_URL` is called with", Secrecy: Masked,
			parse: func(c *Config, v string) error { c.WhatsAppToken = v; return nil },
			show:  func(c *Config) string { return c.WhatsAppToken }},
		{Name: "LUNAS_WHATSAPP_RATE", Default: "1",
			Doc:   "WhatsApp messages per second, at most, all `work` processes together (a decimal, e.g. `0.5`)",
			parse: func(c *Config, v string) (err error) { c.WhatsAppRate, err = parseMessageRate(v); return err },
			show:  func(c *Config) string { return c.WhatsAppRate.String() }},
		{Name: "LUNAS_WA_APP_SECRET", Secrecy: Masked,
			Doc:   "Meta app secret: `X-Hub-Signature-256` of `/webhooks/whatsapp` is checked with it; unset → that route answers 404",
			parse: func(c *Config, v string) error { c.WAAppSecret = v; return noSpace(v, true) },
			show:  func(c *Config) string { return c.WAAppSecret }},
		{Name: "LUNAS_WA_VERIFY_TOKEN", Secrecy: Masked,
			Doc:   "the verify token of Meta's webhook subscription handshake (`GET /webhooks/whatsapp`); production needs it with `LUNAS_WA_APP_SECRET`",
			parse: func(c *Config, v string) error { c.WAVerifyToken = v; return noSpace(v, true) },
			show:  func(c *Config) string { return c.WAVerifyToken }},
	}
}
