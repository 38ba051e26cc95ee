package api_test

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

// Basic credentials of the bare write key, without the ":" of an empty
// password, name the key too (Segment takes them).
func TestWriteKeyAsBasicCredentialsWithoutAColon(t *testing.T) {
	f := newIngestFixture(t)
	bare := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(f.writeKey))}
	status, out := f.post(t, "/v1/track", []byte(`{"userId":"u","event":"Bare key"}`), bare)
	require.Equal(t, 200, status, "%v", out)
	status, out = f.post(t, "/v1/track", []byte(`{"userId":"u","event":"E"}`),
		map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("hw_nope"))})
	require.Equal(t, 401, status, "%v", out)
	require.Len(t, f.messages(t), 1)
}
