package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/spf13/cobra"
)

func newKeyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the repository's password keys",
		Long: `A repository has one master key, wrapped once for each password. Any of the
passwords opens the repository. "key add" adds a password, "key list" lists
them, "key remove ID" removes one, and "key passwd" replaces the password in
use. The key in use can never be removed, so one always remains.

The new password comes from --new-password-file, else LIFEBOAT_NEW_PASSWORD,
else a prompt on a terminal (asked twice).`,
		Example: `  lifeboat key add --new-password-file /root/second-password
  lifeboat key list
  lifeboat key remove 3f2a9c1e
  lifeboat key passwd --new-password-file /etc/lifeboat/new-password`,
	}
	var newPwFile string
	newPw := func() ([]byte, error) {
		// The one order of every setting: the flag, then the environment.
		if newPwFile != "" {
			return readPasswordFile(newPwFile)
		}
		if pw := a.getenv("LIFEBOAT_NEW_PASSWORD"); pw != "" {
			return []byte(pw), nil
		}
		return a.prompt("enter the new password: ", true, "no new password: set LIFEBOAT_NEW_PASSWORD or use --new-password-file")
	}
	add := &cobra.Command{
		Use: "add", Short: "Add a password", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRepo(cmd.Context(), a, func(r *repository.Repository) error {
				pw, err := newPw()
				if err != nil {
					return err
				}
				id, err := r.AddKey(cmd.Context(), pw)
				if err != nil {
					return err
				}
				a.out.report("key_added", results.Key{ID: id.String()}, func(w io.Writer) {
					fmt.Fprintf(w, "added key %s\n", id.Short())
				})
				return nil
			})
		},
	}
	add.Flags().StringVar(&newPwFile, "new-password-file", "", "read the new password from this file")
	passwd := &cobra.Command{
		Use: "passwd", Short: "Change the password in use", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRepo(cmd.Context(), a, func(r *repository.Repository) error {
				pw, err := newPw()
				if err != nil {
					return err
				}
				old := r.KeyID()
				id, err := r.ChangePassword(cmd.Context(), pw)
				if err != nil {
					return err
				}
				a.out.report("key_changed", results.Key{ID: id.String(), Removed: old.String()}, func(w io.Writer) {
					fmt.Fprintf(w, "password changed: key %s replaces %s\n", id.Short(), old.Short())
				})
				return nil
			})
		},
	}
	passwd.Flags().StringVar(&newPwFile, "new-password-file", "", "read the new password from this file")
	list := &cobra.Command{
		Use: "list", Short: "List the keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRepo(cmd.Context(), a, func(r *repository.Repository) error {
				keys, err := r.Keys(cmd.Context())
				if err != nil {
					return err
				}
				a.out.result("keys", results.Keys{Keys: keys}, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, " ID\tUser\tHost\tCreated")
					for _, k := range keys {
						cur := " "
						if k.Current {
							cur = "*"
						}
						fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", cur, k.ID.Short(), k.Username, k.Host, k.Created.Local().Format("2006-01-02 15:04:05"))
					}
					tw.Flush()
				})
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove ID", Short: "Remove a key (not the one in use)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRepo(cmd.Context(), a, func(r *repository.Repository) error {
				keys, err := r.Keys(cmd.Context())
				if err != nil {
					return err
				}
				ids := make([]pack.ID, len(keys))
				for i, k := range keys {
					ids[i] = k.ID
				}
				id, err := repository.ResolveID(ids, args[0], "key", repository.ErrNoKey)
				if err != nil {
					return err
				}
				if err := r.RemoveKey(cmd.Context(), id); err != nil {
					return err
				}
				a.out.report("key_removed", results.Key{ID: id.String()}, func(w io.Writer) {
					fmt.Fprintf(w, "removed key %s\n", id.Short())
				})
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, remove, passwd)
	return cmd
}

// withRepo opens the repository (without its index) for fn.
func withRepo(ctx context.Context, a *app, fn func(*repository.Repository) error) error {
	r, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	defer done()
	return fn(r)
}
