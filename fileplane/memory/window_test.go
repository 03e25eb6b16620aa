package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/memory"
)

// The window of newest text matches Recall ranks is per zone: another
// zone's many matches do not push a zone's own out of it.
func TestRecallWindowIsPerZone(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, 0, memory.SQLStore{Window: 8})
	ctx := context.Background()
	mine := w.remember(alice, memory.RememberRequest{Text: "deploy on friday"})
	for i := 0; i < 20; i++ {
		w.now = w.now.Add(time.Second)
		w.remember(carol, memory.RememberRequest{Text: fmt.Sprintf("deploy number %d", i)})
	}
	got, err := w.svc.Recall(ctx, alice, "deploy", nil, 10, ml)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, mine.ID, got[0].Memory.ID)
}
