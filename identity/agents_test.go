package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

func TestCreateAgent(t *testing.T) {
	t.Parallel()
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

// TestCreateAgentDoesNotProbe: a plain member learns nothing about which
// zones and users exist from CreateAgent. Names of other zones are the same
// NotFound whether the zone or the user exists; names of the caller's own
// zone are the same PermissionDenied whether the user exists.
func TestCreateAgentDoesNotProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	f.user(t, "ceo", "acme", false)
	f.user(t, "alice", "", false)
	bob := f.user(t, "bob", "", false)

	norm := func(err error, ref string) string {
		require.Error(t, err)
		return strings.ReplaceAll(err.Error(), ref, "REF")
	}
	other := map[string]string{}
	for _, ref := range []string{"nozone/ceo", "acme/nobody", "acme/ceo"} {
		_, _, err := f.svc.CreateAgent(ctx, bob, "bot", ref)
		require.ErrorIs(t, err, errs.NotFound, ref)
		other[norm(err, ref)] = ref
	}
	require.Len(t, other, 1, "different answers: %v", other)

	own := map[string]string{}
	for _, ref := range []string{"nobody", "alice", "default/alice", "default/nobody"} {
		_, _, err := f.svc.CreateAgent(ctx, bob, "bot", ref)
		require.ErrorIs(t, err, errs.PermissionDenied, ref)
		own[norm(err, ref)] = ref
	}
	require.Len(t, own, 1, "different answers: %v", own)

	// An admin of another zone does not see the default zone either.
	acmeAdmin := f.user(t, "root", "acme", true)
	_, _, errReal := f.svc.CreateAgent(ctx, acmeAdmin, "bot", "default/alice")
	_, _, errMissing := f.svc.CreateAgent(ctx, acmeAdmin, "bot", "default/nobody")
	require.ErrorIs(t, errReal, errs.NotFound)
	require.Equal(t, norm(errMissing, "default/nobody"), norm(errReal, "default/alice"))
	// It still creates agents in its own zone.
	_, _, err = f.svc.CreateAgent(ctx, acmeAdmin, "ceo-bot", "ceo")
	require.NoError(t, err)
}

// TestOperatorCreatesAgentsInOtherZones: an operator names an owner in any
// zone; a zone or user that does not exist is NotFound, in the same words.
func TestOperatorCreatesAgentsInOtherZones(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	f.user(t, "ceo", "acme", false)

	agent, _, err := f.svc.CreateAgent(ctx, f.admin, "ceo-bot", "acme/ceo")
	require.NoError(t, err)
	require.Equal(t, acme.ID, agent.Zone, "the agent is in its owner's zone")

	answers := map[string]bool{}
	for _, ref := range []string{"nozone/ceo", "acme/nobody"} {
		_, _, err := f.svc.CreateAgent(ctx, f.admin, "bot", ref)
		require.ErrorIs(t, err, errs.NotFound, ref)
		answers[strings.ReplaceAll(err.Error(), ref, "REF")] = true
	}
	require.Len(t, answers, 1, "a missing zone and a missing user answer alike")
}
