package authz_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
)

func TestNewestPicksTheLaterWrite(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	t1, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	t2, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", alice))})
	require.NoError(t, err)
	require.NotEqual(t, t1, t2)
	require.Equal(t, t2, e.Newest(t1, t2))
	require.Equal(t, t2, e.Newest(t2, t1))
	require.Equal(t, t2, e.Newest("", t2, "garbage", t1))
	require.Equal(t, authz.Token(""), e.Newest("", "garbage"))
}
