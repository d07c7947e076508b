package moves

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// migrate --container --start moves a container started the common way,
// `docker run -v NAME:PATH --network NET --ip ADDR`: its volume is mounted
// once on the destination (it used to be added a second time: "Duplicate
// mount point"), and its user-defined network is created there with the
// same driver and subnet, the container keeping its static address.
func TestMigrateStartBindsAndNetworks(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	pid := os.Getpid()
	name, vol, net := fmt.Sprintf("lbn%d", pid), fmt.Sprintf("lbn%d-data", pid), fmt.Sprintf("lbn%d-net", pid)
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", pid%250))
	addr := subnet.Addr().Next().Next().Next().Next().Next() // .5
	img := clitest.AppImage(t, e)
	c := e.Client()
	if _, err := c.NetworkCreate(ctx, net, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{"app": "shop"},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.NetworkRemove(context.Background(), net, client.NetworkRemoveOptions{}) })
	if _, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config:     &container.Config{Image: img},
		HostConfig: &container.HostConfig{Binds: []string{vol + ":/data"}, NetworkMode: container.NetworkMode(net)},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			net: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addr}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
		_, _ = c.VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clitest.Mountpoint(t, e, vol)+"/page", []byte("moved"), 0o644); err != nil {
		t.Fatal(err)
	}

	cli := lb.CLI(t)
	cli.OK("init")
	out := cli.OK("migrate", "--container", name, "--to", host, "--start", "--wait", "1s")
	if !strings.Contains(out, "created network "+net) {
		t.Fatalf("migrate does not say it created the network:\n%s", out)
	}
	ins, err := e2.Client().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct := ins.Container
	if !ct.State.Running || len(ct.Mounts) != 1 || ct.Mounts[0].Name != vol || ct.Mounts[0].Destination != "/data" {
		t.Fatalf("on the destination: running %v, mounts %+v", ct.State.Running, ct.Mounts)
	}
	ep := ct.NetworkSettings.Networks[net]
	if ep == nil || ep.IPAddress != addr {
		t.Fatalf("on the destination the container is on %v, want %s at %s", ct.NetworkSettings.Networks, net, addr)
	}
	nw, err := e2.Client().NetworkInspect(ctx, net, client.NetworkInspectOptions{})
	if err != nil || nw.Network.Driver != "bridge" || len(nw.Network.IPAM.Config) != 1 || nw.Network.IPAM.Config[0].Subnet != subnet || nw.Network.Labels["app"] != "shop" {
		t.Fatalf("network on the destination: %+v %v", nw.Network, err)
	}
	if b, err := os.ReadFile(clitest.Mountpoint(t, e2, vol) + "/page"); err != nil || string(b) != "moved" {
		t.Fatalf("destination volume: %q %v", b, err)
	}
}
