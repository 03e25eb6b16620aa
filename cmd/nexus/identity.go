package main

import (
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/identity"
)

func newWhoamiCmd(cl *client) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the user the API key belongs to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := cl.identity().WhoAmI(cmd.Context(), connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			if err != nil {
				return err
			}
			m := resp.Msg
			if cl.printJSON(m) {
				return nil
			}
			role := "member"
			if m.GetOperator() {
				role = "operator (admin of zone default)"
			} else if m.GetZoneAdmin() {
				role = "zone admin"
			}
			fmt.Fprintf(cl.out, "user:  %s\nzone:  %s\nrole:  %s\nkey:   %s\n", m.GetUser().GetName(), m.GetUser().GetZone(), role, m.GetKeyId())
			return nil
		},
	}
}

func newAdminCmd(cl *client) *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Manage zones, users, groups and API keys"}
	admin.AddCommand(newZoneCmd(cl), newUserCmd(cl), newGroupCmd(cl), newKeyCmd(cl))
	return admin
}

func newZoneCmd(cl *client) *cobra.Command {
	zone := &cobra.Command{Use: "zone", Short: "Manage zones (operators only)"}
	zone.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create a zone",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.identity().CreateZone(cmd.Context(), connect.NewRequest(&nexusv1.CreateZoneRequest{Name: args[0]}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.out, "created zone %s\n", resp.Msg.GetZone().GetName())
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "ls",
		Short: "List zones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := cl.identity().ListZones(cmd.Context(), connect.NewRequest(&nexusv1.ListZonesRequest{}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("NAME", "ID", "CREATED")
			for _, z := range resp.Msg.GetZones() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", z.GetName(), z.GetId(), fmtTime(z.GetCreatedAt()))
			}
			return tw.Flush()
		},
	})
	return zone
}

func newUserCmd(cl *client) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage users"}
	var zone, agentOf string
	var zoneAdmin bool
	create := &cobra.Command{
		Use:   "create NAME [--zone Z] [--admin] [--agent-of USER]",
		Short: "Create a user (in the caller's zone unless --zone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.identity().CreateUser(cmd.Context(), connect.NewRequest(&nexusv1.CreateUserRequest{Name: args[0], Zone: zone, ZoneAdmin: zoneAdmin, AgentOf: agentOf}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.out, "created user %s in zone %s\n", resp.Msg.GetUser().GetName(), resp.Msg.GetUser().GetZone())
			}
			return nil
		},
	}
	create.Flags().StringVar(&zone, "zone", "", "zone name (default: the caller's)")
	create.Flags().BoolVar(&zoneAdmin, "admin", false, "make the user an admin of the zone")
	create.Flags().StringVar(&agentOf, "agent-of", "", "create an agent owned by this user, who may read what it remembers")
	var lsZone string
	ls := &cobra.Command{
		Use:   "ls [--zone Z]",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := cl.identity().ListUsers(cmd.Context(), connect.NewRequest(&nexusv1.ListUsersRequest{Zone: lsZone}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("NAME", "ZONE", "ROLE", "ID", "CREATED")
			for _, u := range resp.Msg.GetUsers() {
				role := "member"
				switch {
				case u.GetZoneAdmin():
					role = "zone admin"
				case u.GetAgentOf() != "":
					role = "agent of " + u.GetAgentOf()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.GetName(), u.GetZone(), role, u.GetId(), fmtTime(u.GetCreatedAt()))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&lsZone, "zone", "", "zone name (default: the caller's)")
	user.AddCommand(create, ls)
	return user
}

func newGroupCmd(cl *client) *cobra.Command {
	group := &cobra.Command{Use: "group", Short: "Manage groups and their members"}
	var zone string
	create := &cobra.Command{
		Use:   "create NAME [--zone Z]",
		Short: "Create a group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.identity().CreateGroup(cmd.Context(), connect.NewRequest(&nexusv1.CreateGroupRequest{Name: args[0], Zone: zone}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.out, "created group %s in zone %s\n", resp.Msg.GetGroup().GetName(), resp.Msg.GetGroup().GetZone())
			}
			return nil
		},
	}
	create.Flags().StringVar(&zone, "zone", "", "zone name (default: the caller's)")
	add := &cobra.Command{
		Use:   "add GROUP MEMBER",
		Short: "Add a member (user:NAME, group:NAME, or a bare user NAME)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cl.identity().AddGroupMember(cmd.Context(), connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: args[0], Member: args[1]}))
			if err == nil && !cl.json {
				fmt.Fprintf(cl.out, "added %s to %s\n", args[1], args[0])
			}
			return err
		},
	}
	remove := &cobra.Command{
		Use:   "remove GROUP MEMBER",
		Short: "Remove a direct member",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cl.identity().RemoveGroupMember(cmd.Context(), connect.NewRequest(&nexusv1.RemoveGroupMemberRequest{Group: args[0], Member: args[1]}))
			if err == nil && !cl.json {
				fmt.Fprintf(cl.out, "removed %s from %s\n", args[1], args[0])
			}
			return err
		},
	}
	members := &cobra.Command{
		Use:   "members GROUP",
		Short: "List a group's direct members",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.identity().ListGroupMembers(cmd.Context(), connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: args[0]}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				for _, m := range resp.Msg.GetMembers() {
					fmt.Fprintln(cl.out, m)
				}
			}
			return nil
		},
	}
	var lsZone string
	ls := &cobra.Command{
		Use:   "ls [--zone Z]",
		Short: "List groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := cl.identity().ListGroups(cmd.Context(), connect.NewRequest(&nexusv1.ListGroupsRequest{Zone: lsZone}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("NAME", "ZONE", "ID", "CREATED")
			for _, g := range resp.Msg.GetGroups() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.GetName(), g.GetZone(), g.GetId(), fmtTime(g.GetCreatedAt()))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&lsZone, "zone", "", "zone name (default: the caller's)")
	group.AddCommand(create, add, remove, members, ls)
	return group
}

func newKeyCmd(cl *client) *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Manage API keys"}
	var user, description string
	var scopes []string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create --user NAME [--expires 720h] [--scope check|write|write:PREFIX/]...",
		Short: "Create an API key; prints only the key on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expires < 0 {
				return fmt.Errorf("invalid_argument: --expires %s must not be negative", expires)
			}
			resp, err := cl.identity().CreateAPIKey(cmd.Context(), connect.NewRequest(&nexusv1.CreateAPIKeyRequest{
				User: user, Description: description, ExpiresInSeconds: int64(expires / time.Second), Scope: strings.Join(scopes, ","),
			}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			fmt.Fprintln(cl.out, resp.Msg.GetSecret())
			fmt.Fprintf(cl.errOut, "key id %s for %s/%s (shown once; store it now)\n", resp.Msg.GetKey().GetId(), resp.Msg.GetKey().GetZone(), resp.Msg.GetKey().GetUser())
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "user name or zone/name (default: the caller)")
	create.Flags().StringVar(&description, "description", "", "what the key is for")
	create.Flags().Var((*days)(&expires), "expires", "lifetime, such as 30d, 2w or 720h (default: never expires)")
	create.Flags().StringArrayVar(&scopes, "scope", nil, "make a service key for the SpiceDB API (operators only): check (read-only), write (every service definition) or write:PREFIX/ (only definitions named PREFIX/..., such as write:billing/; repeatable)")
	revoke := &cobra.Command{
		Use:   "revoke KEY-ID|KEY",
		Short: "Revoke an API key by its id (key_…) or by the key itself (nx_…)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if strings.HasPrefix(id, "nx_") {
				kid, ok := identity.KeyIDOf(id)
				if !ok {
					return fmt.Errorf("invalid_argument: that is not a whole Nexus key (nx_<id>_<secret>); give the key or its id (key_…, from nexus admin key ls)")
				}
				id = string(kid)
			}
			_, err := cl.identity().RevokeAPIKey(cmd.Context(), connect.NewRequest(&nexusv1.RevokeAPIKeyRequest{Id: id}))
			if err == nil && !cl.json {
				fmt.Fprintf(cl.out, "revoked %s\n", id)
			}
			return err
		},
	}
	var lsUser string
	ls := &cobra.Command{
		Use:   "ls [--user NAME]",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := cl.identity().ListAPIKeys(cmd.Context(), connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: lsUser}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("ID", "USER", "SCOPE", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION")
			for _, k := range resp.Msg.GetKeys() {
				scope := k.GetScope()
				if scope == "" {
					scope = "-"
				}
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\n", k.GetId(), k.GetZone(), k.GetUser(), scope,
					fmtTime(k.GetCreatedAt()), fmtTime(k.GetExpiresAt()), fmtTime(k.GetRevokedAt()), k.GetDescription())
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&lsUser, "user", "", "user name or zone/name (default: the caller)")
	key.AddCommand(create, revoke, ls)
	return key
}

func newCheckCmd(cl *client) *cobra.Command {
	var consistency string
	cmd := &cobra.Command{
		Use:   "check RESOURCE PERMISSION [SUBJECT]",
		Short: "Ask whether SUBJECT (default: you) has PERMISSION on RESOURCE; prints allowed or denied",
		Long: `Ask whether SUBJECT has PERMISSION on RESOURCE. Prints "allowed" or "denied",
and exits 0 when allowed, 1 when denied and 2 when it could not tell (an
error, on stderr), so a script can gate on it: nexus check ... && deploy.

RESOURCE is a path (/docs/a.txt), zone:NAME or group:NAME; SUBJECT is
user:NAME or group:NAME (zone/NAME for another zone's). Examples:
  nexus check /docs/a.txt read user:bob
  nexus check zone:default manage user:bob
  nexus check group:design membership user:alice

--consistency is minimize_latency (default), full, or a token from a write.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &nexusv1.CheckRequest{Resource: args[0], Permission: args[1]}
			if len(args) == 3 {
				req.Subject = args[2]
			}
			switch consistency {
			case "", "minimize_latency":
			case "full", "fully_consistent":
				req.Consistency = &nexusv1.Consistency{Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}
			default:
				req.Consistency = &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: consistency}}
			}
			resp, err := cl.identity().Check(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return &exitError{code: 2, msg: describe(err)}
			}
			if !cl.printJSON(resp.Msg) {
				if resp.Msg.GetAllowed() {
					fmt.Fprintln(cl.out, "allowed")
				} else {
					fmt.Fprintln(cl.out, "denied")
				}
			}
			if !resp.Msg.GetAllowed() {
				return &exitError{code: 1} // the answer is printed; nothing went wrong
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&consistency, "consistency", "", "minimize_latency, full, or a consistency token")
	return cmd
}
