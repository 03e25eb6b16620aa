// Package memorytest is the conformance suite of memory.Store: every
// implementation runs it.
package memorytest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/search"
)

// Run runs the suite. newDB returns an empty, migrated database.
func Run(t *testing.T, newDB func(t *testing.T) *sql.DB, store memory.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mem := func(id, zone, text string, age time.Duration, tags ...string) memory.Memory {
		return memory.Memory{ID: memory.ID(id), Zone: zone, Owner: "u", Author: "u", Scope: memory.ScopeUser, Text: text,
			Tags: tags, Metadata: map[string]string{"k": "v"}, Importance: 0.5, CreatedAt: t0.Add(-age)}
	}
	ids := func(ms []memory.Memory) []memory.ID {
		out := make([]memory.ID, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		return out
	}
	terms := func(q string) []string {
		ts, err := search.Terms("q", q)
		require.NoError(t, err)
		return ts
	}

	t.Run("insert, get, delete", func(t *testing.T) {
		db := newDB(t)
		m := mem("m1", "z", "bob prefers CSV exports", 0, "prefs", "bob")
		m.ExpiresAt = t0.Add(time.Hour)
		require.NoError(t, store.Insert(ctx, db, m))
		got, err := store.Get(ctx, db, "m1", t0)
		require.NoError(t, err)
		require.Equal(t, m.Text, got.Text)
		require.Equal(t, []string{"prefs", "bob"}, got.Tags)
		require.Equal(t, map[string]string{"k": "v"}, got.Metadata)
		require.True(t, got.ExpiresAt.Equal(m.ExpiresAt))
		require.True(t, errors.Is(store.Insert(ctx, db, m), errs.AlreadyExists))
		require.NoError(t, store.SetPermToken(ctx, db, "m1", "tok_2"))
		got, err = store.Get(ctx, db, "m1", t0)
		require.NoError(t, err)
		require.Equal(t, "tok_2", string(got.PermToken), "the token is set")
		require.Equal(t, m.Text, got.Text, "and nothing else changes")
		require.True(t, errors.Is(store.SetPermToken(ctx, db, "m_missing", "tok_2"), errs.NotFound))
		require.NoError(t, store.Delete(ctx, db, "m1"))
		_, err = store.Get(ctx, db, "m1", t0)
		require.True(t, errors.Is(err, errs.NotFound))
		require.True(t, errors.Is(store.Delete(ctx, db, "m1"), errs.NotFound))
	})

	t.Run("expired memories are never returned", func(t *testing.T) {
		db := newDB(t)
		m := mem("m1", "z", "ephemeral note", 0, "t")
		m.ExpiresAt = t0.Add(time.Minute)
		require.NoError(t, store.Insert(ctx, db, m))
		_, err := store.Get(ctx, db, "m1", t0.Add(time.Minute))
		require.True(t, errors.Is(err, errs.NotFound))
		cs, err := store.Match(ctx, db, "z", terms("ephemeral"), nil, t0.Add(time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, cs)
		ls, err := store.List(ctx, db, "z", nil, t0.Add(time.Minute), time.Time{}, "", 10)
		require.NoError(t, err)
		require.Empty(t, ls)
		exp, err := store.Expired(ctx, db, t0.Add(time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []memory.ID{"m1"}, exp)
		exp, err = store.Expired(ctx, db, t0, 10)
		require.NoError(t, err)
		require.Empty(t, exp)
	})

	t.Run("match: relevance, all tags, zone", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Insert(ctx, db, mem("a", "z", "export format export csv exports", 0, "prefs", "bob")))
		require.NoError(t, store.Insert(ctx, db, mem("b", "z", "the export button is blue", 0, "ui")))
		require.NoError(t, store.Insert(ctx, db, mem("c", "z2", "export everything", 0, "prefs")))
		cs, err := store.Match(ctx, db, "z", terms("export format"), nil, t0, 10)
		require.NoError(t, err)
		require.Len(t, cs, 2)
		require.Equal(t, memory.ID("a"), cs[0].Memory.ID)
		require.Greater(t, cs[0].Relevance, cs[1].Relevance)
		require.NotEmpty(t, cs[0].Snippet.Highlights)
		cs, err = store.Match(ctx, db, "z", terms("export"), []string{"prefs", "bob"}, t0, 10)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		cs, err = store.Match(ctx, db, "z", terms("export"), []string{"prefs", "nosuchtag"}, t0, 10)
		require.NoError(t, err)
		require.Empty(t, cs)
	})

	// A zone's ranking must not tell how common a word is in other zones:
	// rarity (document frequency), memory count and average length are the
	// zone's own.
	t.Run("match: relevance does not depend on other zones", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Insert(ctx, db, mem("m1", "a", "beta beta alpha", 3*time.Minute)))
		require.NoError(t, store.Insert(ctx, db, mem("m2", "a", "gamma alpha", 2*time.Minute)))
		require.NoError(t, store.Insert(ctx, db, mem("m3", "a", "delta delta", time.Minute)))
		match := func() []memory.Candidate {
			cs, err := store.Match(ctx, db, "a", terms("beta gamma"), nil, t0, 10)
			require.NoError(t, err)
			return cs
		}
		before := match()
		require.Len(t, before, 2)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		for i := 0; i < 1000; i++ {
			text := "beta " + strings.Repeat("epsilon ", i%50)
			require.NoError(t, store.Insert(ctx, tx, mem(fmt.Sprintf("b%04d", i), "b", text, 0)))
		}
		require.NoError(t, tx.Commit())
		require.NoError(t, store.Delete(ctx, db, "b0001"))
		after := match()
		require.Len(t, after, len(before))
		for i := range before {
			require.Equal(t, before[i].Memory.ID, after[i].Memory.ID, "zone b's memories changed zone a's order")
			require.InDelta(t, before[i].Relevance, after[i].Relevance, 1e-9, "zone b's memories changed the relevance of %s", before[i].Memory.ID)
		}
	})

	t.Run("list: newest first, keyset pages, tags", func(t *testing.T) {
		db := newDB(t)
		for i, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
			require.NoError(t, store.Insert(ctx, db, mem(id, "z", "note", time.Duration(5-i)*time.Minute, "t")))
		}
		require.NoError(t, store.Insert(ctx, db, mem("other", "z", "note", 0)))
		first, err := store.List(ctx, db, "z", []string{"t"}, t0, time.Time{}, "", 2)
		require.NoError(t, err)
		require.Equal(t, []memory.ID{"m5", "m4"}, ids(first))
		next, err := store.List(ctx, db, "z", []string{"t"}, t0, first[1].CreatedAt, first[1].ID, 10)
		require.NoError(t, err)
		require.Equal(t, []memory.ID{"m3", "m2", "m1"}, ids(next))
	})
}
