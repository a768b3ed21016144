package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
)

// MaxBody is the largest JSON body accepted.
const MaxBody = 1 << 20

// decode reads a strict JSON body into v: at most MaxBody bytes, no unknown
// fields, exactly one value. Errors name the field where they can.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return lunas.E(lunas.KindTooLarge, "body is larger than 1 MiB")
		}
		return lunas.Wrap(lunas.KindInvalid, err, "could not read body")
	}
	return decodeBytes(body, v)
}

func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "body", Message: "a JSON object is required"}}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "body", Message: "must hold exactly one JSON object"}}}
	}
	return textErrors(body, v)
}

// textMessage is the answer for a string that is not text PostgreSQL
// stores: it refuses U+0000 in text (a 500 before this check), and the
// JSON decoder would silently turn bytes that are not UTF-8 into U+FFFD.
const textMessage = "must be UTF-8 text without NUL characters"

// textErrors names every string field of the decoded v holding a NUL, or
// holding bytes that were not UTF-8 in body. These are checked here, in
// the one decoder every JSON body goes through, so no domain package has
// to think of them field by field.
func textErrors(body []byte, v any) error {
	var fe []lunas.FieldError
	walkText(reflect.ValueOf(v), "", &fe)
	if !utf8.Valid(body) {
		// Decode again with each bad byte sequence as an escaped NUL: the
		// same walk then finds the fields that held them. (The body is
		// valid JSON: the first decode said so, and such bytes can only
		// sit inside strings, where \u0000 is a valid escape.)
		if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
			again := reflect.New(t.Elem())
			if json.Unmarshal(bytes.ToValidUTF8(body, []byte(`\u0000`)), again.Interface()) == nil {
				walkText(again, "", &fe)
			}
		}
		if len(fe) == 0 {
			fe = append(fe, lunas.FieldError{Field: "body", Message: textMessage})
		}
	}
	if len(fe) == 0 {
		return nil
	}
	slices.SortFunc(fe, func(a, b lunas.FieldError) int { return strings.Compare(a.Field, b.Field) })
	fe = slices.CompactFunc(fe, func(a, b lunas.FieldError) bool { return a.Field == b.Field })
	return &lunas.ValidationError{Fields: fe}
}

// walkText adds a field error for every string under v holding a NUL,
// named by its JSON path (requester.name, items[0].product, metadata.k).
func walkText(v reflect.Value, path string, fe *[]lunas.FieldError) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkText(v.Elem(), path, fe)
		}
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			*fe = append(*fe, lunas.FieldError{Field: cmp.Or(path, "body"), Message: textMessage})
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte, json.RawMessage: not text
		}
		for i := range v.Len() {
			walkText(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fe)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := it.Key()
			name := join(path, "?")
			if k.Kind() == reflect.String && strings.IndexByte(k.String(), 0) < 0 {
				name = join(path, k.String())
			} else if k.Kind() == reflect.String {
				*fe = append(*fe, lunas.FieldError{Field: cmp.Or(path, "body"), Message: textMessage})
			}
			walkText(it.Value(), name, fe)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				walkText(v.Field(i), path, fe) // embedded: its fields are the parent's
				continue
			case name == "":
				name = f.Name
			}
			walkText(v.Field(i), join(path, name), fe)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func jsonError(err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	field, msg := "body", "is not valid JSON"
	switch {
	case errors.As(err, &ute):
		field = ute.Field
		if field == "" {
			field = "body"
		}
		msg = fmt.Sprintf("must be a %s", jsonType(ute.Type.Kind().String()))
	case errors.As(err, &se):
		msg = fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		msg = "is not a known field"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "is truncated JSON"
	}
	return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: field, Message: msg}}}
}

func jsonType(k string) string {
	switch k {
	case "int64", "int", "int32":
		return "whole number"
	case "string":
		return "string"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return k
}
