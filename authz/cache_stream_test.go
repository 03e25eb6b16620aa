package authz

import (
	"context"
	"fmt"
	"sync"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// endedReads records every ReadRelationships stream and whether its reader
// read it to the end.
type endedReads struct {
	v1.PermissionsServiceClient
	mu      sync.Mutex
	streams []*endedStream
}

type endedStream struct {
	grpc.ServerStreamingClient[v1.ReadRelationshipsResponse]
	ctx   context.Context
	mu    sync.Mutex
	ended bool
}

func (s *endedStream) Recv() (*v1.ReadRelationshipsResponse, error) {
	r, err := s.ServerStreamingClient.Recv()
	if err != nil {
		s.mu.Lock()
		s.ended = true
		s.mu.Unlock()
	}
	return r, err
}

func (e *endedReads) ReadRelationships(ctx context.Context, in *v1.ReadRelationshipsRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[v1.ReadRelationshipsResponse], error) {
	st, err := e.PermissionsServiceClient.ReadRelationships(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	s := &endedStream{ServerStreamingClient: st, ctx: ctx}
	e.mu.Lock()
	e.streams = append(e.streams, s)
	e.mu.Unlock()
	return s, nil
}

// count is how many streams were opened (the cache's probe opens some in
// the background, so under the lock).
func (e *endedReads) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.streams)
}

// open counts the streams neither read to the end nor cancelled: each
// holds its state on both sides of the connection until its context ends.
func (e *endedReads) open() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.streams {
		s.mu.Lock()
		if !s.ended && s.ctx.Err() == nil {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// A change whose eviction stops reading what refers to its resource (a
// folder with more children than subjectAbove) leaves no stream open, also
// when the watch evicts it (another node's write), whose context lasts as
// long as the watch.
func TestEvictionsLeaveNoReadOpen(t *testing.T) {
	reads := &endedReads{}
	e := cachedEngine(t, Config{
		testOtherNode: true,
		testClients: func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
			reads.PermissionsServiceClient = p
			return reads, w
		},
	})
	ctx := context.Background()
	top := Obj("folder", "top")
	var children []Update
	for i := range subjectSideAbove + 8 {
		children = append(children, TouchRel(Rel(Obj("file", fmt.Sprintf("c%d", i)), "parent", top.AsSubject())))
	}
	_, err := e.Write(ctx, children)
	require.NoError(t, err)
	before := reads.count()
	for i := range 5 {
		tok, err := e.Write(ctx, []Update{TouchRel(Rel(top, "viewer", Subject("user", fmt.Sprintf("u%d", i))))})
		require.NoError(t, err)
		caughtUp(t, e, tok)
	}
	require.Greater(t, reads.count(), before, "the grants' evictions read what refers to the folder")
	require.Zero(t, reads.open(), "every read was read to its end or cancelled")
}
