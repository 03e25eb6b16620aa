package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/types/known/durationpb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

func (c *client) sharing() nexusv1connect.ShareServiceClient {
	return nexusv1connect.NewShareServiceClient(c.httpClient(), c.base(), c.options()...)
}

var roles = map[string]nexusv1.Role{
	"viewer": nexusv1.Role_ROLE_VIEWER,
	"editor": nexusv1.Role_ROLE_EDITOR,
	"owner":  nexusv1.Role_ROLE_OWNER,
}

func parseRole(s string) (nexusv1.Role, error) {
	r, ok := roles[s]
	if !ok {
		return 0, fmt.Errorf("invalid_argument: role %q is not a role; use viewer, editor or owner", s)
	}
	return r, nil
}

func roleString(r nexusv1.Role) string {
	for name, v := range roles {
		if v == r {
			return name
		}
	}
	return "-"
}

func newShareCmd(cl *client) *cobra.Command {
	share := &cobra.Command{Use: "share", Short: "Share files and folders: grant, revoke, ls, shared-with-me, link"}
	grant := &cobra.Command{
		Use:   "grant PATH SUBJECT ROLE",
		Short: "Give SUBJECT (user:NAME or group:NAME, ZONE/NAME for another zone's) ROLE (viewer, editor, owner) on PATH",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := parseRole(args[2])
			if err != nil {
				return err
			}
			resp, err := cl.sharing().Grant(cmd.Context(), connect.NewRequest(&nexusv1.GrantRequest{Path: args[0], Subject: args[1], Role: role}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.out, "%s is %s of %s\n", args[1], args[2], args[0])
			}
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke PATH SUBJECT ROLE",
		Short: "Take ROLE on PATH back from SUBJECT (a grant made on PATH itself)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := parseRole(args[2])
			if err != nil {
				return err
			}
			resp, err := cl.sharing().Revoke(cmd.Context(), connect.NewRequest(&nexusv1.RevokeRequest{Path: args[0], Subject: args[1], Role: role}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.out, "%s is no longer %s of %s\n", args[1], args[2], args[0])
			}
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls PATH",
		Short: "Show who has access to PATH and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.sharing().ListGrants(cmd.Context(), connect.NewRequest(&nexusv1.ListGrantsRequest{Path: args[0]}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("SUBJECT", "ROLE", "ON", "")
			for _, g := range resp.Msg.GetGrants() {
				inh := ""
				if g.GetInherited() {
					inh = "inherited"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.GetSubject(), roleString(g.GetRole()), g.GetPath(), inh)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(cl.out)
			tw = cl.table("USER", "MAY", "BECAUSE")
			for _, a := range resp.Msg.GetAccess() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.GetUser(), a.GetPermission(), strings.Join(a.GetReasons(), "; "))
			}
			return tw.Flush()
		},
	}
	shared := &cobra.Command{
		Use:   "shared-with-me",
		Short: "List what others shared with you or your groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := cl.table("ZONE", "PATH", "KIND", "ROLE", "VIA")
			token := ""
			for {
				resp, err := cl.sharing().SharedWithMe(cmd.Context(), connect.NewRequest(&nexusv1.SharedWithMeRequest{PageSize: 1000, PageToken: token}))
				if err != nil {
					return err
				}
				if !cl.printJSON(resp.Msg) {
					for _, s := range resp.Msg.GetEntries() {
						p := s.GetEntry().GetPath()
						if p == "" {
							p = s.GetEntry().GetName() // another zone's: its name only
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.GetZone(), p, kindName(s.GetEntry().GetKind()), roleString(s.GetRole()), s.GetVia())
					}
				}
				if token = resp.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if cl.json {
				return nil
			}
			return tw.Flush()
		},
	}
	share.AddCommand(grant, revoke, ls, shared, newLinkCmd(cl))
	return share
}

func newLinkCmd(cl *client) *cobra.Command {
	link := &cobra.Command{Use: "link", Short: "Share links: create, open, revoke, ls, log"}
	var role, password string
	var expires time.Duration
	var maxUses int64
	create := &cobra.Command{
		Use:   "create PATH [--role viewer|editor] [--expires DURATION] [--password P] [--max-uses N]",
		Short: "Create a share link; prints only the link's token on stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseRole(role)
			if err != nil {
				return err
			}
			if expires < 0 {
				return fmt.Errorf("invalid_argument: --expires %s must not be negative", expires)
			}
			pw, err := linkPassword(cmd, password)
			if err != nil {
				return err
			}
			req := &nexusv1.CreateLinkRequest{Path: args[0], Role: r, Password: pw, MaxUses: maxUses}
			if expires > 0 {
				req.ExpiresIn = durationpb.New(expires)
			}
			resp, err := cl.sharing().CreateLink(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			fmt.Fprintln(cl.out, resp.Msg.GetToken())
			l := resp.Msg.GetLink()
			fmt.Fprintf(cl.errOut, "link %s: %s of %s, expires %s (shown once; store it now)\n", l.GetId(), roleString(l.GetRole()), l.GetPath(), fmtTime(l.GetExpiresAt()))
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "viewer or editor")
	create.Flags().Var((*days)(&expires), "expires", "lifetime, such as 24h, 30d or 2w (default: never expires)")
	create.Flags().StringVar(&password, "password", "", "ask openers for this password; - reads it from stdin (env NEXUS_LINK_PASSWORD)")
	create.Flags().Int64Var(&maxUses, "max-uses", 0, "how many opens the link allows (default: unlimited)")

	var openPassword, sub string
	open := &cobra.Command{
		Use:   "open TOKEN [--password P] [--path SUBPATH]",
		Short: "Open a link (no API key needed): prints the file unchanged, or lists the folder",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := linkPassword(cmd, openPassword)
			if err != nil {
				return err
			}
			token := ""
			for {
				resp, err := cl.sharing().OpenLink(cmd.Context(), connect.NewRequest(&nexusv1.OpenLinkRequest{
					Token: args[0], Password: pw, SubPath: sub, PageSize: 1000, PageToken: token,
				}))
				if err != nil {
					return err
				}
				if cl.printJSON(resp.Msg) {
					return nil
				}
				if resp.Msg.GetEntry().GetKind() == nexusv1.EntryKind_ENTRY_KIND_FILE {
					_, err := cl.out.Write(resp.Msg.GetData())
					return err
				}
				for _, e := range resp.Msg.GetChildren() {
					name := e.GetName()
					if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
						name += "/"
					}
					fmt.Fprintln(cl.out, name)
				}
				if token = resp.Msg.GetNextPageToken(); token == "" {
					return nil
				}
			}
		},
	}
	open.Flags().StringVar(&openPassword, "password", "", "the link's password, if it has one; - reads it from stdin (env NEXUS_LINK_PASSWORD)")
	open.Flags().StringVar(&sub, "path", "", "a path below the link's folder")

	revoke := &cobra.Command{
		Use:   "revoke TOKEN",
		Short: "Revoke a link at once (its token or its id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.sharing().RevokeLink(cmd.Context(), connect.NewRequest(&nexusv1.RevokeLinkRequest{Link: args[0]}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintln(cl.out, "revoked")
			}
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls PATH",
		Short: "List the links of PATH (never their tokens)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.sharing().ListLinks(cmd.Context(), connect.NewRequest(&nexusv1.ListLinksRequest{Path: args[0]}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("ID", "ROLE", "BY", "CREATED", "EXPIRES", "PASSWORD", "USES", "REVOKED")
			for _, l := range resp.Msg.GetLinks() {
				uses := fmt.Sprintf("%d", l.GetUses())
				if l.GetMaxUses() > 0 {
					uses += fmt.Sprintf("/%d", l.GetMaxUses())
				}
				pw := "no"
				if l.GetHasPassword() {
					pw = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.GetId(), roleString(l.GetRole()), l.GetCreatedBy(),
					fmtTime(l.GetCreatedAt()), fmtTime(l.GetExpiresAt()), pw, uses, fmtTime(l.GetRevokedAt()))
			}
			return tw.Flush()
		},
	}
	log := &cobra.Command{
		Use:   "log TOKEN",
		Short: "Show who tried to use a link (its token or its id), newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.sharing().LinkAccessLog(cmd.Context(), connect.NewRequest(&nexusv1.LinkAccessLogRequest{Link: args[0], Limit: 1000}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("TIME", "ADDRESS", "ACTION", "OUTCOME", "USER AGENT")
			for _, a := range resp.Msg.GetEntries() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(a.GetAt()), a.GetRemoteAddr(), a.GetAction(), a.GetOutcome(), a.GetUserAgent())
			}
			return tw.Flush()
		},
	}
	link.AddCommand(create, open, revoke, ls, log)
	return link
}

// days is a duration flag that also takes days (d) and weeks (w), as a
// link's lifetime is said: 30d, 2w, 1d12h.
type days time.Duration

func (d *days) String() string { return time.Duration(*d).String() }
func (d *days) Type() string   { return "duration" }

func (d *days) Set(s string) error {
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = days(v)
	return nil
}

// parseDays parses a Go duration with d (24h) and w (7d) allowed as leading
// units: "30d", "2w3d", "1d12h".
func parseDays(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: use a number with a unit, such as 30d, 2w or 24h", s)
	if s == "" {
		return 0, bad
	}
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix byte
		unit   time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := strings.IndexByte(rest, u.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil {
			return 0, bad
		}
		total += time.Duration(n) * u.unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad
		}
		total += d
	}
	return total, nil
}

// linkPassword is a link's password as given: --password - reads it from
// stdin (a prompt without echo on a terminal, else its first line), and
// without the flag NEXUS_LINK_PASSWORD is used, so that it need not be
// on the command line, where shell history and ps show it.
func linkPassword(cmd *cobra.Command, flag string) (string, error) {
	switch flag {
	case "":
		return os.Getenv("NEXUS_LINK_PASSWORD"), nil
	case "-":
	default:
		return flag, nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "link password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password -: stdin gave no password")
	}
	return line, nil
}
