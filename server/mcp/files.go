package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/protobuf/types/known/timestamppb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

// Entry is a file or folder as the tools return it.
type Entry struct {
	Path       string `json:"path"`
	Kind       string `json:"kind" jsonschema:"file or folder"`
	Size       int64  `json:"size,omitempty" jsonschema:"bytes (files)"`
	Version    int64  `json:"version,omitempty" jsonschema:"current version (files; from 1)"`
	MediaType  string `json:"media_type,omitempty"`
	ModifiedBy string `json:"modified_by,omitempty"`
	ModifiedAt string `json:"modified_at,omitempty" jsonschema:"RFC 3339"`
}

func entryOf(e *nexusv1.Entry) Entry {
	kind := "file"
	if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
		kind = "folder"
	}
	return Entry{Path: e.GetPath(), Kind: kind, Size: e.GetSize(), Version: e.GetVersion(), MediaType: e.GetMediaType(),
		ModifiedBy: e.GetModifiedBy(), ModifiedAt: rfc3339(e.GetModifiedAt())}
}

func entriesOf(es []*nexusv1.Entry) []Entry {
	out := make([]Entry, 0, len(es))
	for _, e := range es {
		out = append(out, entryOf(e))
	}
	return out
}

func rfc3339(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// consistency asks for an answer at least as fresh as token, if one is given.
func consistency(token string) *nexusv1.Consistency {
	if token == "" {
		return nil
	}
	return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}}
}

type pathIn struct {
	Path             string `json:"path" jsonschema:"absolute path, such as /docs/notes.md"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

type listIn struct {
	Path             string `json:"path" jsonschema:"absolute path of a folder; / is the zone's root"`
	PageSize         int    `json:"page_size,omitempty" jsonschema:"entries per page, 1-200 (default 50)"`
	PageToken        string `json:"page_token,omitempty" jsonschema:"next_page_token of the previous page"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// Page is a page of entries.
type Page struct {
	Entries       []Entry `json:"entries"`
	NextPageToken string  `json:"next_page_token,omitempty" jsonschema:"pass it back as page_token for the next page; absent on the last page"`
}

type readIn struct {
	Path             string `json:"path" jsonschema:"absolute path of a file"`
	Offset           int64  `json:"offset,omitempty" jsonschema:"first byte to read (default 0)"`
	Length           int64  `json:"length,omitempty" jsonschema:"bytes to read, at most the read cap named in the tool's description (default: up to the cap)"`
	Version          int64  `json:"version,omitempty" jsonschema:"an older version to read (default: the current one)"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// ReadOut describes what read returns: a range of a file. A text range is
// the result's first content block, exactly (a second block says where to
// go on when truncated); a binary range is in Base64.
type ReadOut struct {
	Path       string `json:"path"`
	Version    int64  `json:"version"`
	Size       int64  `json:"size" jsonschema:"the whole file's size in bytes"`
	MediaType  string `json:"media_type,omitempty"`
	Offset     int64  `json:"offset"`
	Length     int64  `json:"length" jsonschema:"bytes returned"`
	Truncated  bool   `json:"truncated" jsonschema:"true when the file goes on past what was returned"`
	NextOffset int64  `json:"next_offset,omitempty" jsonschema:"with truncated: the offset to read next"`
	Binary     bool   `json:"binary" jsonschema:"false: the bytes are UTF-8 text, the result's first content block; true: they are in base64"`
	Base64     string `json:"base64,omitempty" jsonschema:"the bytes of a binary range"`
}

type writeIn struct {
	Path            string `json:"path" jsonschema:"absolute path of the file to create or overwrite"`
	Text            string `json:"text,omitempty" jsonschema:"the new content, as text (give text or base64)"`
	Base64          string `json:"base64,omitempty" jsonschema:"the new content, base64-encoded, for binary files"`
	ExpectedVersion int64  `json:"expected_version,omitempty" jsonschema:"write only if the file is at this version (from stat or read); -1: only if it does not exist yet; 0 or absent: whatever its version"`
	CreateParents   bool   `json:"create_parents,omitempty" jsonschema:"create missing folders above it"`
	MediaType       string `json:"media_type,omitempty" jsonschema:"such as text/markdown; guessed when absent"`
}

// Changed is what a change returns: the entry as it is now, and the token
// that makes a later read see the change.
type Changed struct {
	Entry            *Entry `json:"entry,omitempty"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"pass it to a later call's consistency_token to see this change"`
}

type mkdirIn struct {
	Path    string `json:"path" jsonschema:"absolute path of the folder to create"`
	Parents bool   `json:"parents,omitempty" jsonschema:"create missing folders above it too, and do not fail if it exists"`
}

type moveIn struct {
	Source      string `json:"source" jsonschema:"absolute path of the entry"`
	Destination string `json:"destination" jsonschema:"absolute path it gets"`
}

type deleteIn struct {
	Path      string `json:"path" jsonschema:"absolute path of the entry to delete"`
	Recursive bool   `json:"recursive,omitempty" jsonschema:"needed to delete a folder and everything in it"`
}

// Version is one version of a file.
type Version struct {
	Version   int64  `json:"version"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
}

// Versions are a file's versions, newest first.
type Versions struct {
	Versions  []Version `json:"versions"`
	Truncated bool      `json:"truncated" jsonschema:"true when older versions were left out"`
}

type restoreIn struct {
	Path    string `json:"path" jsonschema:"absolute path of the file"`
	Version int64  `json:"version" jsonschema:"the version whose content becomes a new version"`
}

func (s *Server) addFileTools() {
	addTool(s, &sdk.Tool{Name: "list", Annotations: readOnly("List a folder"),
		Description: "List the entries of a folder that you may read, by name, a page at a time. / is the root of your zone."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in listIn) (*sdk.CallToolResult, Page, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Page{}, err
			}
			r, err := s.b.Files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: in.Path, PageSize: pageSize(in.PageSize),
				PageToken: in.PageToken, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Page{}, toolError(in.Path, err)
			}
			return nil, Page{Entries: entriesOf(r.Msg.GetEntries()), NextPageToken: r.Msg.GetNextPageToken()}, nil
		})
	addTool(s, &sdk.Tool{Name: "stat", Annotations: readOnly("Describe an entry"),
		Description: "Describe one file or folder: kind, size, current version, media type, last change."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in pathIn) (*sdk.CallToolResult, Entry, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Entry{}, err
			}
			r, err := s.b.Files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: in.Path, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Entry{}, toolError(in.Path, err)
			}
			return nil, entryOf(r.Msg.GetEntry()), nil
		})
	s.addReadTool()
	addTool(s, &sdk.Tool{Name: "write", Annotations: destructive("Write a file"),
		Description: "Create a file or replace its content (a new version; older ones stay, see versions). Give expected_version " +
			"(from stat or read) to avoid overwriting someone else's change, or -1 to create only."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in writeIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Changed{}, err
			}
			data := []byte(in.Text)
			if in.Base64 != "" {
				if in.Text != "" {
					return nil, Changed{}, fmt.Errorf("give text or base64, not both")
				}
				var err error
				if data, err = base64.StdEncoding.DecodeString(in.Base64); err != nil {
					return nil, Changed{}, fmt.Errorf("base64 is not valid standard base64: %v", err)
				}
			}
			r, err := s.b.Files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: in.Path, Data: data,
				ExpectedVersion: in.ExpectedVersion, CreateParents: in.CreateParents, MediaType: in.MediaType}))
			if err != nil {
				return nil, Changed{}, toolError(in.Path, err)
			}
			return nil, changed(r.Msg.GetEntry(), r.Msg.GetConsistencyToken()), nil
		})
	addTool(s, &sdk.Tool{Name: "mkdir", Annotations: additive("Create a folder", true),
		Description: "Create a folder; with parents, the missing folders above it too."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in mkdirIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Changed{}, err
			}
			r, err := s.b.Files.Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: in.Path, Parents: in.Parents}))
			if err != nil {
				return nil, Changed{}, toolError(in.Path, err)
			}
			return nil, changed(r.Msg.GetEntry(), r.Msg.GetConsistencyToken()), nil
		})
	addTool(s, &sdk.Tool{Name: "move", Annotations: destructive("Move or rename"),
		Description: "Move or rename a file or folder (a folder moves with everything in it)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in moveIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPaths(in.Source, in.Destination); err != nil {
				return nil, Changed{}, err
			}
			r, err := s.b.Files.Move(ctx, connect.NewRequest(&nexusv1.MoveRequest{Source: in.Source, Destination: in.Destination}))
			if err != nil {
				return nil, Changed{}, toolError(in.Source, err)
			}
			return nil, changed(r.Msg.GetEntry(), r.Msg.GetConsistencyToken()), nil
		})
	addTool(s, &sdk.Tool{Name: "copy", Annotations: additive("Copy", false),
		Description: "Copy a file or a whole folder to a new path (content is shared, not duplicated)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in moveIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPaths(in.Source, in.Destination); err != nil {
				return nil, Changed{}, err
			}
			r, err := s.b.Files.Copy(ctx, connect.NewRequest(&nexusv1.CopyRequest{Source: in.Source, Destination: in.Destination}))
			if err != nil {
				return nil, Changed{}, toolError(in.Source, err)
			}
			return nil, changed(r.Msg.GetEntry(), r.Msg.GetConsistencyToken()), nil
		})
	addTool(s, &sdk.Tool{Name: "delete", Annotations: destructive("Delete"),
		Description: "Delete a file, or a folder and everything in it (recursive)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in deleteIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Changed{}, err
			}
			r, err := s.b.Files.Delete(ctx, connect.NewRequest(&nexusv1.DeleteRequest{Path: in.Path, Recursive: in.Recursive}))
			if err != nil {
				return nil, Changed{}, toolError(in.Path, err)
			}
			return nil, Changed{ConsistencyToken: r.Msg.GetConsistencyToken()}, nil
		})
	addTool(s, &sdk.Tool{Name: "versions", Annotations: readOnly("List a file's versions"),
		Description: fmt.Sprintf("List a file's versions, newest first (at most %d).", maxPage)},
		func(ctx context.Context, _ *sdk.CallToolRequest, in pathIn) (*sdk.CallToolResult, Versions, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Versions{}, err
			}
			r, err := s.b.Files.ListVersions(ctx, connect.NewRequest(&nexusv1.ListVersionsRequest{Path: in.Path, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Versions{}, toolError(in.Path, err)
			}
			vs := r.Msg.GetVersions()
			out := Versions{Versions: []Version{}, Truncated: len(vs) > maxPage}
			for _, v := range vs[:min(len(vs), maxPage)] {
				out.Versions = append(out.Versions, Version{Version: v.GetVersion(), Size: v.GetSize(), MediaType: v.GetMediaType(),
					CreatedBy: v.GetCreatedBy(), CreatedAt: rfc3339(v.GetCreatedAt())})
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "restore", Annotations: additive("Restore a version", false),
		Description: "Make a new version of a file with an older version's content (nothing is lost)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in restoreIn) (*sdk.CallToolResult, Changed, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Changed{}, err
			}
			r, err := s.b.Files.RestoreVersion(ctx, connect.NewRequest(&nexusv1.RestoreVersionRequest{Path: in.Path, Version: in.Version}))
			if err != nil {
				return nil, Changed{}, toolError(in.Path, err)
			}
			return nil, changed(r.Msg.GetEntry(), ""), nil
		})
}

func checkPaths(src, dst string) error {
	if err := checkPath("source", src); err != nil {
		return err
	}
	return checkPath("destination", dst)
}

func changed(e *nexusv1.Entry, token string) Changed {
	c := Changed{ConsistencyToken: token}
	if e != nil {
		en := entryOf(e)
		c.Entry = &en
	}
	return c
}

// addReadTool registers read. Unlike the other tools it is registered
// raw: it is the call agents make most, and the SDK's typed handler
// decodes, validates and re-encodes its output (the file's text) once more
// than needed. Its input is validated against the same schema the typed
// tools use, with the same error texts; its output is built to its schema.
func (s *Server) addReadTool() {
	sc := readSchemas()
	inSchema, outSchema, resolved := sc.in, sc.out, sc.resolved
	s.sdk.AddTool(&sdk.Tool{Name: "read", Annotations: readOnly("Read a file"), InputSchema: inSchema, OutputSchema: outSchema,
		Description: fmt.Sprintf("Read a file, or a byte range of it. At most %d bytes come back per call: when truncated is true, "+
			"call again with offset set to next_offset. UTF-8 text comes back as the first content block, exactly; other content "+
			"(binary) as base64 in the structured output.", s.opts.MaxReadBytes)},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var in readIn
			args := map[string]any{}
			if len(req.Params.Arguments) > 0 {
				if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
					return errorResult(fmt.Errorf("unmarshaling arguments: %v", err)), nil
				}
			}
			if err := resolved.Validate(args); err != nil {
				return errorResult(fmt.Errorf("validating \"arguments\": %v", err)), nil
			}
			if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
				return errorResult(fmt.Errorf("unmarshaling arguments: %v", err)), nil
			}
			res, out, err := s.read(ctx, req, in)
			if err != nil {
				return errorResult(err), nil
			}
			res.StructuredContent = out
			return res, nil
		})
	s.tools = append(s.tools, "read")
}

// readSchemas are read's schemas, inferred once.
var readSchemas = sync.OnceValue(func() (sc struct {
	in, out  *jsonschema.Schema
	resolved *jsonschema.Resolved
}) {
	var err error
	if sc.in, err = jsonschema.For[readIn](nil); err == nil {
		if sc.out, err = jsonschema.For[ReadOut](nil); err == nil {
			sc.resolved, err = sc.in.Resolve(nil)
		}
	}
	if err != nil {
		panic(err)
	}
	return sc
})

func errorResult(err error) *sdk.CallToolResult {
	res := &sdk.CallToolResult{}
	res.SetError(err)
	return res
}

// read returns a range of a file, at most the cap: as text when it is
// UTF-8 (a character cut at the end of the range is left for the next
// call), else as base64. The text content says when it is truncated and
// where to go on.
func (s *Server) read(ctx context.Context, _ *sdk.CallToolRequest, in readIn) (*sdk.CallToolResult, ReadOut, error) {
	limit := s.opts.MaxReadBytes
	switch {
	case checkPath("path", in.Path) != nil:
		return nil, ReadOut{}, checkPath("path", in.Path)
	case in.Offset < 0:
		return nil, ReadOut{}, fmt.Errorf("offset %d is negative: give 0 or more", in.Offset)
	case in.Length < 0:
		return nil, ReadOut{}, fmt.Errorf("length %d is negative: give 1 to %d, or leave it out", in.Length, limit)
	case in.Length > limit:
		return nil, ReadOut{}, fmt.Errorf("length %d is over the read cap of %d bytes: read in ranges of at most %d bytes "+
			"(offset 0, then each next_offset)", in.Length, limit, limit)
	}
	n := in.Length
	if n == 0 {
		n = limit
	}
	r, err := s.b.Files.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: in.Path, Offset: in.Offset, Length: n,
		Version: in.Version, Consistency: consistency(in.ConsistencyToken)}))
	if err != nil {
		return nil, ReadOut{}, toolError(in.Path, err)
	}
	e, data := r.Msg.GetEntry(), r.Msg.GetData()
	out := ReadOut{Path: e.GetPath(), Version: e.GetVersion(), Size: e.GetSize(), MediaType: e.GetMediaType(), Offset: r.Msg.GetOffset()}
	text, ok := asText(data, !r.Msg.GetEof())
	if ok {
		data = data[:len(text)]
	} else {
		out.Binary = true
		out.Base64 = base64.StdEncoding.EncodeToString(data)
	}
	out.Length = int64(len(data))
	if end := out.Offset + out.Length; end < out.Size {
		out.Truncated, out.NextOffset = true, end
	}
	// The text goes once, in the content a model reads; the structured
	// output describes it (a copy there would double what every call
	// encodes and decodes).
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
	if out.Binary {
		res.Content[0] = &sdk.TextContent{Text: fmt.Sprintf("%s is binary (%s, %d bytes, version %d): bytes %d-%d are in "+
			"structuredContent.base64", out.Path, orUnknown(out.MediaType), out.Size, out.Version, out.Offset, out.Offset+out.Length)}
	}
	if out.Truncated {
		res.Content = append(res.Content, &sdk.TextContent{Text: fmt.Sprintf("[truncated: bytes %d-%d of %d shown; call read with offset %d for more]",
			out.Offset, out.Offset+out.Length, out.Size, out.NextOffset)})
	}
	return res, out, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "media type unknown"
	}
	return s
}

// asText returns data as text if it is UTF-8 without NUL bytes. cut says
// the range may end inside a character: up to 3 bytes of an incomplete one
// at the end are left out.
func asText(data []byte, cut bool) (string, bool) {
	if bytes.IndexByte(data, 0) >= 0 {
		return "", false
	}
	if utf8.Valid(data) {
		return string(data), true
	}
	if cut {
		for i := 1; i <= 3 && i <= len(data); i++ {
			if i < len(data) && utf8.Valid(data[:len(data)-i]) && !utf8.FullRune(data[len(data)-i:]) {
				return string(data[:len(data)-i]), true
			}
		}
	}
	return "", false
}
