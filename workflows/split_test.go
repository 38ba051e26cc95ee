package workflows

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitIsWeightedAndSticky(t *testing.T) {
	n := Node{ID: "ab", Type: "split", Variants: []Variant{{Name: "a", Weight: 20, Next: "x"}, {Name: "b", Weight: 30, Next: "y"}, {Name: "c", Weight: 50, Next: "z"}}}
	const customers = 20000
	counts := map[string]int{}
	for i := 0; i < customers; i++ {
		cust := fmt.Sprintf("cus_%d", i)
		v := pickVariant("jny_1", cust, n)
		require.Equal(t, v, pickVariant("jny_1", cust, n), "the same customer always gets the same arm")
		counts[v.Name]++
	}
	// Each share within 5 standard deviations of its weight.
	for _, v := range n.Variants {
		p := float64(v.Weight) / 100
		sd := math.Sqrt(customers * p * (1 - p))
		require.InDelta(t, customers*p, float64(counts[v.Name]), 5*sd, "variant %s: %d of %d", v.Name, counts[v.Name], customers)
	}
	// Another journey assigns independently.
	same := 0
	for i := 0; i < 1000; i++ {
		cust := fmt.Sprintf("cus_%d", i)
		if pickVariant("jny_1", cust, n).Name == pickVariant("jny_2", cust, n).Name {
			same++
		}
	}
	require.Less(t, same, 600, "assignments of two journeys should not be the same hash")
}
