// composecheck: `docker compose config` without a Docker engine. It loads a compose file with
// compose-go (the library Docker Compose itself uses: the compose-spec JSON schema, interpolation,
// profiles, extends/anchors, and the consistency checks such as depends_on naming a real service)
// and prints the resolved project as JSON, so the tests read what Compose would run.
//
// Like `docker compose --env-file F [--profile P]... config`: the env file's variables interpolate the
// file, and its COMPOSE_PROFILES picks the profiles unless -profile is given.
//
//	composecheck [-env-file F] [-profile NAME]... [-env KEY=VALUE]... FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var profiles, env multi
	flag.Var(&profiles, "profile", "a profile to enable (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE for interpolation (repeatable); the process environment is not read")
	envFile := flag.String("env-file", "", "a .env file for interpolation (and COMPOSE_PROFILES)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-profile NAME]... [-env KEY=VALUE]... FILE")
		os.Exit(2)
	}
	if *envFile != "" {
		vars, err := dotenv.Read(*envFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fromFile := multi{}
		for key, value := range vars {
			fromFile = append(fromFile, key+"="+value)
		}
		env = append(fromFile, env...) // -env wins, as the shell's variables win over the env file

		if len(profiles) == 0 && vars["COMPOSE_PROFILES"] != "" {
			profiles = strings.Split(vars["COMPOSE_PROFILES"], ",")
		}
	}
	opts, err := cli.NewProjectOptions(
		[]string{flag.Arg(0)},
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithConsistency(true),
		cli.WithNormalization(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
