package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type pathInner struct {
	Column string `json:"column"`
}

type pathEmbedded struct {
	Extra string `json:"extra"`
}

type pathOuter struct {
	pathEmbedded
	Name  string               `json:"name"`
	Items []pathInner          `json:"items"`
	ByKey map[string]pathInner `json:"by_key"`
	Raw   json.RawMessage      `json:"raw"`
	Skip  string               `json:"-"`
}

// The path names where the unknown key is: in document order, past keys
// of the same name that are known where they are, through arrays, maps
// and embedded structs; what a json.RawMessage holds is never unknown.
func TestUnknownFieldPath(t *testing.T) {
	typ := reflect.TypeFor[*pathOuter]()
	for body, want := range map[string]string{
		`{"nope":1}`: "nope",
		`{"NAME":"n","extra":"e","raw":{"nope":1},"items":[{"column":"a"},{"nope":2}]}`: "items[1].nope",
		`{"items":[{"column":"a","name":"x"}],"name":"n"}`:                              "items[0].name",
		`{"by_key":{"k":{"column":"a","extra":1}}}`:                                     "by_key.k.extra",
		`{"Skip":"x"}`: "Skip",
	} {
		var name string
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		err := dec.Decode(new(pathOuter))
		require.Error(t, err, body)
		name, _ = fieldError(err)
		require.Equal(t, want, unknownFieldPath([]byte(body), typ, name), body)
	}
}

// An unknown key is named as the client sent it, escapes read (a no-break
// space, a quote), and its path is found with it.
func TestUnknownKeyWithEscapesIsNamedAsSent(t *testing.T) {
	for body, want := range map[string]string{
		`{"items":[{"column":"a","col\u00a0umn":"b"}]}`: "items[0].col\u00a0umn",
		`{"na\"me":1}`: `na"me`,
	} {
		var v pathOuter
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		err := dec.Decode(&v)
		require.Error(t, err)
		field, _ := fieldError(err)
		require.Equal(t, want, unknownFieldPath([]byte(body), reflect.TypeOf(&v), field), body)
	}
}

type pathOther struct {
	Other string `json:"other"`
}

type pathShadow struct {
	Items []pathInner `json:"items"`
}

// pathShadowed's own items hide the embedded struct's, declared first.
type pathShadowed struct {
	pathShadow
	Items []pathOther `json:"items"`
}

// The walk follows the field encoding/json decodes into: an outer field
// over an embedded one of the same name, wherever it is declared.
func TestUnknownFieldPathFollowsTheDominantField(t *testing.T) {
	body := `{"items":[{"other":"x","column":"y"}]}`
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(new(pathShadowed))
	require.Error(t, err)
	name, _ := fieldError(err)
	require.Equal(t, "column", name)
	require.Equal(t, "items[0].column", unknownFieldPath([]byte(body), reflect.TypeFor[*pathShadowed](), name))
}
