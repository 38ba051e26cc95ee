package schema_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// (From a review.) The API keys an alias by its userId, so in a chain
// u1 → u2 → u3 sent in order (each answered 200 before the next is sent)
// the two aliases sit on different partitions, and the consumer may apply
// alias(u2 → u3) before alias(u1 → u2). Whatever order the partitions hand
// them in, the chain is one person.
func TestAliasChainAppliedAcrossPartitionsOutOfOrder(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, track("u1", "", "As u1"))
	e.apply(t, alias("u2", "u3")) // partition of "u3" first
	e.apply(t, alias("u1", "u2")) // then partition of "u2"
	require.Len(t, e.customers(t), 1, "u1 → u2 → u3 is one person")
	c := e.find(t, "u3")
	for _, u := range []string{"u1", "u2"} {
		require.Equal(t, c.ID, e.find(t, u).ID, u)
	}
}

// A chain of three aliases after the first id's event, applied in every
// order (each alias alone, and all in one batch), is one person with all
// the events; a later event under any id of the chain is theirs too.
func TestAliasChainInEveryOrder(t *testing.T) {
	links := []schema.EventInput{alias("u1", "u2"), alias("u2", "u3"), alias("u3", "u4")}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		for _, together := range []bool{false, true} {
			t.Run(fmt.Sprint(order, together), func(t *testing.T) {
				e := newIdentityEnv(t)
				e.apply(t, track("u1", "", "As u1"))
				var batch []schema.EventInput
				for _, i := range order {
					batch = append(batch, links[i])
				}
				if together {
					for i := range batch {
						batch[i] = e.complete(batch[i])
					}
					_, err := e.st.ApplyEvents(t.Context(), batch)
					require.NoError(t, err)
				} else {
					for _, ev := range batch {
						e.apply(t, ev)
					}
				}
				require.Len(t, e.customers(t), 1, "one person")
				for _, u := range []string{"u1", "u2", "u3", "u4"} {
					r := e.apply(t, track(u, "", "Later as "+u))
					require.Empty(t, r.MergedFrom, u)
				}
				ids := e.customers(t)
				require.Len(t, ids, 1, "later events under every id of the chain reach the same person")
				evs, err := e.st.ListCustomerEvents(t.Context(), e.ws, ids[0], 100)
				require.NoError(t, err)
				require.Len(t, evs, 8, "the first event, three aliases, four later ones")
			})
		}
	}
}
