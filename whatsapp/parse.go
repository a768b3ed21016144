package whatsapp

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/tariff"
)

// Limits of a webhook body. Meta sends at most 1,000 updates per POST and
// at most 3 MB; the limits leave room above that and bound what a hostile
// body can cost.
const (
	MaxBody     = 4 << 20 // bytes; the handler should read no more (+1 to tell 413)
	MaxDepth    = 64      // nesting of objects and arrays; Meta's deepest status is ~12
	MaxStatuses = 5000    // statuses in one body
	MaxParts    = 5000    // entries, and changes over all entries, in one body
)

// Object is the envelope's "object" of WhatsApp Business Account webhooks.
const Object = "whatsapp_business_account"

// Field lengths. Meta's ids are far shorter; the caps keep a key column
// and a log line sane.
const (
	maxMessageID = 256
	maxID        = 64 // WABA, phone number ids, display number
	maxRecipient = 128
	maxWord      = 64 // status, pricing model, type, category
	maxTitle     = 512
	maxQuoted    = 40 // of a bad value quoted back in an error
)

// Parse reads the status updates out of a Cloud API webhook body, in body
// order, from every entry and every change whose field is "messages"
// (other fields — templates, account updates — and incoming messages are
// skipped; unknown fields are ignored; a repeated key counts once, its
// last value). It refuses, with a *lunas.ValidationError naming the JSON
// path of the first problem: a body over MaxBody or nested deeper than
// MaxDepth, not a JSON object, whose object is not
// whatsapp_business_account, or whose statuses lack what billing relies on
// (message id, status, timestamp, and the metadata.phone_number_id that
// names the account), or hold them in the wrong type. It never panics,
// whatever the bytes.
func Parse(body []byte) ([]Status, error) {
	if len(body) > MaxBody {
		return nil, fail("body", "larger than %d bytes", MaxBody)
	}
	if kind(body) != '{' {
		return nil, fail("body", "not a JSON object")
	}
	if !depthWithin(body, MaxDepth) {
		return nil, fail("body", "nested deeper than %d levels", MaxDepth)
	}
	// One validating pass; from here on the walk below may assume
	// well-formed JSON, which keeps it to one cheap scan per level.
	if !json.Valid(body) {
		return nil, fail("body", "malformed JSON")
	}
	var env [2][]byte
	members(body, []string{"object", "entry"}, env[:])
	obj, err := str(env[0], "", "object", true, 1<<10)
	if err != nil {
		return nil, err
	}
	if obj != Object {
		return nil, fail("object", "must be %q, not %s", Object, quote(obj))
	}
	entries, err := array(env[1], "entry")
	if err != nil {
		return nil, err
	}
	if len(entries) > MaxParts {
		return nil, fail("entry", "more than %d entries", MaxParts)
	}
	var out []Status
	parts := 0
	for i, e := range entries {
		at := "entry[" + strconv.Itoa(i) + "]"
		var ew [2][]byte // id, changes
		if err := object(e, at, "", []string{"id", "changes"}, ew[:]); err != nil {
			return nil, err
		}
		waba, err := token(ew[0], at, ".id", false, maxID)
		if err != nil {
			return nil, err
		}
		changes, err := array(ew[1], at+".changes")
		if err != nil {
			return nil, err
		}
		if parts += len(changes); parts > MaxParts {
			return nil, fail(at+".changes", "more than %d changes in the body", MaxParts)
		}
		for j, c := range changes {
			cat := at + ".changes[" + strconv.Itoa(j) + "]"
			var cw [2][]byte // field, value
			if err := object(c, cat, "", []string{"field", "value"}, cw[:]); err != nil {
				return nil, err
			}
			field, err := str(cw[0], cat, ".field", true, maxWord)
			if err != nil {
				return nil, err
			}
			if field != "messages" {
				continue // templates, account updates…: not ours to read
			}
			out, err = parseValue(out, cw[1], cat+".value", waba)
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parseValue appends the statuses of one "messages" change value.
func parseValue(out []Status, raw []byte, at, waba string) ([]Status, error) {
	var vw [2][]byte // metadata, statuses
	if err := object(raw, at, "", []string{"metadata", "statuses"}, vw[:]); err != nil {
		return out, err
	}
	if k := kind(vw[1]); k == 0 || k == 'n' {
		return out, nil // incoming messages only
	}
	statuses, err := array(vw[1], at+".statuses")
	if err != nil {
		return out, err
	}
	if len(statuses) == 0 {
		return out, nil
	}
	if len(out)+len(statuses) > MaxStatuses {
		return out, fail(at+".statuses", "more than %d statuses in the body", MaxStatuses)
	}
	var md [2][]byte // display_phone_number, phone_number_id
	if err := object(vw[0], at, ".metadata", []string{"display_phone_number", "phone_number_id"}, md[:]); err != nil {
		return out, err
	}
	phoneID, err := token(md[1], at, ".metadata.phone_number_id", true, maxID)
	if err != nil {
		return out, err
	}
	display, err := token(md[0], at, ".metadata.display_phone_number", false, maxID)
	if err != nil {
		return out, err
	}
	for k, s := range statuses {
		st, err := parseStatus(s, at+".statuses["+strconv.Itoa(k)+"]")
		if err != nil {
			return out, err
		}
		st.WABAID, st.PhoneNumberID, st.DisplayPhoneNumber = waba, phoneID, display
		out = append(out, st)
	}
	return out, nil
}

var statusKeys = []string{"id", "status", "timestamp", "recipient_id", "pricing", "errors"}

func parseStatus(raw []byte, at string) (Status, error) {
	var sw [6][]byte // as statusKeys
	if err := object(raw, at, "", statusKeys, sw[:]); err != nil {
		return Status{}, err
	}
	var s Status
	var err error
	if s.MessageID, err = token(sw[0], at, ".id", true, maxMessageID); err != nil {
		return Status{}, err
	}
	state, err := token(sw[1], at, ".status", true, maxWord)
	if err != nil {
		return Status{}, err
	}
	s.Status = State(intern(state))
	if s.Timestamp, err = unixTime(sw[2], at, ".timestamp"); err != nil {
		return Status{}, err
	}
	if s.RecipientID, err = token(sw[3], at, ".recipient_id", false, maxRecipient); err != nil {
		return Status{}, err
	}
	if s.Pricing, err = parsePricing(sw[4], at); err != nil {
		return Status{}, err
	}
	s.ErrorCode, s.ErrorTitle = firstError(sw[5])
	return s, nil
}

var pricingKeys = []string{"billable", "pricing_model", "type", "category"}

// parsePricing reads the pricing object of the status at at.
func parsePricing(raw []byte, at string) (*Pricing, error) {
	if k := kind(raw); k == 0 || k == 'n' {
		return nil, nil
	}
	var pw [4][]byte // as pricingKeys
	if err := object(raw, at, ".pricing", pricingKeys, pw[:]); err != nil {
		return nil, err
	}
	var p Pricing
	switch kind(pw[0]) {
	case 0, 'n':
	case 't', 'f':
		b := kind(pw[0]) == 't'
		p.Billable = &b
	default:
		return nil, fail(at+".pricing.billable", "must be true or false")
	}
	model, err := token(pw[1], at, ".pricing.pricing_model", false, maxWord)
	if err != nil {
		return nil, err
	}
	typ, err := token(pw[2], at, ".pricing.type", false, maxWord)
	if err != nil {
		return nil, err
	}
	cat, err := token(pw[3], at, ".pricing.category", false, maxWord)
	if err != nil {
		return nil, err
	}
	p.Model, p.Type = PricingModel(intern(model)), PricingType(intern(typ))
	if cat != "" {
		p.Category, _ = tariff.ParseCategory(intern(cat))
	}
	return &p, nil
}

// firstError reads errors[0].code and title (its message when no title).
// The errors only explain a failure — they move no money — so what cannot
// be read is left out rather than refusing the batch.
func firstError(raw []byte) (int, string) {
	if kind(raw) != '[' {
		return 0, ""
	}
	first, ok := firstElement(raw)
	if !ok || kind(first) != '{' {
		return 0, ""
	}
	var ew [3][]byte // code, title, message
	members(first, []string{"code", "title", "message"}, ew[:])
	// Meta's codes are six digits; 32 bits are plenty and the same everywhere.
	code, err := strconv.ParseInt(string(ew[0]), 10, 32)
	if err != nil {
		code = 0
	}
	title, err := str(ew[1], "", "", false, 1<<20)
	if err != nil || title == "" {
		if title, err = str(ew[2], "", "", false, 1<<20); err != nil {
			title = ""
		}
	}
	return int(code), clean(title, maxTitle)
}

// intern returns the constant of a common enumeration value, so that a
// batch of 1,000 statuses shares a few strings rather than holding
// thousands of copies.
func intern(s string) string {
	for _, k := range [...]string{string(Sent), string(Delivered), string(Read), string(Failed),
		string(PerMessage), string(Regular), string(FreeCustomerService), string(FreeEntryPoint),
		tariff.Marketing, tariff.Utility, tariff.Authentication, tariff.Service, tariff.MarketingLite} {
		if s == k {
			return k
		}
	}
	return s
}

// clean drops control characters (NUL included: PostgreSQL refuses it)
// and cuts s to at most n bytes on a character boundary.
func clean(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// kind is the first byte of a JSON value ('{', '[', '"', 't', 'f', 'n', a
// digit or '-'), 0 when raw is empty (the field was absent).
func kind(raw []byte) byte {
	if i := skipSpace(raw, 0); i < len(raw) {
		return raw[i]
	}
	return 0
}

// object finds the members named in names of raw, which must be a JSON
// object, into dst.
func object(raw []byte, at, name string, names []string, dst [][]byte) error {
	switch kind(raw) {
	case '{':
	case 0, 'n':
		return fail(at+name, "required")
	default:
		return fail(at+name, "must be an object")
	}
	members(raw, names, dst)
	return nil
}

// array splits raw, which must be a JSON array, into its elements.
func array(raw []byte, at string) ([][]byte, error) {
	switch kind(raw) {
	case '[':
	case 0, 'n':
		return nil, fail(at, "required")
	default:
		return nil, fail(at, "must be an array")
	}
	return elements(raw), nil
}

// str decodes a JSON string of at most n bytes; "" when absent (or null)
// and not required.
func str(raw []byte, at, name string, required bool, n int) (string, error) {
	switch kind(raw) {
	case '"':
	case 0, 'n':
		if required {
			return "", fail(at+name, "required")
		}
		return "", nil
	default:
		return "", fail(at+name, "must be a string")
	}
	s, ok := plain(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fail(at+name, "malformed JSON")
		}
	}
	if len(s) > n {
		return "", fail(at+name, "longer than %d bytes", n)
	}
	return s, nil
}

// token is str for identifiers and enumerations: printable ASCII without
// spaces, so it is safe as a key, in a log line and in PostgreSQL text.
func token(raw []byte, at, name string, required bool, n int) (string, error) {
	s, err := str(raw, at, name, required, n)
	if err != nil || s == "" {
		if err == nil && required {
			return "", fail(at+name, "required")
		}
		return s, err
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "", fail(at+name, "must be printable ASCII without spaces")
		}
	}
	return s, nil
}

// maxUnix is 9999-12-31T23:59:59Z: later times have no RFC 3339 form.
const maxUnix = 253402300799

// unixTime reads Meta's timestamp: Unix seconds in a string ("1751363705"),
// or, leniently, as a JSON integer.
func unixTime(raw []byte, at, name string) (time.Time, error) {
	var s string
	switch k := kind(raw); {
	case k == '"':
		var err error
		if s, err = str(raw, at, name, true, 20); err != nil {
			return time.Time{}, err
		}
	case k >= '0' && k <= '9':
		s = string(raw)
	case k == 0 || k == 'n':
		return time.Time{}, fail(at+name, "required")
	default:
		return time.Time{}, fail(at+name, "must be Unix seconds")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > maxUnix || s[0] == '+' {
		return time.Time{}, fail(at+name, "must be Unix seconds, not %s", quote(s))
	}
	return time.Unix(n, 0).UTC(), nil
}

// depthWithin reports whether body nests objects and arrays at most limit
// deep, in one pass that skips strings: encoding/json's own limit is
// 10,000 levels, far more than a webhook needs.
func depthWithin(body []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > limit {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}

func fail(field, format string, args ...any) error {
	var ve lunas.ValidationError
	ve.Add(field, format, args...)
	return &ve
}

// quote renders a bad value for an error message: short, escaped.
func quote(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "…"
	}
	return strconv.Quote(s)
}
