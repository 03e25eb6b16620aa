package identity

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/internal/errs"
)

func TestCreateAgent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	agent, tok, err := f.svc.CreateAgent(ctx, f.admin, "bob-bot", "bob")
	require.NoError(t, err)
	require.Equal(t, bob.Zone, agent.Zone)
	rels, err := f.engine.Read(ctx, authz.Filter{Resource: authz.Obj("user", string(agent.ID)), Relation: "owner"}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.Len(t, rels, 1)
	require.Equal(t, string(bob.ID), rels[0].Subject.Object.ID)
	d, err := f.engine.Check(ctx, authz.CheckItem{Resource: authz.Obj("zone", string(bob.Zone)), Permission: "access", Subject: authz.Subject("user", string(agent.ID))}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed, "an agent is a member of its owner's zone")

	// Only a zone admin creates agents; the owner must exist.
	_, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	bobP, err := f.svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	_, _, err = f.svc.CreateAgent(ctx, bobP, "bob-bot-2", "bob")
	require.True(t, errors.Is(err, errs.PermissionDenied), "got %v", err)
	_, _, err = f.svc.CreateAgent(ctx, f.admin, "ghost-bot", "nobody")
	require.True(t, errors.Is(err, errs.NotFound), "got %v", err)
	_, _, err = f.svc.CreateAgent(ctx, f.admin, "bob-bot", "bob")
	require.True(t, errors.Is(err, errs.AlreadyExists), "got %v", err)
	_, _, err = f.svc.CreateAgent(ctx, f.admin, "bad name", "bob")
	require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
}
