package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/proto"
)

// The SpiceDB API from the command line, in zed's words: nexus schema
// read|write, nexus relationship create|touch|delete|read, nexus permission
// check|lookup-resources|lookup-subjects, on any definition (a service's
// own, such as billing/invoice, and Nexus's own where the key may). They
// take a service key (nexus admin key create --user NAME --scope ...).

// spiceUnary calls one unary method of the SpiceDB API.
func spiceUnary[Req, Resp any](ctx context.Context, c *client, procedure string, req *Req) (*Resp, error) {
	resp, err := connect.NewClient[Req, Resp](c.httpClient(), c.spiceURL(procedure), c.options()...).
		CallUnary(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// consistencyFlags are zed's: --consistency-at-least TOKEN, or
// --consistency-full; minimize_latency otherwise.
type consistencyFlags struct {
	atLeast string
	full    bool
}

func (f *consistencyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.atLeast, "consistency-at-least", "", "answer at least as fresh as this token (a write's)")
	cmd.Flags().BoolVar(&f.full, "consistency-full", false, "answer at the newest revision")
}

func (f *consistencyFlags) proto() *v1.Consistency {
	switch {
	case f.full:
		return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	case f.atLeast != "":
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: f.atLeast}}}
	}
	return &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
}

// parseRef parses "type:id" for flag or argument name what.
func parseRef(what, s string) (*v1.ObjectReference, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok || typ == "" || id == "" {
		return nil, fmt.Errorf("%s %q must be TYPE:ID (billing/invoice:inv_42)", what, s)
	}
	return &v1.ObjectReference{ObjectType: typ, ObjectId: id}, nil
}

// parseSubject parses "type:id" or "type:id#relation".
func parseSubject(s string) (*v1.SubjectReference, error) {
	ref, rel, _ := strings.Cut(s, "#")
	obj, err := parseRef("subject", ref)
	if err != nil {
		return nil, fmt.Errorf("subject %q must be TYPE:ID or TYPE:ID#RELATION (user:u_1, group:g_1#member)", s)
	}
	return &v1.SubjectReference{Object: obj, OptionalRelation: rel}, nil
}

func (c *client) printOr(m proto.Message, text string) {
	if !c.printJSON(m) {
		fmt.Fprintln(c.out, text)
	}
}

func newSchemaCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "schema", Short: "Read or write the SpiceDB schema (zed schema read|write)"}
	read := &cobra.Command{
		Use:   "read",
		Short: "Print the schema: Nexus's definitions and every service's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := spiceUnary[v1.ReadSchemaRequest, v1.ReadSchemaResponse](cmd.Context(), cl, "/authzed.api.v1.SchemaService/ReadSchema", &v1.ReadSchemaRequest{})
			if err != nil {
				return err
			}
			cl.printOr(resp, strings.TrimRight(resp.GetSchemaText(), "\n"))
			return nil
		},
	}
	write := &cobra.Command{
		Use:   "write FILE",
		Short: "Replace the schema with FILE (- for stdin); it must keep Nexus's definitions (an operator's write key)",
		Long: `Replace the schema with FILE (- reads stdin). Start from nexus schema read:
Nexus's own definitions must stay as they are; services' may be added,
changed or dropped. It takes an operator's key of scope write. Example:
  nexus schema read > schema.zed && $EDITOR schema.zed && nexus schema write schema.zed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b []byte
			var err error
			if args[0] == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			resp, err := spiceUnary[v1.WriteSchemaRequest, v1.WriteSchemaResponse](cmd.Context(), cl, "/authzed.api.v1.SchemaService/WriteSchema", &v1.WriteSchemaRequest{Schema: string(b)})
			if err != nil {
				return err
			}
			cl.printOr(resp, "schema written; token "+resp.GetWrittenAt().GetToken())
			return nil
		},
	}
	cmd.AddCommand(read, write)
	return cmd
}

func newRelationshipCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "relationship", Short: "Create, touch, delete, read or watch relationships (zed relationship ...)"}
	write := func(use string, op v1.RelationshipUpdate_Operation, short string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " RELATIONSHIP...",
			Short: short,
			Long: short + `; each RELATIONSHIP as zed writes them, all in one write:
  nexus relationship ` + use + ` billing/invoice:inv_42#viewer@user:u_1 billing/invoice:inv_42#viewer@group:g_1#member
It prints the write's token, for --consistency-at-least.`,
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				req := &v1.WriteRelationshipsRequest{}
				for _, a := range args {
					rel, err := tuple.ParseV1Rel(a)
					if err != nil {
						return fmt.Errorf("%q is not a relationship (want TYPE:ID#RELATION@TYPE:ID or @TYPE:ID#RELATION): %w", a, err)
					}
					req.Updates = append(req.Updates, &v1.RelationshipUpdate{Operation: op, Relationship: rel})
				}
				resp, err := spiceUnary[v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse](cmd.Context(), cl, "/authzed.api.v1.PermissionsService/WriteRelationships", req)
				if err != nil {
					return err
				}
				cl.printOr(resp, resp.GetWrittenAt().GetToken())
				return nil
			},
		}
	}
	var relation, subject string
	var cons consistencyFlags
	read := &cobra.Command{
		Use:   "read TYPE[:ID]",
		Short: "Print the relationships of a definition (or of one object), one a line",
		Long: `Print relationships one a line, as nexus import reads them, of definition
TYPE or of object TYPE:ID, narrowed by --relation and --subject (TYPE or
TYPE:ID or TYPE:ID#RELATION). Example:
  nexus relationship read billing/invoice:inv_42 --relation viewer`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := relFilter(args[0], relation, subject)
			stream, err := connect.NewClient[v1.ReadRelationshipsRequest, v1.ReadRelationshipsResponse](
				cl.streamClient(), cl.spiceURL("/authzed.api.v1.PermissionsService/ReadRelationships"), cl.options()...).
				CallServerStream(cmd.Context(), connect.NewRequest(&v1.ReadRelationshipsRequest{Consistency: cons.proto(), RelationshipFilter: f}))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				if cl.printJSON(stream.Msg()) {
					continue
				}
				s, err := tuple.V1StringRelationship(stream.Msg().GetRelationship())
				if err != nil {
					return err
				}
				fmt.Fprintln(cl.out, s)
			}
			return stream.Err()
		},
	}
	read.Flags().StringVar(&relation, "relation", "", "only this relation")
	read.Flags().StringVar(&subject, "subject", "", "only subjects of TYPE, TYPE:ID or TYPE:ID#RELATION")
	cons.add(read)
	var force bool
	var limit uint32
	bulkDelete := &cobra.Command{
		Use:   "bulk-delete TYPE[:ID]",
		Short: "Delete every relationship a filter matches (zed relationship bulk-delete)",
		Long: `Delete the relationships of definition TYPE (or of object TYPE:ID),
narrowed by --relation and --subject as read narrows them, in one write. It
says how many match and asks first, unless --force (which a script needs:
without a terminal it refuses rather than asks). --limit N deletes at most
N and says whether more are left. Example:
  nexus relationship bulk-delete billing/invoice --subject billing/customer:acme --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := relFilter(args[0], relation, subject)
			if !force {
				n, err := countRelationships(cmd.Context(), cl, f)
				if err != nil {
					return err
				}
				if n == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "no relationship matches; nothing deleted")
					return nil
				}
				if err := confirm(cmd, fmt.Sprintf("delete %d relationships of %s?", n, args[0])); err != nil {
					return err
				}
			}
			resp, err := spiceUnary[v1.DeleteRelationshipsRequest, v1.DeleteRelationshipsResponse](cmd.Context(), cl,
				"/authzed.api.v1.PermissionsService/DeleteRelationships",
				&v1.DeleteRelationshipsRequest{RelationshipFilter: f, OptionalLimit: limit, OptionalAllowPartialDeletions: limit > 0})
			if err != nil {
				return err
			}
			if cl.printJSON(resp) {
				return nil
			}
			more := ""
			if resp.GetDeletionProgress() == v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL {
				more = " (more match: run it again)"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted %d relationships%s\n", resp.GetRelationshipsDeletedCount(), more)
			fmt.Fprintln(cl.out, resp.GetDeletedAt().GetToken())
			return nil
		},
	}
	bulkDelete.Flags().StringVar(&relation, "relation", "", "only this relation")
	bulkDelete.Flags().StringVar(&subject, "subject", "", "only subjects of TYPE, TYPE:ID or TYPE:ID#RELATION")
	bulkDelete.Flags().BoolVar(&force, "force", false, "delete without asking")
	bulkDelete.Flags().Uint32Var(&limit, "limit", 0, "delete at most this many (0: all, up to 1,000)")
	var since string
	watch := &cobra.Command{
		Use:   "watch TYPE...",
		Short: "Print changes to the relationships of the definitions named, as they happen, until interrupted",
		Long: `Print each change to the relationships of the TYPEs, as it commits, one a
line: TOUCH or DELETE, then the relationship as zed writes it. --since TOKEN
starts from a write's token (or a token printed before) instead of now. A key
that is not an operator's must name types of services' definitions:
  nexus relationship watch billing/invoice billing/customer`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &v1.WatchRequest{OptionalObjectTypes: args}
			if since != "" {
				req.OptionalStartCursor = &v1.ZedToken{Token: since}
			}
			stream, err := connect.NewClient[v1.WatchRequest, v1.WatchResponse](
				cl.streamClient(), cl.spiceURL("/authzed.api.v1.WatchService/Watch"), cl.options()...).
				CallServerStream(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				if cl.printJSON(stream.Msg()) {
					continue
				}
				for _, u := range stream.Msg().GetUpdates() {
					s, err := tuple.V1StringRelationship(u.GetRelationship())
					if err != nil {
						return err
					}
					op := strings.TrimPrefix(u.GetOperation().String(), "OPERATION_")
					fmt.Fprintln(cl.out, op+" "+s)
				}
			}
			if cmd.Context().Err() != nil {
				return nil // interrupted: the end a watch expects
			}
			return stream.Err()
		},
	}
	watch.Flags().StringVar(&since, "since", "", "start from this token instead of now")
	cmd.AddCommand(
		watch,
		write("create", v1.RelationshipUpdate_OPERATION_CREATE, "Create relationships (already_exists if one is there)"),
		write("touch", v1.RelationshipUpdate_OPERATION_TOUCH, "Create relationships, or keep them if they are there"),
		write("delete", v1.RelationshipUpdate_OPERATION_DELETE, "Delete relationships"),
		read,
		bulkDelete,
	)
	return cmd
}

// relFilter is the filter of arg (TYPE or TYPE:ID), relation and subject
// (TYPE, TYPE:ID or TYPE:ID#RELATION), as read and bulk-delete take them.
func relFilter(arg, relation, subject string) *v1.RelationshipFilter {
	typ, id, _ := strings.Cut(arg, ":")
	f := &v1.RelationshipFilter{ResourceType: typ, OptionalResourceId: id, OptionalRelation: relation}
	if subject != "" {
		st, rest, _ := strings.Cut(subject, ":")
		sid, srel, hasRel := strings.Cut(rest, "#")
		f.OptionalSubjectFilter = &v1.SubjectFilter{SubjectType: st, OptionalSubjectId: sid}
		if hasRel {
			f.OptionalSubjectFilter.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: srel}
		}
	}
	return f
}

// countRelationships counts what f matches, fully consistent.
func countRelationships(ctx context.Context, cl *client, f *v1.RelationshipFilter) (int, error) {
	stream, err := connect.NewClient[v1.ReadRelationshipsRequest, v1.ReadRelationshipsResponse](
		cl.streamClient(), cl.spiceURL("/authzed.api.v1.PermissionsService/ReadRelationships"), cl.options()...).
		CallServerStream(ctx, connect.NewRequest(&v1.ReadRelationshipsRequest{
			Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
			RelationshipFilter: f,
		}))
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	n := 0
	for stream.Receive() {
		n++
	}
	return n, stream.Err()
}

// confirm asks question on a terminal and fails unless the answer is yes;
// without a terminal it fails, naming --force.
func confirm(cmd *cobra.Command, question string) error {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("%s: not asked without a terminal; pass --force to delete without asking", strings.TrimSuffix(question, "?"))
	}
	fmt.Fprint(cmd.ErrOrStderr(), question+" [y/N] ")
	answer, _ := bufio.NewReader(f).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("not deleted")
	}
	return nil
}

func newPermissionCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "permission", Short: "Check and look up permissions on any definition (zed permission ...)"}
	var cons consistencyFlags
	var errorOnNo bool
	check := &cobra.Command{
		Use:   "check RESOURCE PERMISSION SUBJECT",
		Short: "Print true or false: may SUBJECT do PERMISSION on RESOURCE",
		Long: `Print true or false (as zed does), or the caveated answer. With
--error-on-no-permission a denial exits 1, so a script can gate on it.
  nexus permission check billing/invoice:inv_42 view user:u_1 --error-on-no-permission`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseRef("resource", args[0])
			if err != nil {
				return err
			}
			sub, err := parseSubject(args[2])
			if err != nil {
				return err
			}
			resp, err := spiceUnary[v1.CheckPermissionRequest, v1.CheckPermissionResponse](cmd.Context(), cl, "/authzed.api.v1.PermissionsService/CheckPermission",
				&v1.CheckPermissionRequest{Consistency: cons.proto(), Resource: res, Permission: args[1], Subject: sub})
			if err != nil {
				return err
			}
			allowed := resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
			text := fmt.Sprint(allowed)
			if resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
				text = "caveated (missing context: " + strings.Join(resp.GetPartialCaveatInfo().GetMissingRequiredContext(), ", ") + ")"
			}
			cl.printOr(resp, text)
			if !allowed && errorOnNo {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cons.add(check)
	check.Flags().BoolVar(&errorOnNo, "error-on-no-permission", false, "exit 1 when the subject lacks the permission")
	var lrCons, lsCons consistencyFlags
	lookupResources := &cobra.Command{
		Use:   "lookup-resources TYPE PERMISSION SUBJECT",
		Short: "Print the ids of the TYPE objects SUBJECT has PERMISSION on, one a line",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			sub, err := parseSubject(args[2])
			if err != nil {
				return err
			}
			stream, err := connect.NewClient[v1.LookupResourcesRequest, v1.LookupResourcesResponse](
				cl.streamClient(), cl.spiceURL("/authzed.api.v1.PermissionsService/LookupResources"), cl.options()...).
				CallServerStream(cmd.Context(), connect.NewRequest(&v1.LookupResourcesRequest{
					Consistency: lrCons.proto(), ResourceObjectType: args[0], Permission: args[1], Subject: sub}))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				cl.printOr(stream.Msg(), stream.Msg().GetResourceObjectId())
			}
			return stream.Err()
		},
	}
	lrCons.add(lookupResources)
	lookupSubjects := &cobra.Command{
		Use:   "lookup-subjects RESOURCE PERMISSION SUBJECT_TYPE[#RELATION]",
		Short: "Print the ids of the subjects of SUBJECT_TYPE with PERMISSION on RESOURCE, one a line",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseRef("resource", args[0])
			if err != nil {
				return err
			}
			st, srel, _ := strings.Cut(args[2], "#")
			stream, err := connect.NewClient[v1.LookupSubjectsRequest, v1.LookupSubjectsResponse](
				cl.streamClient(), cl.spiceURL("/authzed.api.v1.PermissionsService/LookupSubjects"), cl.options()...).
				CallServerStream(cmd.Context(), connect.NewRequest(&v1.LookupSubjectsRequest{
					Consistency: lsCons.proto(), Resource: res, Permission: args[1], SubjectObjectType: st, OptionalSubjectRelation: srel}))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				cl.printOr(stream.Msg(), stream.Msg().GetSubject().GetSubjectObjectId())
			}
			return stream.Err()
		},
	}
	lsCons.add(lookupSubjects)
	cmd.AddCommand(check, lookupResources, lookupSubjects)
	return cmd
}
