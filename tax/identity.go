package tax

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
)

// IDType is the kind of document that identifies a buyer to the tax
// office.
type IDType string

const (
	// IDNPWP is a 16-digit NPWP, or a resident's NIK activated as their NPWP
	// (PMK 112/2022): Coretax takes either as a TIN.
	IDNPWP IDType = "npwp"
	// IDNIK is the 16-digit NIK of an individual not registered for tax:
	// the faktur carries the NIK as a "National ID" and a TIN of zeros.
	IDNIK IDType = "nik"
	// IDPassport is a foreign individual's passport number.
	IDPassport IDType = "passport"
)

// IDTypes is the set of valid IDType values, in the order they are listed
// to a client.
func IDTypes() []IDType { return []IDType{IDNPWP, IDNIK, IDPassport} }

// Valid reports whether t is one of IDTypes.
func (t IDType) Valid() bool {
	for _, v := range IDTypes() {
		if t == v {
			return true
		}
	}
	return false
}

// HeadOfficeTKU is the 6-digit place-of-business suffix of a head office
// (PER-6/PJ/2024): a NITKU is the 16-digit NPWP followed by it, or by
// 000001… for a branch.
const HeadOfficeTKU = "000000"

// Limits of an identity's free text.
const (
	maxTextLength  = 200 // name and address, in characters
	maxEmailLength = 254 // RFC 5321 path limit, as the order's requester e-mail
)

// Identity is a buyer's tax identity: what a tax invoice names and what
// decides whether the buyer withholds PPh 23. The JSON is API.md's `tax`
// object of an account.
type Identity struct {
	IDType IDType `json:"id_type"`
	// ID is the NPWP or NIK (16 digits) or the passport number.
	ID string `json:"id"`
	// NITKU is the buyer's place of business: 22 digits, the 16-digit ID
	// then a 6-digit TKU. Empty for a passport.
	NITKU   string `json:"nitku,omitempty"`
	Name    string `json:"name"`
	Address string `json:"address"`
	Email   string `json:"email,omitempty"`
	// WithholdsPPh23 is true for a buyer that deducts PPh 23 from what it
	// pays and sends a withholding slip (bukti potong) instead.
	WithholdsPPh23 bool `json:"withholds_pph23"`
}

// Normalize returns i as it is stored: surrounding spaces trimmed; the
// separators people type in an NPWP (". - " as in 01.234.567.8-901.000)
// removed from the ID and NITKU; an old 15-digit NPWP, and a 21-digit NITKU
// built on one, given their leading 0 (DJP's conversion to 16 digits); a
// passport number in upper case; and, for an NPWP or NIK without a NITKU,
// the head office's NITKU (ID + "000000"), which is every buyer's unless it
// buys for a branch. Normalize never makes an invalid identity valid by
// guessing: a value that is still malformed is left for Validate to name.
func (i Identity) Normalize() Identity {
	i.IDType = IDType(strings.ToLower(strings.TrimSpace(string(i.IDType))))
	i.Name = strings.TrimSpace(i.Name)
	i.Address = strings.TrimSpace(i.Address)
	i.Email = strings.TrimSpace(i.Email)
	switch i.IDType {
	case IDNPWP, IDNIK:
		i.ID = stripSeparators(i.ID)
		i.NITKU = stripSeparators(i.NITKU)
		if i.IDType == IDNPWP && len(i.ID) == 15 && allDigits(i.ID) {
			old := i.ID
			i.ID = "0" + old
			if len(i.NITKU) == 21 && strings.HasPrefix(i.NITKU, old) {
				i.NITKU = "0" + i.NITKU
			}
		}
		if i.NITKU == "" && len(i.ID) == 16 && allDigits(i.ID) {
			i.NITKU = i.ID + HeadOfficeTKU
		}
	case IDPassport:
		i.ID = strings.ToUpper(strings.TrimSpace(i.ID))
		i.NITKU = strings.TrimSpace(i.NITKU)
	default:
		i.ID = strings.TrimSpace(i.ID)
		i.NITKU = strings.TrimSpace(i.NITKU)
	}
	return i
}

// Validate reports every bad field of i at once, as a
// *lunas.ValidationError whose field names start with prefix ("tax" gives
// "tax.id", "tax.nitku"…), or nil. It judges i as Normalize would store it,
// so a 15-digit NPWP passes; the caller stores i.Normalize().
func (i Identity) Validate(prefix string) error {
	var ve lunas.ValidationError
	i.Check(&ve, prefix)
	return ve.Err()
}

// Check adds every bad field of i to ve, for a caller that validates the
// identity along with the rest of a request (an account's name, e-mail…).
func (i Identity) Check(ve *lunas.ValidationError, prefix string) {
	n := i.Normalize()
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	switch {
	case n.IDType == "":
		ve.Add(field("id_type"), "is required (%s)", idTypeList())
	case !n.IDType.Valid():
		ve.Add(field("id_type"), "unknown id type %q (%s)", n.IDType, idTypeList())
	}
	switch n.IDType {
	case IDNPWP, IDNIK:
		doc := "an NPWP"
		if n.IDType == IDNIK {
			doc = "a NIK"
		}
		idOK := false
		switch {
		case n.ID == "":
			ve.Add(field("id"), "is required")
		case n.IDType == IDNPWP && (len(n.ID) != 16 || !allDigits(n.ID)):
			ve.Add(field("id"), "must be %s of 16 digits (an old 15-digit NPWP is accepted)", doc)
		case n.IDType == IDNIK && (len(n.ID) != 16 || !allDigits(n.ID)):
			ve.Add(field("id"), "must be %s of 16 digits", doc)
		case strings.Trim(n.ID, "0") == "":
			// All zeros is the faktur's placeholder for "no NPWP", not an id.
			ve.Add(field("id"), "must not be all zeros (a buyer without an NPWP is identified by nik or passport)")
		default:
			idOK = true
		}
		switch {
		case len(n.NITKU) != 22 || !allDigits(n.NITKU):
			ve.Add(field("nitku"), "must be 22 digits: the 16-digit id then the 6-digit place of business (000000 for the head office)")
		case idOK && !strings.HasPrefix(n.NITKU, n.ID):
			ve.Add(field("nitku"), "must start with the 16-digit id %s", n.ID)
		}
	case IDPassport:
		if n.ID == "" {
			ve.Add(field("id"), "is required")
		} else if l := len(n.ID); l < 5 || l > 20 || !alnum(n.ID) {
			ve.Add(field("id"), "must be a passport number of 5 to 20 letters and digits")
		}
		if n.NITKU != "" {
			ve.Add(field("nitku"), "must be empty for a passport: a NITKU belongs to an NPWP or NIK")
		}
	}
	checkText(ve, field("name"), n.Name)
	checkText(ve, field("address"), n.Address)
	if n.Email != "" {
		if msg := emailProblem(n.Email); msg != "" {
			ve.Add(field("email"), "%s", msg)
		}
	}
	// A withholder issues the slip under its own NPWP in Coretax e-Bupot;
	// a buyer known only by NIK or passport cannot, and its order would wait
	// for a slip forever.
	if n.WithholdsPPh23 && (n.IDType == IDNIK || n.IDType == IDPassport) {
		ve.Add(field("withholds_pph23"), "only a buyer with an NPWP withholds PPh 23")
	}
}

func idTypeList() string {
	var names []string
	for _, t := range IDTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// checkText checks a required name or address: the faktur's free-text
// fields, printed and sent to Coretax as they are.
func checkText(ve *lunas.ValidationError, field, s string) {
	switch {
	case s == "":
		ve.Add(field, "is required")
	case !utf8.ValidString(s):
		ve.Add(field, "must be UTF-8 text")
	case utf8.RuneCountInString(s) > maxTextLength:
		ve.Add(field, "must be at most %d characters", maxTextLength)
	case strings.IndexFunc(s, notText) >= 0:
		ve.Add(field, "must not contain control characters (line breaks, tabs, NUL)")
	}
}

// notText is true for a rune that has no place in one line of printable
// text: control characters (C0, DEL, C1) and the non-characters XML 1.0
// does not allow.
func notText(r rune) bool {
	return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError
}

// emailProblem mirrors the order's requester e-mail rule: one bare address
// with a dotted domain.
func emailProblem(e string) string {
	if len(e) > maxEmailLength {
		return fmt.Sprintf("must be at most %d characters", maxEmailLength)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "is not a valid email address (want name@example.com)"
	}
	return ""
}

// stripSeparators removes what people type between an NPWP's groups.
func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '-', ' ', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
