package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

// TestCLIJSONWritesNumbersAsNumbers: --json writes sizes and versions as
// numbers, nested and in lists, every field even when zero, and leaves
// times as protojson writes them.
func TestCLIJSONWritesNumbersAsNumbers(t *testing.T) {
	m := &nexusv1.ListResponse{Entries: []*nexusv1.Entry{
		{Name: "a.txt", Size: 1 << 40, Version: 7, ModifiedAt: timestamppb.New(timestamppb.Now().AsTime())},
		{Name: "empty"},
	}}
	b, err := cliJSON(m)
	require.NoError(t, err)
	var got struct {
		Entries []map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &got), string(b))
	require.Len(t, got.Entries, 2)
	require.Equal(t, float64(1<<40), got.Entries[0]["size"], string(b))
	require.Equal(t, float64(7), got.Entries[0]["version"])
	require.IsType(t, "", got.Entries[0]["modifiedAt"], "a time stays a string")
	require.Equal(t, float64(0), got.Entries[1]["size"], "zero is written, as a number")
	require.Contains(t, got.Entries[1], "version")
}
