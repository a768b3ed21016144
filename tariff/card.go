package tariff

// Rate cards: the prices of WhatsApp messages in a price list from an
// instant on (API.md "Billing by message"). A card either prices each
// message (Meta's model since 2025-07-01) or each 24-hour conversation (the
// model of LUNAS_WA_PRICES, which stays the card of every list that has no
// card in force). The api decodes and validates PUT bodies with ParseCard;
// the usage engine picks the card in force with Select and asks it Price.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
)

// Model is how a card charges.
type Model string

const (
	// ModelMessage charges every delivered message (Meta's per-message pricing).
	ModelMessage Model = "message"
	// ModelConversation charges once per recipient and category per 24 h
	// (the rules of LUNAS_WA_PRICES).
	ModelConversation Model = "conversation"
)

// Valid reports whether m is a model lunas knows.
func (m Model) Valid() bool { return m == ModelMessage || m == ModelConversation }

// Category is the category a price is for. The constants Marketing,
// Utility, Authentication, Service, MarketingLite and
// AuthenticationInternational are untyped, so they serve both the
// conversation Table (plain strings) and cards (Category).
type Category string

// Categories that only message cards price (Meta's per-message pricing
// categories, as its status webhooks report them).
const (
	// MarketingLite is a marketing message sent through Meta's Marketing
	// Messages API ("MM Lite"). A card without a marketing_lite rate prices it
	// as marketing, which is what Meta charges for it since 2025-07-01.
	MarketingLite = "marketing_lite"
	// AuthenticationInternational is an authentication message charged at
	// Meta's international authentication rate. Meta spells it with a hyphen
	// in status webhooks; ParseCategory normalises both spellings to this one.
	AuthenticationInternational = "authentication_international"
)

// ParseCategory normalises s (lower case; Meta's hyphenated
// "authentication-international" becomes authentication_international) and
// reports whether the result is a category some card model prices. The
// normalised value is returned even when unknown, so a caller can keep what
// Meta reported (e.g. "referral_conversion").
func ParseCategory(s string) (Category, bool) {
	c := Category(strings.ReplaceAll(strings.ToLower(s), "-", "_"))
	return c, c.For(ModelMessage)
}

// For reports whether cards of model m price category c: message cards
// price all six categories, conversation cards the four of LUNAS_WA_PRICES.
func (c Category) For(m Model) bool {
	switch c {
	case Marketing, Utility, Authentication, Service:
		return m.Valid()
	case MarketingLite, AuthenticationInternational:
		return m == ModelMessage
	}
	return false
}

// rank orders categories in canonical form and String output.
func (c Category) rank() int {
	switch c {
	case Marketing:
		return 0
	case MarketingLite:
		return 1
	case Utility:
		return 2
	case Authentication:
		return 3
	case AuthenticationInternational:
		return 4
	case Service:
		return 5
	}
	return 6
}

// Defaults of a card body.
const (
	DefaultPriceList       = "default"
	DefaultEntryPointHours = 72
	// EnvCardID is the ID of the conversation card made of LUNAS_WA_PRICES (Table.Card).
	EnvCardID = "LUNAS_WA_PRICES"
)

// Limits of a card, so one PUT cannot make every price lookup slow.
const (
	MaxRates           = 2000 // ~250 markets × 6 categories, with room
	MaxTiers           = 50
	MaxPrice           = 1_000_000_000 // rupiah per message, as LUNAS_WA_PRICES
	MaxEntryPointHours = 720           // 30 days: Meta's 72 h may grow (7 days is rumoured)
	maxName            = 64
)

// Card is a rate card: the prices of a price list from EffectiveFrom on,
// until a card of the same list with a later EffectiveFrom. Its JSON is the
// body of PUT /v1/wa-rate-cards/{card_id} plus "id".
type Card struct {
	ID            string    `json:"id,omitempty"`
	PriceList     string    `json:"price_list"`
	EffectiveFrom time.Time `json:"effective_from"`
	Model         Model     `json:"model"`
	Rates         []Rate    `json:"rates"`
	Free          Free      `json:"free"`
}

// Rate prices one category in one market. Market is a country calling
// code of 1–4 digits (the longest one that prefixes the recipient wins) or
// "*" for every other market. Price is the list price; Tiers, when given,
// start at From 1 with the list price and lower it from the From-th billed
// message of that category and market in the account's calendar month.
type Rate struct {
	Market   string   `json:"market"`
	Category Category `json:"category"`
	Price    int64    `json:"price"`
	Tiers    []Tier   `json:"tiers,omitempty"`
}

// Tier is the price from the From-th (1-based) billed message of a month on.
type Tier struct {
	From  int64 `json:"from"`
	Price int64 `json:"price"`
}

// Free says which messages a message card does not charge: utility
// templates while the recipient's customer-service window is open, and
// every message while an entry-point window (opened by an inbound message
// from a click-to-WhatsApp ad or Page button) is open, EntryPointHours long
// (0: no such windows). Conversation cards ignore it.
type Free struct {
	UtilityInServiceWindow bool `json:"utility_in_service_window"`
	EntryPointHours        int  `json:"entry_point_hours"`
}

// The wire form of a PUT body: pointers tell an absent field (defaulted or
// required) from a zero one.
type cardBody struct {
	ID            *string           `json:"id"` // tolerated, so a GET result can be put back
	PriceList     *string           `json:"price_list"`
	EffectiveFrom *string           `json:"effective_from"`
	Model         *string           `json:"model"`
	Rates         []json.RawMessage `json:"rates"`
	Free          *freeBody         `json:"free"`
}

type rateBody struct {
	Market   *string    `json:"market"`
	Category *string    `json:"category"`
	Price    *int64     `json:"price"`
	Tiers    []tierBody `json:"tiers"`
}

type tierBody struct {
	From  *int64 `json:"from"`
	Price *int64 `json:"price"`
}

type freeBody struct {
	UtilityInServiceWindow *bool `json:"utility_in_service_window"`
	EntryPointHours        *int  `json:"entry_point_hours"`
}

// ParseCard decodes the body of PUT /v1/wa-rate-cards/{id}, applies the
// defaults (price_list "default" when absent or empty; free.entry_point_hours 72;
// free.utility_in_service_window true on message cards; a rate's price is
// its first tier's when only tiers are given), normalises categories and
// validates the card. Every bad field is reported at once in a
// *lunas.ValidationError; unknown fields are refused.
func ParseCard(id string, body []byte) (Card, error) {
	var ve lunas.ValidationError
	var b cardBody
	if err := strictDecode(body, &b); err != nil {
		ve.Add(jsonField("", err), "%s", jsonMessage(err))
		return Card{}, ve.Err()
	}
	c := Card{ID: id, PriceList: DefaultPriceList, Free: Free{EntryPointHours: DefaultEntryPointHours}}
	if b.ID != nil && *b.ID != id {
		ve.Add("id", "does not match the card id of the path")
	}
	if b.PriceList != nil && *b.PriceList != "" {
		c.PriceList = *b.PriceList
	}
	if b.EffectiveFrom != nil {
		t, err := time.Parse(time.RFC3339, *b.EffectiveFrom)
		if err != nil {
			ve.Add("effective_from", "must be an RFC 3339 time with offset")
		} else {
			// PostgreSQL keeps microseconds: a stored card must equal the one put.
			c.EffectiveFrom = t.UTC().Truncate(time.Microsecond)
		}
	}
	if b.Model != nil {
		c.Model = Model(strings.ToLower(*b.Model))
	}
	c.Free.UtilityInServiceWindow = c.Model == ModelMessage
	if b.Free != nil {
		if b.Free.UtilityInServiceWindow != nil {
			c.Free.UtilityInServiceWindow = *b.Free.UtilityInServiceWindow
		}
		if b.Free.EntryPointHours != nil {
			c.Free.EntryPointHours = *b.Free.EntryPointHours
		}
	}
	if len(b.Rates) > MaxRates {
		ve.Add("rates", "at most %d rates", MaxRates)
		return Card{}, ve.Err()
	}
	if b.Rates != nil {
		c.Rates = make([]Rate, 0, len(b.Rates))
	}
	decodeFailed := false
	for i, raw := range b.Rates {
		at := fmt.Sprintf("rates[%d]", i)
		var rb rateBody
		if err := strictDecode(raw, &rb); err != nil {
			ve.Add(jsonField(at, err), "%s", jsonMessage(err))
			decodeFailed = true
			continue
		}
		var r Rate
		if rb.Market != nil {
			r.Market = *rb.Market
		}
		if rb.Category != nil {
			r.Category, _ = ParseCategory(*rb.Category)
		}
		for k, tb := range rb.Tiers {
			if tb.From == nil {
				ve.Add(fmt.Sprintf("%s.tiers[%d].from", at, k), "required")
			}
			if tb.Price == nil {
				ve.Add(fmt.Sprintf("%s.tiers[%d].price", at, k), "required")
			}
			var t Tier
			if tb.From != nil {
				t.From = *tb.From
			}
			if tb.Price != nil {
				t.Price = *tb.Price
			}
			r.Tiers = append(r.Tiers, t)
		}
		switch {
		case rb.Price != nil:
			r.Price = *rb.Price
		case len(rb.Tiers) > 0 && rb.Tiers[0].Price != nil:
			r.Price = *rb.Tiers[0].Price
		default:
			ve.Add(at+".price", "required")
		}
		c.Rates = append(c.Rates, r)
	}
	if decodeFailed {
		// The rates that did decode are now out of step with their
		// indexes; report the decoding errors alone.
		return Card{}, ve.Err()
	}
	if err := c.Validate(); err != nil {
		var more *lunas.ValidationError
		if errors.As(err, &more) {
			// A field already reported (a malformed time, a missing price)
			// would also be reported as zero: keep the first message.
			for _, f := range more.Fields {
				if !slices.ContainsFunc(ve.Fields, func(g lunas.FieldError) bool { return g.Field == f.Field }) {
					ve.Fields = append(ve.Fields, f)
				}
			}
		}
	}
	if err := ve.Err(); err != nil {
		return Card{}, err
	}
	return c, nil
}

// strictDecode decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// jsonField names the field a decoding error is about, under prefix.
func jsonField(prefix string, err error) string {
	join := func(f string) string {
		if prefix == "" {
			return f
		}
		return prefix + "." + f
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return join(te.Field)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return join(strings.Trim(f, `"`))
	}
	if prefix == "" {
		return "body"
	}
	return prefix
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "must be a JSON " + jsonType(te.Type.Kind().String())
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "unknown field"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "malformed JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64":
		return "whole number"
	case "slice":
		return "array"
	case "struct":
		return "object"
	case "ptr":
		return "value of the right type"
	}
	return kind
}

// Validate reports every bad field of c at once (a *lunas.ValidationError),
// with paths as in the PUT body (`rates[2].tiers[0].from`); nil when c is
// a valid card. It does not apply defaults: ParseCard does.
func (c Card) Validate() error {
	var ve lunas.ValidationError
	if !name(c.ID) {
		ve.Add("card_id", "must be 1–%d letters, digits, '.', '_' or '-'", maxName)
	}
	if !name(c.PriceList) {
		ve.Add("price_list", "must be 1–%d letters, digits, '.', '_' or '-'", maxName)
	}
	switch y := c.EffectiveFrom.UTC().Year(); {
	case c.EffectiveFrom.IsZero():
		ve.Add("effective_from", "required")
	case y < 2000 || y > 9999:
		// Outside these years a time has no RFC 3339 form to show it in.
		ve.Add("effective_from", "must be in the years 2000 to 9999")
	}
	switch {
	case c.Model == "":
		ve.Add("model", "required")
	case !c.Model.Valid():
		ve.Add("model", "must be %q or %q", ModelMessage, ModelConversation)
	}
	switch {
	case len(c.Rates) == 0:
		ve.Add("rates", "at least one rate")
	case len(c.Rates) > MaxRates:
		ve.Add("rates", "at most %d rates", MaxRates)
	}
	rates := c.Rates
	if len(rates) > MaxRates {
		rates = nil // one error for the lot, not thousands
	}
	seen := make(map[[2]string]int, len(rates))
	for i, r := range rates {
		at := fmt.Sprintf("rates[%d]", i)
		marketOK := true
		switch {
		case r.Market == "":
			ve.Add(at+".market", "required")
			marketOK = false
		case r.Market != Any && !digits(r.Market, 1, 4):
			ve.Add(at+".market", "must be a country calling code of 1–4 digits or *")
			marketOK = false
		}
		categoryOK := true
		switch {
		case r.Category == "":
			ve.Add(at+".category", "required")
			categoryOK = false
		case !r.Category.For(ModelMessage):
			ve.Add(at+".category", "unknown category %q (want %s)", r.Category, categoryList(ModelMessage))
			categoryOK = false
		case c.Model == ModelConversation && !r.Category.For(ModelConversation):
			ve.Add(at+".category", "conversation cards price %s only", categoryList(ModelConversation))
		}
		if marketOK && categoryOK {
			k := [2]string{r.Market, string(r.Category)}
			if j, dup := seen[k]; dup {
				ve.Add(at, "market %s and category %s are priced already by rates[%d]", r.Market, r.Category, j)
			} else {
				seen[k] = i
			}
		}
		if r.Price < 0 || r.Price > MaxPrice {
			ve.Add(at+".price", "must be a whole number of rupiah from 0 to %d", int64(MaxPrice))
		}
		if len(r.Tiers) == 0 {
			continue
		}
		if c.Model == ModelConversation {
			ve.Add(at+".tiers", "only message cards have volume tiers")
			continue
		}
		if len(r.Tiers) > MaxTiers {
			ve.Add(at+".tiers", "at most %d tiers", MaxTiers)
			continue
		}
		for k, t := range r.Tiers {
			tat := fmt.Sprintf("%s.tiers[%d]", at, k)
			switch {
			case k == 0 && t.From != 1:
				ve.Add(tat+".from", "the first tier starts at message 1")
			case k > 0 && t.From <= r.Tiers[k-1].From:
				ve.Add(tat+".from", "must be greater than tiers[%d].from (%d)", k-1, r.Tiers[k-1].From)
			}
			if t.Price < 0 || t.Price > MaxPrice {
				ve.Add(tat+".price", "must be a whole number of rupiah from 0 to %d", int64(MaxPrice))
			}
		}
		if r.Tiers[0].Price != r.Price {
			// Two list prices would leave the first tier ambiguous.
			ve.Add(at+".price", "must equal tiers[0].price (%d): the first tier is the list price", r.Tiers[0].Price)
		}
	}
	if c.Free.EntryPointHours < 0 || c.Free.EntryPointHours > MaxEntryPointHours {
		ve.Add("free.entry_point_hours", "must be from 0 to %d", MaxEntryPointHours)
	}
	return ve.Err()
}

func categoryList(m Model) string {
	all := []Category{Marketing, MarketingLite, Utility, Authentication, AuthenticationInternational, Service}
	var s []string
	for _, c := range all {
		if c.For(m) {
			s = append(s, string(c))
		}
	}
	return strings.Join(s, ", ")
}

// name reports whether s is a usable card id or price list name: it goes
// into URLs and logs.
func name(s string) bool {
	if len(s) < 1 || len(s) > maxName {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// Price is the price of the n-th (1-based) billed message of category in
// the account's calendar month to recipient (E.164 "+62…", or Meta's
// recipient_id without "+"), and the market that priced it: the rate of
// category whose market is the longest calling code prefixing the number,
// else its "*" rate. The tier in force is the last one whose From ≤ n; n < 1
// is taken as 1. A marketing_lite message with no marketing_lite rate is
// priced as marketing. Conversation cards have no tiers: n does not matter.
// ok is false when no rate applies or recipient is not a number; the
// caller counts tiers per (category, market) as returned here.
func (c Card) Price(category Category, recipient string, n int64) (price int64, market string, ok bool) {
	num := strings.TrimPrefix(recipient, "+")
	if !digits(num, 1, 15) {
		return 0, "", false
	}
	r, found := c.rate(category, num)
	if !found && category == MarketingLite {
		r, found = c.rate(Marketing, num)
	}
	if !found {
		return 0, "", false
	}
	return r.at(n), r.Market, true
}

// rate finds the rate of category for num by longest prefix, then "*".
func (c Card) rate(category Category, num string) (Rate, bool) {
	best, star := -1, -1
	for i, r := range c.Rates {
		if r.Category != category {
			continue
		}
		switch {
		case r.Market == Any:
			star = i
		case strings.HasPrefix(num, r.Market) && (best < 0 || len(r.Market) > len(c.Rates[best].Market)):
			best = i
		}
	}
	switch {
	case best >= 0:
		return c.Rates[best], true
	case star >= 0:
		return c.Rates[star], true
	}
	return Rate{}, false
}

// at is the rate's price for the n-th billed message of the month.
func (r Rate) at(n int64) int64 {
	n = max(n, 1)
	p := r.Price
	for _, t := range r.Tiers {
		if t.From > n {
			break
		}
		p = t.Price
	}
	return p
}

// Select returns the card in force at at: the one with the latest
// EffectiveFrom ≤ at (a card is in force from its exact instant). cards
// are one price list's; two of them with the same EffectiveFrom should be
// refused when put — if they exist, the smaller ID wins, so the choice is
// at least stable. ok is false when none is in force yet: the caller then
// uses the LUNAS_WA_PRICES card (Table.Card).
func Select(cards []Card, at time.Time) (Card, bool) {
	best := -1
	for i, c := range cards {
		if c.EffectiveFrom.After(at) {
			continue
		}
		if best < 0 || c.EffectiveFrom.After(cards[best].EffectiveFrom) ||
			(c.EffectiveFrom.Equal(cards[best].EffectiveFrom) && c.ID < cards[best].ID) {
			best = i
		}
	}
	if best < 0 {
		return Card{}, false
	}
	return cards[best], true
}

// Card is the conversation card equivalent of the table, for the price
// lists that have no card in force: ID EnvCardID, no price list (it serves
// every list), in force since the beginning of time, every row's four
// categories as rates in the row's market. Its Price(category, rcpt, n)
// equals t.Price(rcpt, category).
func (t Table) Card() Card {
	c := Card{ID: EnvCardID, Model: ModelConversation, Free: Free{EntryPointHours: DefaultEntryPointHours}}
	markets := make([]string, 0, len(t.rows))
	for cc := range t.rows {
		markets = append(markets, cc)
	}
	slices.SortFunc(markets, compareMarkets)
	for _, cc := range markets {
		for _, cat := range categories {
			c.Rates = append(c.Rates, Rate{Market: cc, Category: Category(cat), Price: t.rows[cc][cat]})
		}
	}
	return c
}

// compareMarkets orders markets as strings with "*" last.
func compareMarkets(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == Any:
		return 1
	case b == Any:
		return -1
	}
	return strings.Compare(a, b)
}

// Canonical is the card's body in one canonical JSON form: defaults
// spelled out, effective_from in UTC, rates ordered by market ("*" last)
// and category, no id. Two bodies that mean the same card have the same
// canonical form, so a caller can tell "the same body put again" (200)
// from a change (refused with 409 once the card has priced an event), and
// can store or hash it.
func (c Card) Canonical() []byte {
	type canonical struct {
		PriceList     string `json:"price_list"`
		EffectiveFrom string `json:"effective_from"`
		Model         Model  `json:"model"`
		Rates         []Rate `json:"rates"`
		Free          Free   `json:"free"`
	}
	k := canonical{
		PriceList: c.PriceList,
		// Formatted here, not by time.Time's MarshalJSON, which fails on
		// years past 9999: Canonical works on any card, valid or not.
		EffectiveFrom: c.EffectiveFrom.UTC().Format(time.RFC3339Nano),
		Model:         c.Model,
		Rates:         slices.Clone(c.Rates),
		Free:          c.Free,
	}
	for i := range k.Rates {
		if len(k.Rates[i].Tiers) == 0 {
			k.Rates[i].Tiers = nil
		}
	}
	slices.SortStableFunc(k.Rates, func(a, b Rate) int {
		if m := compareMarkets(a.Market, b.Market); m != 0 {
			return m
		}
		if d := a.Category.rank() - b.Category.rank(); d != 0 {
			return d
		}
		return strings.Compare(string(a.Category), string(b.Category))
	})
	out, err := json.Marshal(k)
	if err != nil {
		// Strings, integers and booleans only: Marshal cannot fail.
		panic("tariff: canonical card: " + err.Error())
	}
	return out
}

// SameBody reports whether c and o are the same card body (the ID is not
// compared): see Canonical.
func (c Card) SameBody(o Card) bool { return bytes.Equal(c.Canonical(), o.Canonical()) }
