package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

// Files and folders are resources named nexus://ZONE/PATH (each segment
// percent-encoded). FileService answers in the caller's own zone only, so
// a URI of another zone reads as not found, as a hidden or missing path
// does. resources/list is the caller's view: the readable entries at the
// root of its zone, then the entries of its zone shared with it deeper
// down; a folder reads as a JSON listing of its first page.

const (
	scheme      = "nexus://"
	folderMIME  = "inode/directory"
	listingMIME = "application/json"
	listPage    = 100
)

// resourceURI names path of zone.
func resourceURI(zone, path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return scheme + url.PathEscape(zone) + "/" + strings.Join(segs, "/")
}

// parseURI splits nexus://ZONE/PATH, refusing what names no path.
func parseURI(uri string) (zone, path string, err error) {
	rest, ok := strings.CutPrefix(uri, scheme)
	z, p, _ := strings.Cut(rest, "/")
	if !ok || z == "" {
		return "", "", invalidParams("resource %s is not a Nexus URI: give nexus://ZONE/PATH, such as nexus://default/docs/notes.md", quote(uri))
	}
	if zone, err = url.PathUnescape(z); err == nil {
		path, err = url.PathUnescape("/" + p)
	}
	if err != nil {
		return "", "", invalidParams("resource %s is not percent-encoded properly: %v", quote(uri), err)
	}
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	if err := checkPath("the resource's path", path); err != nil {
		return "", "", invalidParams("%v", err)
	}
	return zone, path, nil
}

func invalidParams(format string, args ...any) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

// zone is the caller's zone, asked once.
func (s *Server) zone(ctx context.Context) (string, error) {
	s.zoneMu.Lock()
	defer s.zoneMu.Unlock()
	if s.zoneName != "" {
		return s.zoneName, nil
	}
	r, err := s.b.Identity.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
	if err != nil {
		return "", toolError("you", err)
	}
	s.zoneName = r.Msg.GetUser().GetZone()
	return s.zoneName, nil
}

func (s *Server) addResources() {
	s.sdk.AddResourceTemplate(&sdk.ResourceTemplate{
		Name: "nexus-entry", Title: "A file or folder of Nexus", URITemplate: "nexus://{zone}/{+path}",
		Description: fmt.Sprintf("A file (its content, at most the first %d bytes) or a folder (a JSON listing of its first %d entries) "+
			"that your key may read. Subscribe to be told when it changes as you see it.", s.opts.MaxReadBytes, listPage),
	}, s.readResource)
}

// readResource reads a file or lists a folder, as the caller.
func (s *Server) readResource(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	zone, path, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	mine, err := s.zone(ctx)
	if err != nil {
		return nil, err
	}
	if zone != mine {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	st, err := s.b.Files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: path}))
	if err != nil {
		return nil, resourceError(uri, path, err)
	}
	if st.Msg.GetEntry().GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
		l, err := s.b.Files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: path, PageSize: listPage}))
		if err != nil {
			return nil, resourceError(uri, path, err)
		}
		type child struct {
			URI   string `json:"uri"`
			Entry Entry  `json:"entry"`
		}
		listing := struct {
			Path    string  `json:"path"`
			Entries []child `json:"entries"`
			More    bool    `json:"more,omitempty"`
		}{Path: path, Entries: []child{}, More: l.Msg.GetNextPageToken() != ""}
		for _, e := range l.Msg.GetEntries() {
			listing.Entries = append(listing.Entries, child{URI: resourceURI(zone, e.GetPath()), Entry: entryOf(e)})
		}
		b, _ := json.Marshal(listing)
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: listingMIME, Text: string(b)}}}, nil
	}
	r, err := s.b.Files.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: path, Length: s.opts.MaxReadBytes}))
	if err != nil {
		return nil, resourceError(uri, path, err)
	}
	e, data := r.Msg.GetEntry(), r.Msg.GetData()
	c := &sdk.ResourceContents{URI: uri, MIMEType: e.GetMediaType()}
	if text, ok := asText(data, !r.Msg.GetEof()); ok {
		c.Text, data = text, data[:len(text)]
	} else {
		c.Blob = data
	}
	if int64(len(data)) < e.GetSize() {
		c.Meta = sdk.Meta{"truncated": true, "size": e.GetSize(), "returned": len(data),
			"hint": "the read tool returns the rest, in ranges"}
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{c}}, nil
}

// resourceError: a hidden or missing path is the SDK's resource-not-found;
// anything else says what happened, in a tool error's words.
func resourceError(uri, path string, err error) error {
	if connect.CodeOf(err) == connect.CodeNotFound {
		return sdk.ResourceNotFoundError(uri)
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: toolError(path, err).Error()}
}

// listResources answers resources/list with the caller's view: the root
// of its zone, then what is shared with it below the root. The cursor
// says which of the two it is in: "root:TOKEN" or "shared:TOKEN".
func (s *Server) listResources(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		if method != "resources/list" {
			return next(ctx, method, req)
		}
		var cursor string
		if r, ok := req.(*sdk.ListResourcesRequest); ok && r.Params != nil {
			cursor = r.Params.Cursor
		}
		zone, err := s.zone(ctx)
		if err != nil {
			return nil, err
		}
		res := &sdk.ListResourcesResult{Resources: []*sdk.Resource{}}
		add := func(e *nexusv1.Entry) {
			r := &sdk.Resource{URI: resourceURI(zone, e.GetPath()), Name: e.GetName(), Title: e.GetPath(), MIMEType: e.GetMediaType(), Size: e.GetSize()}
			if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
				r.MIMEType, r.Size = folderMIME, 0
			}
			res.Resources = append(res.Resources, r)
		}
		phase, token, _ := strings.Cut(cursor, ":")
		switch phase {
		case "", "root":
			l, err := s.b.Files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: "/", PageSize: listPage, PageToken: token}))
			if err != nil {
				return nil, resourceError(scheme+zone+"/", "/", err)
			}
			for _, e := range l.Msg.GetEntries() {
				add(e)
			}
			res.NextCursor = "shared:"
			if t := l.Msg.GetNextPageToken(); t != "" {
				res.NextCursor = "root:" + t
			}
		case "shared":
			l, err := s.b.Share.SharedWithMe(ctx, connect.NewRequest(&nexusv1.SharedWithMeRequest{PageSize: listPage, PageToken: token}))
			if err != nil {
				return nil, resourceError(scheme+zone+"/", "/", err)
			}
			for _, e := range l.Msg.GetEntries() {
				// Another zone's entries cannot be read through FileService
				// yet; entries at the root were listed already.
				if p := e.GetEntry().GetPath(); e.GetZone() == zone && strings.Count(p, "/") > 1 {
					add(e.GetEntry())
				}
			}
			if t := l.Msg.GetNextPageToken(); t != "" {
				res.NextCursor = "shared:" + t
			}
		default:
			return nil, invalidParams("cursor %s is not one this server gave: start again without a cursor", quote(cursor))
		}
		return res, nil
	}
}

// watcher keeps the caller's subscribed resources and polls them, as the
// caller, every PollInterval: when what the caller sees of one changes
// (its content, its kind, or whether it may see it at all) the sessions
// subscribed to it are told. After a revoke a resource reads as missing,
// once; what happens to it after that is not the caller's to know.
type watcher struct {
	s       *Server
	ctx     context.Context // done when the server closes
	cancel  context.CancelFunc
	mu      sync.Mutex
	watches map[string]*watch // by URI
	running bool
	closed  bool
}

type watch struct {
	path     string
	foreign  bool // another zone's: never readable, never polled
	state    string
	sessions map[*sdk.ServerSession]bool
}

func newWatcher(s *Server) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &watcher{s: s, ctx: ctx, cancel: cancel, watches: map[string]*watch{}}
}

func (w *watcher) subscribe(ctx context.Context, req *sdk.SubscribeRequest) error {
	uri := req.Params.URI
	zone, path, err := parseURI(uri)
	if err != nil {
		return err
	}
	mine, err := w.s.zone(ctx)
	if err != nil {
		return err
	}
	foreign := zone != mine
	state := absent
	if !foreign {
		state = w.s.state(ctx, path)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.watches[uri]
	if wt == nil {
		if len(w.watches) >= w.s.opts.MaxSubscriptions {
			return invalidParams("at most %d resources may be subscribed to at once: unsubscribe from some first", w.s.opts.MaxSubscriptions)
		}
		wt = &watch{path: path, foreign: foreign, state: state, sessions: map[*sdk.ServerSession]bool{}}
		w.watches[uri] = wt
	}
	wt.sessions[req.Session] = true
	if !w.running && !w.closed {
		w.running = true
		go w.run()
	}
	return nil
}

func (w *watcher) unsubscribe(_ context.Context, req *sdk.UnsubscribeRequest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.watches[req.Params.URI]; wt != nil {
		delete(wt.sessions, req.Session)
		if len(wt.sessions) == 0 {
			delete(w.watches, req.Params.URI)
		}
	}
	return nil
}

func (w *watcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.cancel()
}

func (w *watcher) run() {
	t := time.NewTicker(w.s.opts.PollInterval)
	defer t.Stop()
	for w.round(w.ctx) {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round checks every watched resource once, in URI order, and says
// whether there is anything left to watch.
func (w *watcher) round(ctx context.Context) bool {
	live := map[*sdk.ServerSession]bool{}
	for ss := range w.s.sdk.Sessions() {
		live[ss] = true
	}
	w.mu.Lock()
	var uris []string
	for uri, wt := range w.watches {
		for ss := range wt.sessions {
			if !live[ss] {
				delete(wt.sessions, ss)
			}
		}
		if len(wt.sessions) == 0 {
			delete(w.watches, uri)
		} else if !wt.foreign {
			uris = append(uris, uri)
		}
	}
	if len(w.watches) == 0 || w.closed {
		w.running = false
		w.mu.Unlock()
		return false
	}
	w.mu.Unlock()
	sort.Strings(uris)
	for _, uri := range uris {
		w.mu.Lock()
		wt := w.watches[uri]
		w.mu.Unlock()
		if wt == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, pollTimeout)
		st := w.s.state(cctx, wt.path)
		cancel()
		if st == "" {
			continue // could not tell (an outage, a revoked key): nothing to say
		}
		w.mu.Lock()
		changed := wt.state != st
		wt.state = st
		w.mu.Unlock()
		if changed {
			_ = w.s.sdk.ResourceUpdated(ctx, &sdk.ResourceUpdatedNotificationParams{URI: uri})
		}
	}
	return true
}

// pollTimeout bounds one resource's check.
const pollTimeout = 10 * time.Second

// absent is the state of what the caller cannot see, hidden or missing.
const absent = "absent"

// state is what the caller sees of path, in a string that changes when
// that does: a file's version and content, a folder's first page of
// children. "" means it could not be told.
func (s *Server) state(ctx context.Context, path string) string {
	st, err := s.b.Files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: path}))
	if err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			return absent
		}
		return ""
	}
	e := st.Msg.GetEntry()
	if e.GetKind() != nexusv1.EntryKind_ENTRY_KIND_FOLDER {
		return fmt.Sprintf("file %s %d %d %s", e.GetId(), e.GetVersion(), e.GetSize(), e.GetContentHash())
	}
	l, err := s.b.Files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: path, PageSize: listPage}))
	if err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			return absent
		}
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "folder %s", e.GetId())
	for _, c := range l.Msg.GetEntries() {
		fmt.Fprintf(&b, "\n%s %d %s", c.GetName(), c.GetVersion(), c.GetContentHash())
	}
	return b.String()
}
