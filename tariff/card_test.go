package tariff

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
)

// apiExample is API.md's PUT /v1/wa-rate-cards/{card_id} example body.
const apiExample = `{"price_list": "standard", "effective_from": "2025-07-01T00:00:00+07:00", "model": "message",
 "rates": [{"market": "62", "category": "marketing", "price": 586},
           {"market": "62", "category": "utility", "price": 356, "tiers": [{"from": 1, "price": 356}, {"from": 100001, "price": 320}]},
           {"market": "62", "category": "authentication", "price": 356},
           {"market": "62", "category": "authentication_international", "price": 2270},
           {"market": "62", "category": "service", "price": 0},
           {"market": "*",  "category": "marketing", "price": 1100}],
 "free": {"utility_in_service_window": true, "entry_point_hours": 72}}`

func mustCard(t *testing.T, id, body string) Card {
	t.Helper()
	c, err := ParseCard(id, []byte(body))
	if err != nil {
		t.Fatalf("ParseCard(%s): %v", id, err)
	}
	return c
}

func TestParseCardAPIExample(t *testing.T) {
	t.Parallel()
	c := mustCard(t, "std-2025q3", apiExample)
	if c.ID != "std-2025q3" || c.PriceList != "standard" || c.Model != ModelMessage {
		t.Errorf("card = %+v", c)
	}
	if want := time.Date(2025, 6, 30, 17, 0, 0, 0, time.UTC); !c.EffectiveFrom.Equal(want) || c.EffectiveFrom.Location() != time.UTC {
		t.Errorf("effective_from = %v; want %v in UTC", c.EffectiveFrom, want)
	}
	if len(c.Rates) != 6 || c.Rates[1].Category != Utility || len(c.Rates[1].Tiers) != 2 || c.Rates[3].Category != AuthenticationInternational {
		t.Errorf("rates = %+v", c.Rates)
	}
	if c.Free != (Free{UtilityInServiceWindow: true, EntryPointHours: 72}) {
		t.Errorf("free = %+v", c.Free)
	}
}

func TestParseCardDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       Card
	}{
		{"message card", `{"effective_from":"2025-07-01T00:00:00Z","model":"message","rates":[{"market":"62","category":"marketing","price":586}]}`,
			Card{ID: "c", PriceList: "default", EffectiveFrom: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), Model: ModelMessage,
				Rates: []Rate{{"62", Marketing, 586, nil}}, Free: Free{true, 72}}},
		{"conversation card: no free utility", `{"price_list":"","effective_from":"2025-07-01T00:00:00Z","model":"conversation","rates":[{"market":"62","category":"service","price":275}]}`,
			Card{ID: "c", PriceList: "default", EffectiveFrom: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), Model: ModelConversation,
				Rates: []Rate{{"62", Service, 275, nil}}, Free: Free{false, 72}}},
		{"explicit free, hyphenated category, price from the first tier", `{"effective_from":"2025-07-01T00:00:00.1234567+07:00","model":"message",
			"rates":[{"market":"1","category":"Authentication-International","tiers":[{"from":1,"price":2000},{"from":5,"price":1900}]}],
			"free":{"utility_in_service_window":false,"entry_point_hours":0}}`,
			Card{ID: "c", PriceList: "default", EffectiveFrom: time.Date(2025, 6, 30, 17, 0, 0, 123456000, time.UTC), Model: ModelMessage,
				Rates: []Rate{{"1", AuthenticationInternational, 2000, []Tier{{1, 2000}, {5, 1900}}}}, Free: Free{false, 0}}},
		{"id in the body equal to the path's", `{"id":"c","effective_from":"2025-07-01T00:00:00Z","model":"message","rates":[{"market":"*","category":"marketing_lite","price":1}]}`,
			Card{ID: "c", PriceList: "default", EffectiveFrom: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), Model: ModelMessage,
				Rates: []Rate{{"*", MarketingLite, 1, nil}}, Free: Free{true, 72}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustCard(t, "c", tc.body)
			if !got.SameBody(tc.want) || got.ID != tc.want.ID || !got.EffectiveFrom.Equal(tc.want.EffectiveFrom) {
				t.Errorf("got  %s\nwant %s", got.Canonical(), tc.want.Canonical())
			}
		})
	}
}

// fields returns the field paths of a validation error, in order.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *lunas.ValidationError", err, err)
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestParseCardRefuses(t *testing.T) {
	t.Parallel()
	const ok = `"effective_from":"2025-07-01T00:00:00Z","model":"message"`
	for _, tc := range []struct {
		name, body string
		want       []string // every field reported, in order
	}{
		{"not JSON", `{`, []string{"body"}},
		{"not an object", `[]`, []string{"body"}},
		{"trailing data", `{` + ok + `,"rates":[{"market":"62","category":"marketing","price":1}]} {}`, []string{"body"}},
		{"unknown top-level field", `{` + ok + `,"rates":[],"colour":"red"}`, []string{"colour"}},
		{"unknown rate field", `{` + ok + `,"rates":[{"market":"62","category":"marketing","price":1},{"market":"62","category":"utility","price":1,"currency":"IDR"}]}`, []string{"rates[1].currency"}},
		{"price not whole", `{` + ok + `,"rates":[{"market":"62","category":"marketing","price":1.5}]}`, []string{"rates[0].price"}},
		{"model not a string", `{"effective_from":"2025-07-01T00:00:00Z","model":1,"rates":[]}`, []string{"model"}},
		{"tier from as a string", `{` + ok + `,"rates":[{"market":"62","category":"utility","price":1,"tiers":[{"from":"1","price":1}]}]}`, []string{"rates[0].tiers.from"}},
		{"everything missing", `{}`, []string{"effective_from", "model", "rates"}},
		{"malformed time is reported once", `{"effective_from":"2025-07-01 00:00","model":"message","rates":[{"market":"62","category":"marketing","price":1}]}`, []string{"effective_from"}},
		{"time without offset", `{"effective_from":"2025-07-01T00:00:00","model":"message","rates":[{"market":"62","category":"marketing","price":1}]}`, []string{"effective_from"}},
		{"id differs from the path", `{"id":"other",` + ok + `,"rates":[{"market":"62","category":"marketing","price":1}]}`, []string{"id"}},
		{"too many rates: one error", `{` + ok + `,"rates":[` + strings.TrimSuffix(strings.Repeat(`{"market":"x"},`, MaxRates+1), ",") + `]}`, []string{"rates"}},
		{"missing price, tier fields", `{` + ok + `,"rates":[{"market":"62","category":"marketing"},{"market":"62","category":"utility","tiers":[{"from":1},{"price":3}]}]}`,
			[]string{"rates[0].price", "rates[1].tiers[0].price", "rates[1].tiers[1].from", "rates[1].price"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCard("c", []byte(tc.body))
			if got := fields(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields = %q; want %q (%v)", got, tc.want, err)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	t.Parallel()
	valid := func() Card {
		return Card{ID: "c1", PriceList: "default", EffectiveFrom: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), Model: ModelMessage,
			Rates: []Rate{{Market: "62", Category: Utility, Price: 356, Tiers: []Tier{{1, 356}, {100001, 320}}}},
			Free:  Free{true, 72}}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid card refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Card)
		want   []string
	}{
		{"card id empty", func(c *Card) { c.ID = "" }, []string{"card_id"}},
		{"card id with a slash", func(c *Card) { c.ID = "a/b" }, []string{"card_id"}},
		{"card id too long", func(c *Card) { c.ID = strings.Repeat("a", 65) }, []string{"card_id"}},
		{"price list empty", func(c *Card) { c.PriceList = "" }, []string{"price_list"}},
		{"price list with a space", func(c *Card) { c.PriceList = "gold plan" }, []string{"price_list"}},
		{"effective_from missing", func(c *Card) { c.EffectiveFrom = time.Time{} }, []string{"effective_from"}},
		{"effective_from past 9999", func(c *Card) { c.EffectiveFrom = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, []string{"effective_from"}},
		{"model missing", func(c *Card) { c.Model = "" }, []string{"model"}},
		{"model unknown", func(c *Card) { c.Model = "session" }, []string{"model"}},
		{"no rates", func(c *Card) { c.Rates = nil }, []string{"rates"}},
		{"too many rates", func(c *Card) {
			c.Rates = nil
			for i := range MaxRates + 1 {
				c.Rates = append(c.Rates, Rate{Market: "*", Category: Marketing, Price: int64(i)})
			}
		}, []string{"rates"}},
		{"market missing", func(c *Card) { c.Rates[0].Market = "" }, []string{"rates[0].market"}},
		{"market of 5 digits", func(c *Card) { c.Rates[0].Market = "62812" }, []string{"rates[0].market"}},
		{"market with a plus", func(c *Card) { c.Rates[0].Market = "+62" }, []string{"rates[0].market"}},
		{"market ID", func(c *Card) { c.Rates[0].Market = "ID" }, []string{"rates[0].market"}},
		{"category missing", func(c *Card) { c.Rates[0].Category = "" }, []string{"rates[0].category"}},
		{"category unknown", func(c *Card) { c.Rates[0].Category = "referral_conversion" }, []string{"rates[0].category"}},
		{"message-only category on a conversation card", func(c *Card) {
			c.Model = ModelConversation
			c.Rates = []Rate{{Market: "62", Category: MarketingLite, Price: 1}}
		}, []string{"rates[0].category"}},
		{"tiers on a conversation card", func(c *Card) { c.Model = ModelConversation }, []string{"rates[0].tiers"}},
		{"negative price", func(c *Card) { c.Rates = []Rate{{Market: "62", Category: Marketing, Price: -1}} }, []string{"rates[0].price"}},
		{"price too large", func(c *Card) { c.Rates = []Rate{{Market: "62", Category: Marketing, Price: MaxPrice + 1}} }, []string{"rates[0].price"}},
		{"duplicate market and category", func(c *Card) {
			c.Rates = append(c.Rates, Rate{Market: "1", Category: Utility, Price: 1}, Rate{Market: "62", Category: Utility, Price: 2})
		}, []string{"rates[2]"}},
		{"first tier not from 1", func(c *Card) { c.Rates[0].Tiers[0].From = 0 }, []string{"rates[0].tiers[0].from"}},
		{"tiers not increasing", func(c *Card) { c.Rates[0].Tiers[1].From = 1 }, []string{"rates[0].tiers[1].from"}},
		{"tiers decreasing", func(c *Card) { c.Rates[0].Tiers = append(c.Rates[0].Tiers, Tier{50, 300}) }, []string{"rates[0].tiers[2].from"}},
		{"negative tier price", func(c *Card) { c.Rates[0].Tiers[1].Price = -5 }, []string{"rates[0].tiers[1].price"}},
		{"list price differs from the first tier", func(c *Card) { c.Rates[0].Price = 400 }, []string{"rates[0].price"}},
		{"too many tiers", func(c *Card) {
			c.Rates[0].Tiers = nil
			for i := range MaxTiers + 1 {
				c.Rates[0].Tiers = append(c.Rates[0].Tiers, Tier{int64(i + 1), 356})
			}
		}, []string{"rates[0].tiers"}},
		{"negative entry point hours", func(c *Card) { c.Free.EntryPointHours = -1 }, []string{"free.entry_point_hours"}},
		{"entry point hours too long", func(c *Card) { c.Free.EntryPointHours = MaxEntryPointHours + 1 }, []string{"free.entry_point_hours"}},
		{"all at once", func(c *Card) {
			c.ID, c.PriceList, c.EffectiveFrom, c.Model = "", "", time.Time{}, "x"
			c.Rates = append(c.Rates, Rate{Market: "abc", Category: "nope", Price: -1, Tiers: []Tier{{2, -1}, {2, 1}}})
			c.Free.EntryPointHours = -3
		}, []string{"card_id", "price_list", "effective_from", "model", "rates[1].market", "rates[1].category", "rates[1].price",
			"rates[1].tiers[0].from", "rates[1].tiers[0].price", "rates[1].tiers[1].from", "free.entry_point_hours"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if got := fields(t, c.Validate()); !slices.Equal(got, tc.want) {
				t.Errorf("fields = %q; want %q (%v)", got, tc.want, c.Validate())
			}
		})
	}
}

func TestPriceLongestPrefixAndStar(t *testing.T) {
	t.Parallel()
	c := Card{ID: "c", PriceList: "default", EffectiveFrom: time.Now(), Model: ModelMessage, Rates: []Rate{
		{Market: "*", Category: Marketing, Price: 1100},
		{Market: "62", Category: Marketing, Price: 586},
		{Market: "628", Category: Marketing, Price: 500}, // a prefix inside a market, to test the longest match
		{Market: "1", Category: Marketing, Price: 300},
		{Market: "1876", Category: Marketing, Price: 900},
		{Market: "62", Category: Utility, Price: 356},
		{Market: "*", Category: AuthenticationInternational, Price: 2270},
		{Market: "62", Category: MarketingLite, Price: 450},
	}}
	for _, tc := range []struct {
		cat      Category
		rcpt     string
		price    int64
		market   string
		ok       bool
		whyNotOK string
	}{
		{Marketing, "+6281234567890", 500, "628", true, ""},
		{Marketing, "+6221555000", 586, "62", true, ""},
		{Marketing, "6221555000", 586, "62", true, ""}, // Meta's recipient_id has no "+"
		{Marketing, "+12025550123", 300, "1", true, ""},
		{Marketing, "+18765550123", 900, "1876", true, ""},
		{Marketing, "+447911123456", 1100, "*", true, ""},
		{Utility, "+6281234567890", 356, "62", true, ""},
		{Utility, "+447911123456", 0, "", false, "no utility rate for 44 and no * utility rate"},
		{AuthenticationInternational, "+6281234567890", 2270, "*", true, ""},
		{MarketingLite, "+6281234567890", 450, "62", true, ""},
		{MarketingLite, "+447911123456", 1100, "*", true, ""}, // no marketing_lite rate: priced as marketing
		{Service, "+6281234567890", 0, "", false, "no service rate"},
		{Marketing, "+62abc", 0, "", false, "not a number"},
		{Marketing, "", 0, "", false, "empty"},
		{Marketing, "+1234567890123456", 0, "", false, "16 digits"},
	} {
		p, m, ok := c.Price(tc.cat, tc.rcpt, 1)
		if p != tc.price || m != tc.market || ok != tc.ok {
			t.Errorf("Price(%s, %q) = %d %q %v; want %d %q %v %s", tc.cat, tc.rcpt, p, m, ok, tc.price, tc.market, tc.ok, tc.whyNotOK)
		}
	}
}

func TestPriceTiersAtBoundaries(t *testing.T) {
	t.Parallel()
	c := mustCard(t, "c", apiExample)
	c.Rates = append(c.Rates, Rate{Market: "62", Category: "authentication_international", Price: 0}) // ignored: duplicate not validated here
	for _, tc := range []struct {
		cat   Category
		n     int64
		price int64
	}{
		{Utility, 1, 356},
		{Utility, 2, 356},
		{Utility, 100000, 356},
		{Utility, 100001, 320},
		{Utility, 100002, 320},
		{Utility, 1 << 40, 320},
		{Utility, 0, 356},  // n < 1 is the first message
		{Utility, -7, 356}, // likewise
		{Marketing, 100001, 586},
	} {
		p, m, ok := c.Price(tc.cat, "+6281234567890", tc.n)
		if !ok || m != "62" || p != tc.price {
			t.Errorf("Price(%s, n=%d) = %d %q %v; want %d 62", tc.cat, tc.n, p, m, ok, tc.price)
		}
	}
	three := Rate{Price: 10, Tiers: []Tier{{1, 10}, {3, 8}, {5, 5}}}
	for n, want := range map[int64]int64{1: 10, 2: 10, 3: 8, 4: 8, 5: 5, 6: 5} {
		if got := three.at(n); got != want {
			t.Errorf("three tiers at %d = %d; want %d", n, got, want)
		}
	}
}

func TestSelectAtExactInstants(t *testing.T) {
	t.Parallel()
	jkt := time.FixedZone("WIB", 7*3600)
	july := time.Date(2025, 7, 1, 0, 0, 0, 0, jkt)
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, jkt)
	cards := []Card{
		{ID: "q4", EffectiveFrom: oct.UTC()}, // out of order on purpose
		{ID: "q3", EffectiveFrom: july.UTC()},
		{ID: "q4b", EffectiveFrom: oct}, // same instant as q4: the smaller id wins
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
		ok   bool
	}{
		{"a nanosecond before the first card", july.Add(-time.Nanosecond), "", false},
		{"the first card's exact instant", july, "q3", true},
		{"the same instant in UTC", july.UTC(), "q3", true},
		{"between the cards", oct.Add(-time.Second), "q3", true},
		{"the second card's exact instant", oct, "q4", true},
		{"long after", oct.AddDate(5, 0, 0), "q4", true},
	} {
		got, ok := Select(cards, tc.at)
		if ok != tc.ok || got.ID != tc.want {
			t.Errorf("%s: Select = %q %v; want %q %v", tc.name, got.ID, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Select(nil, oct); ok {
		t.Error("Select(nil) found a card")
	}
}

func TestTableCardIsTheConversationFallback(t *testing.T) {
	t.Parallel()
	tb := MustParse(Default + ";1:marketing=300,utility=50,authentication=100,service=0;1876:marketing=900,utility=1,authentication=2,service=3;*:marketing=1000,utility=500,authentication=700,service=400")
	c := tb.Card()
	if c.ID != EnvCardID || c.Model != ModelConversation || len(c.Rates) != 16 || c.Rates[len(c.Rates)-1].Market != Any {
		t.Fatalf("card = %+v", c)
	}
	// It is a valid conversation card once given what only a stored card has.
	v := c
	v.PriceList, v.EffectiveFrom = DefaultPriceList, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := v.Validate(); err != nil {
		t.Errorf("the table's card is not valid: %v", err)
	}
	for _, rcpt := range []string{"+6281234567890", "+12025550123", "+18765550123", "+447911123456"} {
		for _, cat := range categories {
			wp, wc, wok := tb.Price(rcpt, cat)
			gp, gc, gok := c.Price(Category(cat), rcpt, 12345)
			if wp != gp || wc != gc || wok != gok {
				t.Errorf("%s %s: card %d %s %v; table %d %s %v", rcpt, cat, gp, gc, gok, wp, wc, wok)
			}
		}
	}
	// Without a * row the card prices no other country, as the table.
	if _, _, ok := MustParse(Default).Card().Price(Marketing, "+447911123456", 1); ok {
		t.Error("a country without a row is priced")
	}
	// The fallback is found the way the caller will use it.
	if _, ok := Select(nil, time.Now()); ok {
		t.Error("no card should be in force")
	}
}

func TestCanonicalAndSameBody(t *testing.T) {
	t.Parallel()
	a := mustCard(t, "a", apiExample)
	// The same card written differently: other offset, other rate order,
	// defaults spelled out, Meta's hyphen, upper-case model.
	b := mustCard(t, "b", `{"effective_from":"2025-06-30T17:00:00Z","model":"MESSAGE","price_list":"standard",
	 "rates":[{"market":"*","category":"marketing","price":1100},
	          {"market":"62","category":"service","price":0},
	          {"market":"62","category":"authentication-international","price":2270},
	          {"market":"62","category":"authentication","price":356},
	          {"market":"62","category":"utility","tiers":[{"from":1,"price":356},{"from":100001,"price":320}]},
	          {"market":"62","category":"marketing","price":586}]}`)
	if !a.SameBody(b) {
		t.Errorf("same card, different canonical forms:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	if !strings.Contains(string(a.Canonical()), `"effective_from":"2025-06-30T17:00:00Z"`) || strings.Contains(string(a.Canonical()), `"id"`) {
		t.Errorf("canonical = %s", a.Canonical())
	}
	for _, change := range []func(*Card){
		func(c *Card) { c.PriceList = "gold" },
		func(c *Card) { c.EffectiveFrom = c.EffectiveFrom.Add(time.Second) },
		func(c *Card) { c.Model = ModelConversation },
		func(c *Card) { c.Rates[0].Price++ },
		func(c *Card) { c.Rates[1].Tiers[1].From++ },
		func(c *Card) { c.Rates = c.Rates[1:] },
		func(c *Card) { c.Free.UtilityInServiceWindow = false },
		func(c *Card) { c.Free.EntryPointHours = 168 },
	} {
		c := mustCard(t, "a", apiExample)
		change(&c)
		if c.SameBody(a) {
			t.Errorf("a changed card has the same body: %s", c.Canonical())
		}
	}
	// Canonical never fails, even on an invalid card.
	_ = Card{EffectiveFrom: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}.Canonical()
}

func TestParseCategory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		want  Category
		known bool
	}{
		{"marketing", Marketing, true},
		{"marketing_lite", MarketingLite, true},
		{"utility", Utility, true},
		{"authentication", Authentication, true},
		{"authentication-international", AuthenticationInternational, true},
		{"authentication_international", AuthenticationInternational, true},
		{"SERVICE", Service, true},
		{"referral_conversion", "referral_conversion", false},
		{"group_marketing", "group_marketing", false},
		{"", "", false},
	} {
		got, known := ParseCategory(tc.in)
		if got != tc.want || known != tc.known {
			t.Errorf("ParseCategory(%q) = %q %v; want %q %v", tc.in, got, known, tc.want, tc.known)
		}
	}
}

// BenchmarkPriceLargeCard prices a message on a card of 250 markets × 6
// categories, larger than Meta's own rate card.
func BenchmarkPriceLargeCard(b *testing.B) {
	c := Card{Model: ModelMessage}
	for m := range 250 {
		for _, cat := range []Category{Marketing, MarketingLite, Utility, Authentication, AuthenticationInternational, Service} {
			c.Rates = append(c.Rates, Rate{Market: strconv.Itoa(200 + m), Category: cat, Price: 100, Tiers: []Tier{{1, 100}, {100001, 90}}})
		}
	}
	c.Rates = append(c.Rates, Rate{Market: "62", Category: Utility, Price: 356, Tiers: []Tier{{1, 356}, {100001, 320}}})
	for b.Loop() {
		if p, _, ok := c.Price(Utility, "+6281234567890", 100001); !ok || p != 320 {
			b.Fatal(p, ok)
		}
	}
}
