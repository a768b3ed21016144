package config

import (
	"fmt"
	"image"
	_ "image/jpeg" // LUNAS_SELLER_LOGO may be a JPEG
	_ "image/png"  // or a PNG
	"net"
	"net/url"
	"os"
	"strings"
)

// refuseInProduction names every value that would let a production
// deployment start with what only suits a laptop: a dev or guessable
// secret, the example seller (its NPWP and bank account would go to
// customers), a public URL customers cannot reach, a gateway or webhook
// switched on without its secret, a gateway sandbox. Load calls it when
// LUNAS_ENV=production and reports what it adds together with every other
// error; given holds the variables the environment set.
func refuseInProduction(c *Config, given map[string]bool, bad *Error) {
	if c.SigningKey == "" || c.SigningKey == devSigningKey {
		bad.addf("LUNAS_SIGNING_KEY", "required in production (and not the dev value)")
	} else if len(c.SigningKey) < MinSecretBytes {
		bad.addf("LUNAS_SIGNING_KEY", "%d bytes; production needs at least %d (e.g. openssl rand -hex 32)", len(c.SigningKey), MinSecretBytes)
	}
	if len(c.APITokens) == 0 {
		bad.addf("LUNAS_API_TOKENS", "required in production")
	}
	for tok := range c.APITokens {
		if strings.HasPrefix(tok, "dev-") {
			bad.addf("LUNAS_API_TOKENS", "dev tokens are refused in production")
			break
		}
	}

	placeholder := func(name, value, def string) {
		if value == def {
			bad.addf(name, "still the placeholder %q; set the real value", def)
		}
	}
	placeholder("LUNAS_SELLER_NAME", c.SellerName, placeholderSellerName)
	placeholder("LUNAS_SELLER_ADDRESS", c.SellerAddress, placeholderSellerAddress)
	placeholder("LUNAS_SELLER_NPWP", c.SellerNPWP, placeholderSellerNPWP)
	placeholder("LUNAS_MAIL_FROM", c.MailFrom, placeholderMailFrom)
	bank := c.BankAccount.Bank + "|" + c.BankAccount.Number + "|" + c.BankAccount.Holder
	if bank == placeholderBankAccount {
		bad.addf("LUNAS_BANK_ACCOUNT", "still the placeholder %q: customers would be told to transfer there", placeholderBankAccount)
	}
	if loopbackURL(c.PublicURL) {
		bad.addf("LUNAS_PUBLIC_URL", "%q is a loopback address, so links in mail reach no customer; set the address customers use", c.PublicURL)
	}

	set := func(names ...string) []string {
		var out []string
		for _, n := range names {
			if given[n] {
				out = append(out, n)
			}
		}
		return out
	}
	// A gateway is enabled when any of its variables is set: then every
	// secret it needs must be there, or its payments fail or its callbacks
	// are all refused.
	if on := set("MIDTRANS_SERVER_KEY", "MIDTRANS_CLIENT_KEY", "MIDTRANS_BASE_URL", "MIDTRANS_ENV"); len(on) > 0 {
		if c.MidtransServerKey == "" {
			bad.addf("MIDTRANS_SERVER_KEY", "required: Midtrans is enabled (%s set)", strings.Join(on, ", "))
		}
		if c.MidtransEnv == "sandbox" && !c.AllowSandbox {
			bad.addf("MIDTRANS_ENV", "sandbox in production; set MIDTRANS_ENV=production, or LUNAS_ALLOW_SANDBOX=true for a staging deployment")
		}
		if strings.HasPrefix(c.MidtransServerKey, "SB-") && !c.AllowSandbox {
			bad.addf("MIDTRANS_SERVER_KEY", "a sandbox key (SB-…) in production; use the production key, or LUNAS_ALLOW_SANDBOX=true for a staging deployment")
		}
		// A sandbox client key tokenizes cards against the sandbox: every
		// card charge with the production server key would be refused.
		if strings.HasPrefix(c.MidtransClientKey, "SB-") && !c.AllowSandbox {
			bad.addf("MIDTRANS_CLIENT_KEY", "a sandbox key (SB-…) in production; use the production client key, or LUNAS_ALLOW_SANDBOX=true for a staging deployment")
		}
	}
	if on := set("XENDIT_SECRET_KEY", "XENDIT_BASE_URL", "OVO_CALLBACK_TOKEN"); len(on) > 0 {
		if c.XenditSecretKey == "" {
			bad.addf("XENDIT_SECRET_KEY", "required: OVO through Xendit is enabled (%s set)", strings.Join(on, ", "))
		}
		if c.OVOCallbackToken == "" {
			bad.addf("OVO_CALLBACK_TOKEN", "required: OVO through Xendit is enabled (%s set) and every callback would be refused", strings.Join(on, ", "))
		}
		if strings.HasPrefix(c.XenditSecretKey, "xnd_development_") && !c.AllowSandbox {
			bad.addf("XENDIT_SECRET_KEY", "a test-mode key (xnd_development_…) in production; use the live key, or LUNAS_ALLOW_SANDBOX=true for a staging deployment")
		}
	}
	// WhatsApp webhooks need both: without the app secret every status is
	// refused; without the verify token Meta's subscription never completes.
	if on := set("LUNAS_WA_APP_SECRET", "LUNAS_WA_VERIFY_TOKEN"); len(on) > 0 {
		if c.WAAppSecret == "" {
			bad.addf("LUNAS_WA_APP_SECRET", "required: WhatsApp webhooks are enabled (%s set) and every status would be refused", strings.Join(on, ", "))
		}
		if c.WAVerifyToken == "" {
			bad.addf("LUNAS_WA_VERIFY_TOKEN", "required: WhatsApp webhooks are enabled (%s set) and Meta's subscription handshake would fail", strings.Join(on, ", "))
		}
	}

	for tok, role := range c.APITokens {
		if len(tok) < MinSecretBytes {
			bad.addf("LUNAS_API_TOKENS", "the %s token has %d bytes; production needs at least %d", role, len(tok), MinSecretBytes)
		}
	}
	// Secrets lunas chooses must not be guessable; Meta's app secret and
	// the gateways' keys are theirs to choose.
	for _, s := range []struct{ name, value string }{
		{"OVO_CALLBACK_TOKEN", c.OVOCallbackToken},
		{"LUNAS_WA_VERIFY_TOKEN", c.WAVerifyToken},
	} {
		if s.value != "" && len(s.value) < MinSecretBytes {
			bad.addf(s.name, "%d bytes; production needs at least %d", len(s.value), MinSecretBytes)
		}
	}
}

// publicURLFor is the default LUNAS_PUBLIC_URL for a listen address: the
// same host and port over http, loopback for a wildcard host.
func publicURLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// loopbackURL reports whether raw points at this machine only.
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// checkLogo reports why path is not a PNG or JPEG image lunas can print.
func checkLogo(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return fmt.Errorf("%s is not a PNG or JPEG image: %v", path, err)
	}
	if format != "png" && format != "jpeg" {
		return fmt.Errorf("%s is a %s image; want PNG or JPEG", path, format)
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		return fmt.Errorf("%s is an empty image", path)
	}
	return nil
}
