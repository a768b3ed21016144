// Package tariff is the WhatsApp conversation price table of
// LUNAS_WA_PRICES: prices in whole rupiah by the recipient's country code
// (longest matching prefix) and conversation category, with an optional
// `*` row for every other country.
//
// config parses and validates the variable at start; usage asks the table
// for the price of each chargeable event.
//
// It also holds rate cards (card.go): a price list's prices per message
// (Meta's model since 2025-07-01) or per conversation from an instant on,
// with markets by calling-code prefix and monthly volume tiers. The api
// parses and validates PUT bodies with ParseCard; usage picks the card in
// force with Select, falling back to the table's Card, and asks it Price.
package tariff

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Categories of WhatsApp conversations. Business-initiated template
// messages are marketing, utility or authentication; agent replies inside
// the customer-service window are service.
const (
	Marketing      = "marketing"
	Utility        = "utility"
	Authentication = "authentication"
	Service        = "service"
)

// categories lists every category a row must price.
var categories = []string{Marketing, Utility, Authentication, Service}

// ConversationCategories returns every category a conversation card's row
// prices, in order (a fresh slice: callers may keep it).
func ConversationCategories() []string { return append([]string(nil), categories...) }

// Default is API.md's default LUNAS_WA_PRICES: Meta's Indonesian prices.
const Default = "62:marketing=600,utility=300,authentication=440,service=275"

// Any is the country code of the row that prices every other country.
const Any = "*"

// Table is a parsed price table. The zero Table prices nothing.
type Table struct {
	rows map[string]map[string]int64 // country code or "*" → category → IDR
	max  int                         // longest country code, for the prefix search
}

// Parse reads `CC:category=price,…;CC:…;*:…`. Every row must price all four
// categories with a whole, non-negative number of rupiah; country codes are
// 1–4 digits and appear once.
func Parse(s string) (Table, error) {
	t := Table{rows: map[string]map[string]int64{}}
	for i, row := range strings.Split(s, ";") {
		row = strings.TrimSpace(row)
		if row == "" {
			continue
		}
		cc, list, ok := strings.Cut(row, ":")
		cc = strings.TrimSpace(cc)
		if !ok {
			return Table{}, fmt.Errorf("row %d %q: want CC:category=price,…", i+1, row)
		}
		if cc != Any && !digits(cc, 1, 4) {
			return Table{}, fmt.Errorf("row %d: country code %q is not 1-4 digits or *", i+1, cc)
		}
		if _, dup := t.rows[cc]; dup {
			return Table{}, fmt.Errorf("row %d: country code %s appears twice", i+1, cc)
		}
		prices := map[string]int64{}
		for _, kv := range strings.Split(list, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return Table{}, fmt.Errorf("country %s: %q is not category=price", cc, kv)
			}
			k = strings.TrimSpace(k)
			if !known(k) {
				return Table{}, fmt.Errorf("country %s: unknown category %q (want %s)", cc, k, strings.Join(categories, ", "))
			}
			if _, dup := prices[k]; dup {
				return Table{}, fmt.Errorf("country %s: category %s appears twice", cc, k)
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || n > 1_000_000_000 {
				return Table{}, fmt.Errorf("country %s: price %q of %s is not a whole number of rupiah", cc, v, k)
			}
			prices[k] = n
		}
		for _, c := range categories {
			if _, ok := prices[c]; !ok {
				return Table{}, fmt.Errorf("country %s: no price for %s", cc, c)
			}
		}
		t.rows[cc] = prices
		if cc != Any {
			t.max = max(t.max, len(cc))
		}
	}
	if len(t.rows) == 0 {
		return Table{}, fmt.Errorf("no prices")
	}
	return t, nil
}

// MustParse is Parse for values known to be valid (tests, Default).
func MustParse(s string) Table {
	t, err := Parse(s)
	if err != nil {
		panic("tariff: " + err.Error())
	}
	return t
}

// Price is the price of a conversation of category with recipient (E.164,
// "+" and digits): the row of the longest country code that prefixes the
// number, else the `*` row. ok is false when no row applies.
func (t Table) Price(recipient, category string) (price int64, country string, ok bool) {
	num := strings.TrimPrefix(recipient, "+")
	for n := min(t.max, len(num)); n >= 1; n-- {
		if r, found := t.rows[num[:n]]; found {
			p, ok := r[category]
			return p, num[:n], ok
		}
	}
	if r, found := t.rows[Any]; found {
		p, ok := r[category]
		return p, Any, ok
	}
	return 0, "", false
}

// String renders the table in LUNAS_WA_PRICES form (countries sorted, `*` last).
func (t Table) String() string {
	ccs := make([]string, 0, len(t.rows))
	for cc := range t.rows {
		if cc != Any {
			ccs = append(ccs, cc)
		}
	}
	sort.Strings(ccs)
	if _, ok := t.rows[Any]; ok {
		ccs = append(ccs, Any)
	}
	rows := make([]string, len(ccs))
	for i, cc := range ccs {
		parts := make([]string, len(categories))
		for j, c := range categories {
			parts[j] = fmt.Sprintf("%s=%d", c, t.rows[cc][c])
		}
		rows[i] = cc + ":" + strings.Join(parts, ",")
	}
	return strings.Join(rows, ";")
}

func known(c string) bool {
	for _, k := range categories {
		if k == c {
			return true
		}
	}
	return false
}

func digits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
