package sidecar

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Network is a user-defined network that a container is attached to, as
// its engine has it: what a container like it needs on another engine.
type Network struct {
	Name, Driver         string
	Internal, Attachable bool
	IPv6                 bool
	Subnets              []network.IPAMConfig
	Options, Labels      map[string]string
}

// builtinNetworks are the engine's own networks, present on every engine.
var builtinNetworks = []string{"bridge", "host", "none", "default"}

// AppNetworks returns the user-defined networks app is attached to, sorted
// by name.
func (e *Engine) AppNetworks(ctx context.Context, app *AppContainer) ([]Network, error) {
	if app.inspect.NetworkSettings == nil {
		return nil, nil
	}
	var out []Network
	for _, name := range slices.Sorted(maps.Keys(app.inspect.NetworkSettings.Networks)) {
		if slices.Contains(builtinNetworks, name) {
			continue
		}
		res, err := e.c.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("network %s of %s: %w", name, app.Name, err)
		}
		n := res.Network
		out = append(out, Network{Name: n.Name, Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable, IPv6: n.EnableIPv6,
			Subnets: n.IPAM.Config, Options: n.Options, Labels: n.Labels})
	}
	return out, nil
}

// EnsureNetwork creates n unless the engine has a network of its name,
// and reports whether it created it. One of that name with another driver
// or other subnets is an error: the container's static addresses and
// aliases may not fit it.
func (e *Engine) EnsureNetwork(ctx context.Context, n Network) (bool, error) {
	res, err := e.c.NetworkInspect(ctx, n.Name, client.NetworkInspectOptions{})
	switch {
	case err == nil:
		have := res.Network
		if have.Driver != n.Driver || !sameSubnets(have.IPAM.Config, n.Subnets) {
			return false, fmt.Errorf("network %s on %s differs from the source's (driver %s, subnets %v; the source has %s, %v)",
				n.Name, e.Host(), have.Driver, subnets(have.IPAM.Config), n.Driver, subnets(n.Subnets))
		}
		return false, nil
	case !errdefs.IsNotFound(err):
		return false, fmt.Errorf("network %s on %s: %w", n.Name, e.Host(), err)
	}
	ipv6 := n.IPv6
	_, err = e.c.NetworkCreate(ctx, n.Name, client.NetworkCreateOptions{Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable,
		EnableIPv6: &ipv6, IPAM: &network.IPAM{Config: n.Subnets}, Options: n.Options, Labels: n.Labels})
	if err != nil {
		return false, fmt.Errorf("create network %s on %s like the source's (%s, %v): %w", n.Name, e.Host(), n.Driver, subnets(n.Subnets), err)
	}
	return true, nil
}

func subnets(cfg []network.IPAMConfig) []string {
	out := make([]string, len(cfg))
	for i, c := range cfg {
		out[i] = c.Subnet.String()
	}
	slices.Sort(out)
	return out
}

func sameSubnets(a, b []network.IPAMConfig) bool { return slices.Equal(subnets(a), subnets(b)) }
