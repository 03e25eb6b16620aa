package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
)

// The nested-groups workload of api_check_vs_spicedb_server (issue 13):
// 2,000 users in 200 teams, the teams members of 20 parent teams
// (team#member@team#member), 5,000 documents each viewable by two teams
// (one in ten a parent); Zipfian questions, half allowed; 1% of the
// operations are membership writes through each side's own API
// (WriteRelationships), toggling 100 churn users, who are never asked
// about, in and out of random teams: the answers stay known, while every
// write still changes a team the questions go through.

const apiNestedSchema = `
definition team {
    relation member: user | team#member
}

definition teamdoc {
    relation viewer: team#member
    permission view = viewer
}
`

const (
	nestedUsers      = 2000
	nestedTeams      = 200
	nestedParents    = 20
	nestedDocs       = 5000
	nestedQuestions  = 20_000
	nestedChurnUsers = 100
	nestedCallers    = 64
	nestedWriteEvery = 100 // one operation in this many is a membership write
)

type nestedWorld struct {
	rels []*v1.Relationship
	qs   []apiQuestion
}

func teamName(i int) string {
	if i >= nestedTeams {
		return fmt.Sprintf("p%d", i-nestedTeams)
	}
	return fmt.Sprintf("t%d", i)
}

func buildNestedWorld() nestedWorld {
	rng := rand.New(rand.NewPCG(13, 13))
	var w nestedWorld
	teamRef := func(t string) *v1.SubjectReference {
		return &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "team", ObjectId: t}, OptionalRelation: "member"}
	}
	// Teams 0..199 are leaves; 200..219 are the parents p0..p19.
	for t := range nestedTeams {
		w.rels = append(w.rels, &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: "team", ObjectId: teamName(nestedTeams + t%nestedParents)}, Relation: "member",
			Subject: teamRef(teamName(t)),
		})
	}
	members := make([]map[int]bool, nestedTeams+nestedParents) // team -> users, parents through their teams
	for i := range members {
		members[i] = map[int]bool{}
	}
	teamUsers := make([][]int, nestedTeams+nestedParents)
	join := func(u, t int) {
		if members[t][u] {
			return
		}
		members[t][u] = true
		members[nestedTeams+t%nestedParents][u] = true
		teamUsers[t] = append(teamUsers[t], u)
		teamUsers[nestedTeams+t%nestedParents] = append(teamUsers[nestedTeams+t%nestedParents], u)
		w.rels = append(w.rels, &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: "team", ObjectId: teamName(t)}, Relation: "member",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: fmt.Sprintf("n%d", u)}},
		})
	}
	for u := range nestedUsers {
		join(u, u%nestedTeams)
		if rng.IntN(2) == 0 {
			join(u, rng.IntN(nestedTeams))
		}
	}
	docTeams := make([][]int, nestedDocs)
	for d := range nestedDocs {
		for range 2 {
			t := rng.IntN(nestedTeams)
			if rng.IntN(10) == 0 {
				t = nestedTeams + rng.IntN(nestedParents)
			}
			if slices.Contains(docTeams[d], t) {
				continue
			}
			docTeams[d] = append(docTeams[d], t)
			w.rels = append(w.rels, &v1.Relationship{
				Resource: &v1.ObjectReference{ObjectType: "teamdoc", ObjectId: fmt.Sprintf("d%d", d)}, Relation: "viewer",
				Subject: teamRef(teamName(t)),
			})
		}
	}
	allowed := func(d, u int) bool {
		for _, t := range docTeams[d] {
			if members[t][u] {
				return true
			}
		}
		return false
	}
	w.qs = make([]apiQuestion, nestedQuestions)
	for i := range w.qs {
		d := rng.IntN(nestedDocs)
		u := rng.IntN(nestedUsers)
		if i%2 == 0 { // a member of one of the document's teams
			ts := docTeams[d]
			us := teamUsers[ts[rng.IntN(len(ts))]]
			u = us[rng.IntN(len(us))]
		}
		w.qs[i] = apiQuestion{doc: fmt.Sprintf("d%d", d), user: fmt.Sprintf("n%d", u), allowed: allowed(d, u)}
	}
	return w
}

// nestedOps runs the nested workload's operations for one side: op is a
// check, or every nestedWriteEvery-th operation a membership write followed
// by a check. The write's time is kept apart (writeLatencies) and left out
// of the check's latency.
type nestedOps struct {
	qs      []apiQuestion
	clients []*authzed.Client
	writer  *authzed.Client // the side's write-scoped client
	zipfs   []*rand.Zipf
	n       atomic.Int64

	mu       sync.Mutex
	rng      *rand.Rand
	writeLat []time.Duration
	writeErr int
}

func newNestedOps(qs []apiQuestion, clients []*authzed.Client, writer *authzed.Client, callers int, round uint64) *nestedOps {
	o := &nestedOps{qs: qs, clients: clients, writer: writer, rng: rand.New(rand.NewPCG(31, round))}
	o.zipfs = make([]*rand.Zipf, callers)
	for i := range o.zipfs {
		o.zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), 100+round)), apiZipfS, 1, uint64(len(qs)-1))
	}
	return o
}

func (o *nestedOps) op(ctx context.Context, caller, _ int) (tally, error) {
	var t tally
	if o.n.Add(1)%nestedWriteEvery == 0 {
		o.mu.Lock()
		team, user, del := o.rng.IntN(nestedTeams), o.rng.IntN(nestedChurnUsers), o.rng.IntN(2) == 0
		o.mu.Unlock()
		op := v1.RelationshipUpdate_OPERATION_TOUCH
		if del {
			op = v1.RelationshipUpdate_OPERATION_DELETE
		}
		t0 := time.Now()
		_, err := o.writer.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
			Operation: op,
			Relationship: &v1.Relationship{
				Resource: &v1.ObjectReference{ObjectType: "team", ObjectId: teamName(team)}, Relation: "member",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: fmt.Sprintf("churn%d", user)}},
			},
		}}})
		t.Wait = time.Since(t0)
		o.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				o.writeErr++
			}
		} else {
			o.writeLat = append(o.writeLat, t.Wait)
		}
		o.mu.Unlock()
	}
	q := o.qs[o.zipfs[caller].Uint64()]
	resp, err := o.clients[caller%len(o.clients)].CheckPermission(ctx, &v1.CheckPermissionRequest{
		Resource:   &v1.ObjectReference{ObjectType: "teamdoc", ObjectId: q.doc},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: q.user}},
	})
	if err != nil {
		return tally{}, err
	}
	allowed := resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	t.Decisions = 1
	if allowed {
		t.Allowed = 1
	}
	if allowed != q.allowed {
		t.Mismatches = 1
	}
	return t, nil
}

// warmNested asks every nested question once, in CheckBulkPermissions
// requests of warmBatch, so the measured rounds see the steady state of a
// backend that asks the same questions all day: SpiceDB's dispatch cache
// and the database's buffers warm on both sides, Nexus's decision cache
// holding what it was asked. Without it, a few seconds of Zipfian
// questions over 20,000 distinct ones are mostly first askings, on both
// sides, and the rounds measure a cold start.
func warmNested(ctx context.Context, c *authzed.Client, qs []apiQuestion) error {
	const warmBatch = 100
	for off := 0; off < len(qs); off += warmBatch {
		req := &v1.CheckBulkPermissionsRequest{}
		for _, q := range qs[off:min(off+warmBatch, len(qs))] {
			req.Items = append(req.Items, &v1.CheckBulkPermissionsRequestItem{
				Resource:   &v1.ObjectReference{ObjectType: "teamdoc", ObjectId: q.doc},
				Permission: "view",
				Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: q.user}},
			})
		}
		resp, err := c.CheckBulkPermissions(ctx, req)
		if err != nil {
			return fmt.Errorf("warming up: %w", err)
		}
		for i, p := range resp.GetPairs() {
			if p.GetError() != nil {
				return fmt.Errorf("warming up, question %d: %s", off+i, p.GetError().GetMessage())
			}
		}
	}
	return nil
}
