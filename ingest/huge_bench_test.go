package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkHugeNumber: the check of a value's numbers (past float64's or
// numeric's range) and nesting on a small event's properties and on an
// order's, with UUIDs (whose "-1e2b" segments look like exponents until
// strings are skipped).
func BenchmarkHugeNumber(b *testing.B) {
	for name, props := range map[string]json.RawMessage{
		"small": json.RawMessage(`{"seq":12345,"batch":123}`),
		"order": json.RawMessage(`{"order_id":"3f1e2b9c-77aa-4e1b-9d2e-1e2f3a4b5c6d","total":129.95,"currency":"EUR","items":[` +
			strings.Repeat(`{"sku":"SKU-12345","name":"Blue sweater with three buttons","price":42.5,"qty":1},`, 10) + `{}],"coupon":"none"}`),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(props)))
			for b.Loop() {
				if valueProblem(props, true) != "" {
					b.Fatal("huge")
				}
			}
		})
	}
}
