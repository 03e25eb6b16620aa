package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Named contexts, as kubectl has them: a context is a server URL and the
// file holding the API key to use there; one is current. The key itself
// never enters the config file (it stays in its own file, readable by its
// owner only). What a command uses, first found: --url and --token; the
// NEXUS_URL and NEXUS_TOKEN environment; the context named by --context or
// NEXUS_CONTEXT, else the current one; then http://127.0.0.1:8080 and
// ./nexus-data/admin.key.

// contextConfig is the client's config file.
type contextConfig struct {
	Current  string                 `json:"current,omitempty"`
	Contexts map[string]namedServer `json:"contexts,omitempty"`
}

type namedServer struct {
	URL     string `json:"url"`
	KeyFile string `json:"key_file,omitempty"`
}

// configPath is $XDG_CONFIG_HOME/nexus/config.json (~/.config/... by
// default), or NEXUS_CONFIG.
func configPath() (string, error) {
	if p := os.Getenv("NEXUS_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory (%v); set NEXUS_CONFIG to a file", err)
	}
	return filepath.Join(dir, "nexus", "config.json"), nil
}

func loadConfig() (contextConfig, string, error) {
	path, err := configPath()
	if err != nil {
		return contextConfig{}, "", err
	}
	var cfg contextConfig
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return contextConfig{Contexts: map[string]namedServer{}}, path, nil
	}
	if err != nil {
		return contextConfig{}, path, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return contextConfig{}, path, fmt.Errorf("%s is not a Nexus client config (%v); fix or remove it", path, err)
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]namedServer{}
	}
	return cfg, path, nil
}

func (cfg contextConfig) save(path string) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// selected returns the context a command runs in: the one named (by
// --context or NEXUS_CONTEXT), else the current one; ok is false when
// there is none.
func (cfg contextConfig) selected(name string) (namedServer, string, bool, error) {
	if name == "" {
		name = cfg.Current
	}
	if name == "" {
		return namedServer{}, "", false, nil
	}
	ns, ok := cfg.Contexts[name]
	if !ok {
		return namedServer{}, name, false, fmt.Errorf("no context %q; %s", name, cfg.known())
	}
	return ns, name, true, nil
}

func (cfg contextConfig) known() string {
	if len(cfg.Contexts) == 0 {
		return "there are none yet (nexus config set-context NAME --url URL --key-file FILE)"
	}
	names := make([]string, 0, len(cfg.Contexts))
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return "known: " + strings.Join(names, ", ")
}

// applyContext fills what the flags and the environment left unset from
// the selected context.
func (c *client) applyContext(cmd *cobra.Command) error {
	name := c.context
	if name == "" {
		name = os.Getenv("NEXUS_CONTEXT")
	}
	if name == "" && !c.configExists() {
		return nil
	}
	cfg, _, err := loadConfig()
	if err != nil {
		return err
	}
	ns, _, ok, err := cfg.selected(name)
	if err != nil || !ok {
		return err
	}
	if !cmd.Flags().Changed("url") && os.Getenv("NEXUS_URL") == "" {
		c.url = ns.URL
	}
	c.keyFile = ns.KeyFile
	return nil
}

func (c *client) configExists() bool {
	path, err := configPath()
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

func newConfigCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Named contexts: which server and which key file the client uses",
		Long: `A context is a server URL and the file holding the API key to use there,
kept in ~/.config/nexus/config.json (or NEXUS_CONFIG); the key itself stays in
its file. --context NAME (or NEXUS_CONTEXT) picks one for a command; otherwise
the current one is used. --url, --token, NEXUS_URL and NEXUS_TOKEN still win.`,
	}
	var url, keyFile string
	set := &cobra.Command{
		Use:   "set-context NAME --url URL [--key-file FILE]",
		Short: "Create or change a context (the first one made becomes current)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if name == "" || strings.ContainsAny(name, " \t/") {
				return fmt.Errorf("invalid context name %q: use letters, digits, - and _", name)
			}
			cfg, path, err := loadConfig()
			if err != nil {
				return err
			}
			ns := cfg.Contexts[name]
			if cmd.Flags().Changed("url") {
				ns.URL = url
			}
			if ns.URL == "" {
				return fmt.Errorf("context %q needs --url", name)
			}
			if cmd.Flags().Changed("key-file") {
				abs, err := filepath.Abs(keyFile)
				if err != nil {
					return err
				}
				if _, err := os.Stat(abs); err != nil {
					return fmt.Errorf("--key-file %s: %v (save the key there first, readable by you only)", keyFile, err)
				}
				ns.KeyFile = abs
			}
			cfg.Contexts[name] = ns
			if cfg.Current == "" {
				cfg.Current = name
			}
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "context %s: %s\n", name, ns.URL)
			return nil
		},
	}
	set.Flags().StringVar(&url, "url", "", "server URL")
	set.Flags().StringVar(&keyFile, "key-file", "", "file holding the API key")
	use := &cobra.Command{
		Use:   "use-context NAME",
		Short: "Make a context the current one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig()
			if err != nil {
				return err
			}
			if _, ok := cfg.Contexts[args[0]]; !ok {
				return fmt.Errorf("no context %q; %s", args[0], cfg.known())
			}
			cfg.Current = args[0]
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "now using context %s\n", args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts (* marks the current one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig()
			if err != nil {
				return err
			}
			names := make([]string, 0, len(cfg.Contexts))
			for n := range cfg.Contexts {
				names = append(names, n)
			}
			sort.Strings(names)
			tw := tabwriter.NewWriter(cl.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tURL\tKEY FILE")
			for _, n := range names {
				mark := ""
				if n == cfg.Current {
					mark = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, n, cfg.Contexts[n].URL, cfg.Contexts[n].KeyFile)
			}
			return tw.Flush()
		},
	}
	del := &cobra.Command{
		Use:   "delete-context NAME",
		Short: "Remove a context (its key file is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig()
			if err != nil {
				return err
			}
			if _, ok := cfg.Contexts[args[0]]; !ok {
				return fmt.Errorf("no context %q; %s", args[0], cfg.known())
			}
			delete(cfg.Contexts, args[0])
			if cfg.Current == args[0] {
				cfg.Current = ""
			}
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "deleted context %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(set, use, list, del)
	return cmd
}
