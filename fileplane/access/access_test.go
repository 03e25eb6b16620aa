package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// engine allows what is in allowed and records how it was asked. Its
// tokens are decimal strings; the newest is the largest.
type engine struct {
	allowed map[string]bool // "type:id#perm@subject"
	fail    error
	bulks   int
	asked   []authz.Consistency
}

func key(it authz.CheckItem) string {
	return it.Resource.Type + ":" + it.Resource.ID + "#" + it.Permission + "@" + it.Subject.Object.Type + ":" + it.Subject.Object.ID
}

func (e *engine) Check(_ context.Context, it authz.CheckItem, c authz.Consistency) (authz.Decision, error) {
	e.asked = append(e.asked, c)
	return authz.Decision{Allowed: e.fail == nil && e.allowed[key(it)]}, e.fail
}

func (e *engine) CheckBulk(_ context.Context, items []authz.CheckItem, c authz.Consistency) ([]authz.Decision, error) {
	e.bulks++
	e.asked = append(e.asked, c)
	if e.fail != nil {
		return nil, e.fail
	}
	out := make([]authz.Decision, len(items))
	for i, it := range items {
		out[i].Allowed = e.allowed[key(it)]
	}
	return out, nil
}

func (e *engine) Newest(tokens ...authz.Token) authz.Token {
	var best authz.Token
	for _, t := range tokens {
		if len(t) > len(best) || (len(t) == len(best) && t > best) {
			best = t
		}
	}
	return best
}

func TestCallerActsAsTheLinkWhenThroughOne(t *testing.T) {
	t.Parallel()
	alice := access.Caller{User: "u_alice", Zone: "z"}
	require.Equal(t, authz.Subject(nexus.TypeUser, "u_alice"), alice.Subject())
	require.Equal(t, "u_alice", alice.Author())
	viaLink := access.Caller{User: "u_alice", Zone: "z", Link: "l_1"}
	require.Equal(t, authz.Subject(nexus.TypeShareLink, "l_1"), viaLink.Subject(), "a link's holder has the link's permissions, not its creator's")
	require.NotEqual(t, "u_alice", viaLink.Author(), "what a link writes is not recorded as its creator's")
}

func TestConsistencyIsTheNewestOfEveryToken(t *testing.T) {
	t.Parallel()
	e := &engine{}
	fresh := authz.Token("5")
	g := access.New(e, func() authz.Token { return fresh })
	require.Equal(t, authz.AtLeastAsFresh("7"), g.Consistency(authz.AtLeastAsFresh("7"), "3"))
	require.Equal(t, authz.AtLeastAsFresh("9"), g.Consistency(authz.MinimizeLatency(), "3", "9"))
	require.Equal(t, authz.AtLeastAsFresh("5"), g.Consistency(authz.MinimizeLatency()), "the last membership change bounds every decision")
	require.True(t, g.Consistency(authz.FullyConsistent(), "9").IsFullyConsistent())

	tokens := make([]authz.Token, 1, 8)
	tokens[0] = "1"
	g.Consistency(authz.AtLeastAsFresh("7"), tokens...)
	require.Equal(t, authz.Token(""), tokens[:2][1], "the caller's slice is not written past its length")

	require.Equal(t, authz.MinimizeLatency().Token(), access.New(e, nil).Consistency(authz.MinimizeLatency()).Token(), "no membership tracked")
}

func TestFilterIsOneBulkCheckAndDeniesWhatIsNotGranted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := &engine{allowed: map[string]bool{"file:a#read@user:u_bob": true, "file:c#read@share_link:l_1": true}}
	g := access.New(e, func() authz.Token { return "4" })
	objs := []authz.ObjectRef{authz.Obj(nexus.TypeFile, "a"), authz.Obj(nexus.TypeFile, "b"), authz.Obj(nexus.TypeFile, "c")}

	bob := access.Caller{User: "u_bob", Zone: "z"}
	got, err := g.Filter(ctx, bob, objs, nexus.PermRead, authz.MinimizeLatency(), "6")
	require.NoError(t, err)
	require.Equal(t, []bool{true, false, false}, got)
	require.Equal(t, 1, e.bulks)
	require.Equal(t, authz.AtLeastAsFresh("6"), e.asked[0])

	got, err = g.Filter(ctx, access.Caller{User: "u_bob", Zone: "z", Link: "l_1"}, objs, nexus.PermRead, authz.MinimizeLatency())
	require.NoError(t, err)
	require.Equal(t, []bool{false, false, true}, got, "through a link only the link's grants count")

	got, err = g.Filter(ctx, bob, nil, nexus.PermRead, authz.MinimizeLatency())
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, 2, e.bulks, "an empty page asks nothing")

	e.fail = errors.New("engine down")
	got, err = g.Filter(ctx, bob, objs, nexus.PermRead, authz.MinimizeLatency())
	require.ErrorIs(t, err, e.fail)
	require.Nil(t, got, "a failed check allows nothing")
}

func TestMayAsksAtLeastAsFreshAsTheTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := &engine{allowed: map[string]bool{"memory:m#delete@user:u_bob": true}}
	g := access.New(e, func() authz.Token { return "2" })
	bob := access.Caller{User: "u_bob", Zone: "z"}
	ok, err := g.May(ctx, bob, authz.Obj(nexus.TypeMemory, "m"), nexus.PermDelete, authz.MinimizeLatency(), "8")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, authz.AtLeastAsFresh("8"), e.asked[0])
	ok, err = g.May(ctx, bob, authz.Obj(nexus.TypeMemory, "m"), nexus.PermRead, authz.MinimizeLatency())
	require.NoError(t, err)
	require.False(t, ok, "delete does not grant read here: the gate asks exactly what it is told")
	e.fail = errors.New("engine down")
	ok, err = g.May(ctx, bob, authz.Obj(nexus.TypeMemory, "m"), nexus.PermDelete, authz.MinimizeLatency())
	require.Error(t, err)
	require.False(t, ok)
}

// tree resolves /, /open, /hidden and /readonly in zone z.
type tree struct{}

func (tree) Resolve(_ context.Context, zone string, p paths.Path) (paths.Resolved, error) {
	root := paths.Entry{ID: "root", Zone: zone, Kind: paths.Folder}
	if p == paths.Root {
		return paths.Resolved{Path: p, Chain: []paths.Entry{root}}, nil
	}
	name := p.Segments()[0]
	if zone != "z" || (name != "open" && name != "hidden" && name != "readonly") {
		return paths.Resolved{}, errs.NotFound
	}
	return paths.Resolved{Path: p, Chain: []paths.Entry{root, {ID: paths.EntryID(name), Zone: zone, Parent: "root", Name: name, Kind: paths.File}}}, nil
}

// Open tells a caller nothing about an entry it may not read: hidden and
// missing are the same error, word for word; only a readable entry can be
// PermissionDenied.
func TestOpenAnswersHiddenAsMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := &engine{allowed: map[string]bool{
		"file:open#read@user:u_bob": true, "file:open#write@user:u_bob": true,
		"file:readonly#read@user:u_bob": true,
		"zone:z#access@user:u_bob":      true,
	}}
	g := access.New(e, nil).WithPaths(tree{})
	bob := access.Caller{User: "u_bob", Zone: "z"}
	ml := authz.MinimizeLatency()

	r, err := g.Open(ctx, bob, paths.MustParse("/open"), nexus.PermWrite, ml)
	require.NoError(t, err)
	require.Equal(t, paths.EntryID("open"), r.Entry().ID)

	_, missing := g.Open(ctx, bob, paths.MustParse("/nothere"), nexus.PermWrite, ml)
	_, hidden := g.Open(ctx, bob, paths.MustParse("/hidden"), nexus.PermWrite, ml)
	require.ErrorIs(t, missing, errs.NotFound)
	require.ErrorIs(t, hidden, errs.NotFound)
	require.Equal(t, strings.Replace(missing.Error(), "/nothere", "/hidden", 1), hidden.Error())

	_, err = g.Open(ctx, bob, paths.MustParse("/readonly"), nexus.PermWrite, ml)
	require.ErrorIs(t, err, errs.PermissionDenied, "read but not write: the caller may know it exists")

	_, err = g.Open(ctx, bob, paths.Root, nexus.PermRead, ml)
	require.NoError(t, err, "a zone's root is readable by its members")
	_, err = g.Open(ctx, access.Caller{User: "u_eve", Zone: "z"}, paths.Root, nexus.PermRead, ml)
	require.ErrorIs(t, err, errs.NotFound, "not to others")

	e.fail = errors.New("engine down")
	_, err = g.Open(ctx, bob, paths.MustParse("/open"), nexus.PermRead, ml)
	require.ErrorIs(t, err, e.fail, "an engine failure is an error, not a denial and never an allow")
	require.NotErrorIs(t, err, errs.NotFound)
}
