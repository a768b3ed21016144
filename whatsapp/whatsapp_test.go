package whatsapp_test

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/whatsapp"
)

// Bodies shaped as Meta's status webhook reference shows them
// (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status);
// the ids are Meta's example ids or made up.
const (
	deliveredRegular = `{
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100002222", "phone_number_id": "106540352242922"},
        "statuses": [{
          "id": "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjRBQjU2QzdEOEU5RjAxMjM0NQA=",
          "status": "delivered",
          "timestamp": "1751363705",
          "recipient_id": "6281234567890",
          "biz_opaque_callback_data": "tenant=acme;invoice=INV-2025-0042",
          "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
        }]
      },
      "field": "messages"
    }]
  }]
}`
	// Meta's own "failed" example.
	failedExample = `{
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{
          "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
          "status": "failed",
          "timestamp": "1751142888",
          "recipient_id": "16505551234",
          "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement.",
            "message": "This message was not delivered to maintain healthy ecosystem engagement.",
            "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
            "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]
        }]
      },
      "field": "messages"
    }]
  }]
}`
	// Meta's "sent" example on Graph v23: a conversation object and pricing.
	sentV23 = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp",
"metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
"status":"sent","timestamp":"1750030073","recipient_id":"16505551234","conversation":{"id":"72b14d6bd5407799e66f64d1b338e567","expiration_timestamp":"1750116480",
"origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}}]},"field":"messages"}]}]}`
)

// one wraps statuses JSON in a one-entry, one-number envelope.
func one(statuses string) string {
	return `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp",` +
		`"metadata":{"display_phone_number":"6281100002222","phone_number_id":"106540352242922"},"statuses":[` + statuses + `]},"field":"messages"}]}]}`
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestParseMetaExamples(t *testing.T) {
	t.Parallel()
	base := whatsapp.Status{WABAID: "102290129340398", PhoneNumberID: "106540352242922", DisplayPhoneNumber: "6281100002222", RecipientID: "6281234567890"}
	with := func(f func(*whatsapp.Status)) whatsapp.Status { s := base; f(&s); return s }
	ts := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	for _, tc := range []struct {
		name string
		body string
		want []whatsapp.Status
	}{
		{"delivered, per-message pricing, regular", deliveredRegular, []whatsapp.Status{with(func(s *whatsapp.Status) {
			s.MessageID = "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjRBQjU2QzdEOEU5RjAxMjM0NQA="
			s.Status, s.Timestamp = whatsapp.Delivered, ts(1751363705)
			s.Pricing = &whatsapp.Pricing{Billable: yes(), Model: whatsapp.PerMessage, Type: whatsapp.Regular, Category: tariff.Marketing}
		})}},
		{"failed, with errors and no pricing", failedExample, []whatsapp.Status{{
			MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", WABAID: "102290129340398",
			PhoneNumberID: "106540352242922", DisplayPhoneNumber: "15550783881", RecipientID: "16505551234",
			Status: whatsapp.Failed, Timestamp: ts(1751142888), ErrorCode: 131049,
			ErrorTitle: "This message was not delivered to maintain healthy ecosystem engagement.",
		}}},
		{"sent on Graph v23, with a conversation", sentV23, []whatsapp.Status{{
			MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", WABAID: "102290129340398",
			PhoneNumberID: "106540352242922", DisplayPhoneNumber: "15550783881", RecipientID: "16505551234",
			Status: whatsapp.Sent, Timestamp: ts(1750030073),
			Pricing: &whatsapp.Pricing{Billable: yes(), Model: whatsapp.PerMessage, Type: whatsapp.Regular, Category: tariff.Marketing},
		}}},
		{"utility free in the customer-service window", one(`{"id":"wamid.U1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890",
			"pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"utility"}}`),
			[]whatsapp.Status{with(func(s *whatsapp.Status) {
				s.MessageID, s.Status, s.Timestamp = "wamid.U1", whatsapp.Delivered, ts(1751363705)
				s.Pricing = &whatsapp.Pricing{Billable: no(), Model: whatsapp.PerMessage, Type: whatsapp.FreeCustomerService, Category: tariff.Utility}
			})}},
		{"free entry point, read (no delivered), conversation per window", one(`{"id":"wamid.F1","status":"read","timestamp":"1751363800","recipient_id":"6281234567890",
			"conversation":{"id":"8f842dbba350821654c9dfed31f5635c","origin":{"type":"referral_conversion"}},
			"pricing":{"billable":false,"pricing_model":"PMP","type":"free_entry_point","category":"referral_conversion"}}`),
			[]whatsapp.Status{with(func(s *whatsapp.Status) {
				s.MessageID, s.Status, s.Timestamp = "wamid.F1", whatsapp.Read, ts(1751363800)
				s.Pricing = &whatsapp.Pricing{Billable: no(), Model: whatsapp.PerMessage, Type: whatsapp.FreeEntryPoint, Category: "referral_conversion"}
			})}},
		{"marketing lite", one(`{"id":"wamid.L1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890",
			"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing_lite"}}`),
			[]whatsapp.Status{with(func(s *whatsapp.Status) {
				s.MessageID, s.Status, s.Timestamp = "wamid.L1", whatsapp.Delivered, ts(1751363705)
				s.Pricing = &whatsapp.Pricing{Billable: yes(), Model: whatsapp.PerMessage, Type: whatsapp.Regular, Category: tariff.MarketingLite}
			})}},
		{"authentication international, Meta's hyphen; no billable flag", one(`{"id":"wamid.A1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890",
			"pricing":{"pricing_model":"PMP","type":"regular","category":"authentication-international"}}`),
			[]whatsapp.Status{with(func(s *whatsapp.Status) {
				s.MessageID, s.Status, s.Timestamp = "wamid.A1", whatsapp.Delivered, ts(1751363705)
				s.Pricing = &whatsapp.Pricing{Model: whatsapp.PerMessage, Type: whatsapp.Regular, Category: tariff.AuthenticationInternational}
			})}},
		{"unknown status, type and extra fields are kept or ignored", one(`{"id":"wamid.X1","status":"deleted","timestamp":1751363705,"recipient_id":"6281234567890",
			"recipient_type":"individual","new_field":{"a":[1,2,3]},"pricing":{"billable":null,"pricing_model":"PMP","type":"free_group_customer_service","category":"group_service","x":1},
			"errors":"not an array"}`),
			[]whatsapp.Status{with(func(s *whatsapp.Status) {
				s.MessageID, s.Status, s.Timestamp = "wamid.X1", "deleted", ts(1751363705)
				s.Pricing = &whatsapp.Pricing{Model: whatsapp.PerMessage, Type: whatsapp.FreeGroupCustomerService, Category: "group_service"}
			})}},
		{"incoming messages, other fields and an empty entry are skipped", `{"object":"whatsapp_business_account","entry":[
			{"id":"1","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"2"},
			  "contacts":[{"profile":{"name":"Siti Ã„"},"wa_id":"6281234567890"}],"messages":[{"from":"6281234567890","id":"wamid.IN","timestamp":"1751363705","type":"text","text":{"body":"halo"}}]},"field":"messages"},
			 {"value":{"event":"APPROVED","message_template_id":12345,"statuses":"whatever"},"field":"message_template_status_update"},
			 {"value":{"statuses":[],"metadata":{"phone_number_id":"2"}},"field":"messages"},
			 {"value":{"statuses":null},"field":"messages"}]},
			{"id":"2","changes":[]}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := whatsapp.Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", show(got), show(tc.want))
			}
		})
	}
}

// show renders statuses with their pricing, for failure messages.
func show(ss []whatsapp.Status) []string {
	var out []string
	for _, s := range ss {
		p := "<nil>"
		if s.Pricing != nil {
			b := "<nil>"
			if s.Pricing.Billable != nil {
				b = map[bool]string{true: "true", false: "false"}[*s.Pricing.Billable]
			}
			p = b + " " + string(s.Pricing.Model) + " " + string(s.Pricing.Type) + " " + string(s.Pricing.Category)
		}
		s.Pricing = nil
		out = append(out, strings.TrimSpace(strings.Join([]string{s.MessageID, s.WABAID, s.PhoneNumberID, s.DisplayPhoneNumber, s.RecipientID,
			string(s.Status), s.Timestamp.String(), p, s.ErrorTitle}, " | ")))
	}
	return out
}

func TestParseBatchAcrossEntriesAndNumbers(t *testing.T) {
	t.Parallel()
	// Two WABAs; the first with two business numbers; statuses of several
	// messages, in Meta's batch order.
	body := `{"object":"whatsapp_business_account","entry":[
	{"id":"111","changes":[
	  {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"6281100001111","phone_number_id":"PN1"},"statuses":[
	    {"id":"wamid.1","status":"sent","timestamp":"1751363700","recipient_id":"6281200000001"},
	    {"id":"wamid.1","status":"delivered","timestamp":"1751363701","recipient_id":"6281200000001","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}},
	    {"id":"wamid.2","status":"read","timestamp":"1751363702","recipient_id":"6281200000002","pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"utility"}}]},"field":"messages"},
	  {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"6281100002222","phone_number_id":"PN2"},"statuses":[
	    {"id":"wamid.3","status":"failed","timestamp":"1751363703","recipient_id":"6281200000003","errors":[{"code":131026,"title":"Message undeliverable"}]}]},"field":"messages"}]},
	{"id":"222","changes":[
	  {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PN3"},"statuses":[
	    {"id":"wamid.4","status":"delivered","timestamp":"1751363704","recipient_id":"12025550123","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"authentication"}},
	    {"id":"wamid.1","status":"delivered","timestamp":"1751363701","recipient_id":"6281200000001","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}]},"field":"messages"}]}]}`
	got, err := whatsapp.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, waba, phone, state, key string }
	var rows []row
	for _, s := range got {
		rows = append(rows, row{s.MessageID, s.WABAID, s.PhoneNumberID, string(s.Status), whatsapp.DedupeKey(s)})
	}
	want := []row{
		{"wamid.1", "111", "PN1", "sent", "wamid.1:sent"},
		{"wamid.1", "111", "PN1", "delivered", "wamid.1:delivered"},
		{"wamid.2", "111", "PN1", "read", "wamid.2:read"},
		{"wamid.3", "111", "PN2", "failed", "wamid.3:failed"},
		{"wamid.4", "222", "PN3", "delivered", "wamid.4:delivered"},
		{"wamid.1", "222", "PN3", "delivered", "wamid.1:delivered"}, // a duplicate: same key as the second
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %v\nwant %v", rows, want)
	}
	if got[3].ErrorCode != 131026 || got[3].ErrorTitle != "Message undeliverable" || got[3].Pricing != nil {
		t.Errorf("failed status = %+v", got[3])
	}
	charged := 0
	for _, s := range got {
		if s.Pricing.Charged() {
			charged++
		}
	}
	if charged != 3 {
		t.Errorf("%d statuses charged; want 3", charged)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	ok := `{"id":"wamid.1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890"}`
	for _, tc := range []struct {
		name, body, field string
	}{
		{"empty", ``, "body"},
		{"an array", `[` + one(ok) + `]`, "body"},
		{"a string", `"whatsapp_business_account"`, "body"},
		{"malformed", `{"object":"whatsapp_business_account","entry":[}`, "body"},
		{"trailing data", one(ok) + `{}`, "body"},
		{"too deep", `{"object":"whatsapp_business_account","entry":[],"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "body"},
		{"too large", `{"object":"whatsapp_business_account","entry":[],"pad":"` + strings.Repeat("a", whatsapp.MaxBody) + `"}`, "body"},
		{"object missing", `{"entry":[]}`, "object"},
		{"object of another product", `{"object":"page","entry":[]}`, "object"},
		{"object not a string", `{"object":1,"entry":[]}`, "object"},
		{"entry missing", `{"object":"whatsapp_business_account"}`, "entry"},
		{"entry an object", `{"object":"whatsapp_business_account","entry":{}}`, "entry"},
		{"entry item a string", `{"object":"whatsapp_business_account","entry":["x"]}`, "entry[0]"},
		{"entry id a number", `{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[]}]}`, "entry[0].id"},
		{"changes missing", `{"object":"whatsapp_business_account","entry":[{"id":"1"}]}`, "entry[0].changes"},
		{"field missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{}}]}]}`, "entry[0].changes[0].field"},
		{"value missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}`, "entry[0].changes[0].value"},
		{"statuses an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":{}}}]}]}`, "entry[0].changes[0].value.statuses"},
		{"metadata missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[` + ok + `]}}]}]}`, "entry[0].changes[0].value.metadata"},
		{"phone number id missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"1"},"statuses":[` + ok + `]}}]}]}`, "entry[0].changes[0].value.metadata.phone_number_id"},
		{"phone number id with a NUL", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1\u0000"},"statuses":[` + ok + `]}}]}]}`, "entry[0].changes[0].value.metadata.phone_number_id"},
		{"status an array", one(`[]`), "entry[0].changes[0].value.statuses[0]"},
		{"message id missing", one(`{"status":"sent","timestamp":"1"}`), "entry[0].changes[0].value.statuses[0].id"},
		{"message id empty", one(`{"id":"","status":"sent","timestamp":"1"}`), "entry[0].changes[0].value.statuses[0].id"},
		{"message id with a space", one(ok + `,{"id":"wamid 2","status":"sent","timestamp":"1"}`), "entry[0].changes[0].value.statuses[1].id"},
		{"message id too long", one(`{"id":"` + strings.Repeat("w", 257) + `","status":"sent","timestamp":"1"}`), "entry[0].changes[0].value.statuses[0].id"},
		{"status missing", one(`{"id":"wamid.1","timestamp":"1"}`), "entry[0].changes[0].value.statuses[0].status"},
		{"status a number", one(`{"id":"wamid.1","status":3,"timestamp":"1"}`), "entry[0].changes[0].value.statuses[0].status"},
		{"timestamp missing", one(`{"id":"wamid.1","status":"sent"}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp not seconds", one(`{"id":"wamid.1","status":"sent","timestamp":"2025-07-01T00:00:00Z"}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp negative", one(`{"id":"wamid.1","status":"sent","timestamp":"-5"}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp zero", one(`{"id":"wamid.1","status":"sent","timestamp":"0"}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp a fraction", one(`{"id":"wamid.1","status":"sent","timestamp":1751363705.5}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp past 9999", one(`{"id":"wamid.1","status":"sent","timestamp":"253402300800"}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"timestamp a bool", one(`{"id":"wamid.1","status":"sent","timestamp":true}`), "entry[0].changes[0].value.statuses[0].timestamp"},
		{"recipient a number", one(`{"id":"wamid.1","status":"sent","timestamp":"1","recipient_id":6281}`), "entry[0].changes[0].value.statuses[0].recipient_id"},
		{"pricing a string", one(`{"id":"wamid.1","status":"sent","timestamp":"1","pricing":"regular"}`), "entry[0].changes[0].value.statuses[0].pricing"},
		{"billable a string", one(`{"id":"wamid.1","status":"sent","timestamp":"1","pricing":{"billable":"true"}}`), "entry[0].changes[0].value.statuses[0].pricing.billable"},
		{"type a number", one(`{"id":"wamid.1","status":"sent","timestamp":"1","pricing":{"type":1}}`), "entry[0].changes[0].value.statuses[0].pricing.type"},
		{"category too long", one(`{"id":"wamid.1","status":"sent","timestamp":"1","pricing":{"category":"` + strings.Repeat("m", 65) + `"}}`), "entry[0].changes[0].value.statuses[0].pricing.category"},
		{"model with a space", one(`{"id":"wamid.1","status":"sent","timestamp":"1","pricing":{"pricing_model":"P M P"}}`), "entry[0].changes[0].value.statuses[0].pricing.pricing_model"},
		{"too many statuses", one(strings.TrimSuffix(strings.Repeat(ok+",", whatsapp.MaxStatuses+1), ",")), "entry[0].changes[0].value.statuses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := whatsapp.Parse([]byte(tc.body))
			var ve *lunas.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 {
				t.Fatalf("Parse = %v, %v; want one field error on %s", got, err, tc.field)
			}
			if ve.Fields[0].Field != tc.field {
				t.Errorf("error on %q (%v); want %q", ve.Fields[0].Field, err, tc.field)
			}
			if lunas.KindOf(err) != lunas.KindInvalid {
				t.Errorf("kind %v; want invalid", lunas.KindOf(err))
			}
			if got != nil {
				t.Errorf("statuses returned with an error: %v", got)
			}
		})
	}
}

func TestParseCleansErrorTitles(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400) // 800 bytes
	for _, tc := range []struct{ errors, code, title string }{
		{`[{"code":131049,"title":"a\u0000b\nc"}]`, "131049", "abc"},
		{`[{"code":131049,"message":"only a message"}]`, "131049", "only a message"},
		{`[{"code":"131049","title":7}]`, "0", ""},
		{`[{"code":99999999999,"title":"` + long + `"}]`, "0", strings.Repeat("é", 256)},
		{`[]`, "0", ""},
		{`["x"]`, "0", ""},
		{`{}`, "0", ""},
	} {
		got, err := whatsapp.Parse([]byte(one(`{"id":"wamid.1","status":"failed","timestamp":"1","errors":` + tc.errors + `}`)))
		if err != nil {
			t.Fatalf("%s: %v", tc.errors, err)
		}
		if c := got[0].ErrorCode; strconv.Itoa(c) != tc.code || got[0].ErrorTitle != tc.title {
			t.Errorf("%s: code %d title %q; want %s %q", tc.errors, c, got[0].ErrorTitle, tc.code, tc.title)
		}
	}
}

func TestCharged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    *whatsapp.Pricing
		want bool
	}{
		{nil, false},
		{&whatsapp.Pricing{Type: whatsapp.Regular}, true},
		{&whatsapp.Pricing{Type: whatsapp.Regular, Billable: no()}, true}, // type decides, as Meta says
		{&whatsapp.Pricing{Type: whatsapp.FreeCustomerService, Billable: yes()}, false},
		{&whatsapp.Pricing{Type: whatsapp.FreeEntryPoint}, false},
		{&whatsapp.Pricing{Model: whatsapp.Conversation, Billable: yes()}, true}, // old CBP webhook without type
		{&whatsapp.Pricing{Model: whatsapp.Conversation, Billable: no()}, false},
		{&whatsapp.Pricing{}, false},
	} {
		if got := tc.p.Charged(); got != tc.want {
			t.Errorf("%+v.Charged() = %v; want %v", tc.p, got, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("test-app-secret")
	body := []byte(deliveredRegular)
	good := whatsapp.SignatureValue(secret, body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != 7+64 || strings.ToLower(good) != good {
		t.Fatalf("signature value %q", good)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"good", secret, body, good, true},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(good[7:]), true},
		{"other secret", []byte("other"), body, good, false},
		{"empty secret", nil, body, whatsapp.SignatureValue(nil, body), false},
		{"body changed by one byte", secret, append([]byte{' '}, body...), good, false},
		{"body re-serialised", secret, []byte(strings.ReplaceAll(deliveredRegular, "\n", "")), good, false},
		{"missing", secret, body, "", false},
		{"no prefix", secret, body, good[7:], false},
		{"sha1 prefix", secret, body, "sha1=" + good[7:], false},
		{"upper-case prefix", secret, body, "SHA256=" + good[7:], false},
		{"truncated", secret, body, good[:len(good)-2], false},
		{"too long", secret, body, good + "00", false},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), false},
		{"spaces", secret, body, " " + good, false},
		{"two values", secret, body, good + "," + good, false},
	} {
		if got := whatsapp.Verify(tc.secret, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: Verify = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	for _, tc := range []struct {
		name, query, token, want string
		ok                       bool
	}{
		{"Meta's check", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", "meatyhamhock", "1158201444", true},
		{"wrong token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyham", "meatyhamhock", "", false},
		{"token longer", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhockX", "meatyhamhock", "", false},
		{"no token", "hub.mode=subscribe&hub.challenge=1", "meatyhamhock", "", false},
		{"no token configured", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=", "", "", false},
		{"other mode", "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=t", "t", "", false},
		{"no mode", "hub.challenge=1&hub.verify_token=t", "t", "", false},
		{"no challenge", "hub.mode=subscribe&hub.verify_token=t", "t", "", false},
		{"challenge with markup", "hub.mode=subscribe&hub.challenge=%3Cscript%3E%20x&hub.verify_token=t", "t", "", false},
		{"challenge too long", "hub.mode=subscribe&hub.challenge=" + strings.Repeat("9", 257) + "&hub.verify_token=t", "t", "", false},
		{"challenge of letters", "hub.mode=subscribe&hub.challenge=abc-DEF_123&hub.verify_token=t", "t", "abc-DEF_123", true},
	} {
		got, ok := whatsapp.Handshake(q(tc.query), tc.token)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Handshake = %q %v; want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStateKnown(t *testing.T) {
	t.Parallel()
	for _, s := range []whatsapp.State{whatsapp.Sent, whatsapp.Delivered, whatsapp.Read, whatsapp.Failed, whatsapp.Played} {
		if !s.Known() {
			t.Errorf("%s not known", s)
		}
	}
	if whatsapp.State("deleted").Known() || whatsapp.PricingType("free_tier").Known() || !whatsapp.FreeGroupCustomerService.Known() {
		t.Error("Known is wrong")
	}
	if k := whatsapp.DedupeKey(whatsapp.Status{MessageID: "wamid.X", Status: whatsapp.Read}); k != "wamid.X:read" {
		t.Errorf("DedupeKey = %q", k)
	}
}
