package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The parsers of Vars. Each returns what is wrong with a value without the
// variable's name (Load adds it) and, for a secret, without the value.

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

// hostPort accepts what net.Listen accepts for TCP: host:port, the host
// may be empty (every interface) and the port a number or a service name.
func hostPort(v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%q is not host:port", v)
	}
	return nil
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url's message quotes the URL, password and all.
		return errors.New("malformed URL")
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

func parseBool(v string) (bool, error) {
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// parseRate reads a share such as a tax rate: a decimal in [0, 1).
func parseRate(v string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(v)
	if err != nil || d.IsNegative() || d.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return decimal.Zero, fmt.Errorf("%q is not a rate in [0, 1)", v)
	}
	return d, nil
}

// parseMessageRate reads LUNAS_WHATSAPP_RATE: messages per second in (0, 1000].
func parseMessageRate(v string) (decimal.Decimal, error) {
	r, err := decimal.NewFromString(v)
	if err != nil || !r.IsPositive() || r.GreaterThan(decimal.NewFromInt(1000)) {
		return decimal.Zero, fmt.Errorf("%q is not a number of messages per second in (0, 1000]", v)
	}
	return r, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 1m, 30s)", v)
	}
	return d, nil
}

// parseWhole reads a whole number (rupiah, a count) of at least min (0 or
// 1), written plainly: no sign, no leading zero, no separators.
func parseWhole(v string, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || strconv.FormatInt(n, 10) != v {
		if min > 0 {
			return 0, fmt.Errorf("%q is not a positive whole number", v)
		}
		return 0, fmt.Errorf("%q is not a whole number >= 0", v)
	}
	return n, nil
}

// parseCount reads a concurrency: a positive whole number that fits an int.
func parseCount(v string) (int, error) {
	n, err := parseWhole(v, 1)
	return int(n), err
}

// parseAPITokens reads LUNAS_API_TOKENS (role:token,…) into token → role,
// every malformed pair named with its token masked.
func parseAPITokens(c *Config, v string) error {
	var errs []error
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		role, tok, ok := strings.Cut(pair, ":")
		if !ok || tok == "" || (role != "app" && role != "finance") {
			errs = append(errs, fmt.Errorf("want role:token with role app or finance, got %q", mask(pair)))
			continue
		}
		c.APITokens[tok] = role
	}
	return errors.Join(errs...)
}

// parseWorkerPools reads LUNAS_WORKER_POOLS (pool:concurrency,…); the pool
// names are worker.Pools's to check.
func parseWorkerPools(c *Config, v string) error {
	var errs []error
	for _, pair := range strings.Split(v, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if _, dup := c.WorkerPools[name]; !ok || name == "" || dup {
			errs = append(errs, fmt.Errorf("want pool:concurrency,… with each pool once, got %q", pair))
			continue
		}
		count, err := parseCount(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			continue
		}
		c.WorkerPools[name] = count
	}
	return errors.Join(errs...)
}

// npwp16 is the 16-digit form of an NPWP written with or without dots and
// dashes: an old 15-digit NPWP gains a leading 0 (DJP's rule since 2024).
func npwp16(v string) (string, bool) {
	d := strings.NewReplacer(".", "", "-", "", " ", "").Replace(v)
	switch {
	case allDigits(d, 16):
		return d, true
	case allDigits(d, 15):
		return "0" + d, true
	}
	return "", false
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// noSpace refuses a value with white space in it: a key pasted with its
// line break, or two words where one was meant. The message quotes the
// value unless it is secret.
func noSpace(v string, secret bool) error {
	if strings.IndexFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }) < 0 {
		return nil
	}
	if secret {
		return errors.New("contains white space (a pasted line break?)")
	}
	return fmt.Errorf("%q contains white space", v)
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

// redactURL masks a URL's password: its user info's, and any query
// parameter named like one (libpq's password=, redisconn's
// sentinel_password=).
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
	if u.RawQuery != "" {
		q := u.Query()
		masked := false
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") {
				q.Set(k, "****")
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	// url escapes the stars of the mask, which then reads as noise.
	return strings.ReplaceAll(u.String(), "%2A%2A%2A%2A", "****")
}
