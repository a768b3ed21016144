package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
	return nil
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
