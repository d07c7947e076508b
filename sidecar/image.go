package sidecar

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ImageName is the repository of the sidecar image; the tag carries the
// lifeboat version and a digest of the executable, so that an image is
// reused exactly while the binary is the same.
const ImageName = "lifeboat-sidecar"

// ErrNotStatic: the executable needs a dynamic loader, which the
// single-file sidecar image does not have.
var ErrNotStatic = errors.New("the sidecar needs a statically linked lifeboat: build it with CGO_ENABLED=0")

// EnsureImage makes sure the engine has the sidecar image for the
// executable at exe, building and loading it when missing, and returns its
// reference. No registry is involved.
func (e *Engine) EnsureImage(ctx context.Context, exe, version string) (string, error) {
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("sidecar image: %w", err)
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	ref := imageRef(bin, version)
	if _, err := e.c.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	files := []ImageFile{{Path: "tmp/", Mode: 0o1777}, {Path: "lifeboat", Mode: 0o755, Data: bin}}
	if err := e.LoadImage(ctx, ref, files, []string{"/lifeboat"}, map[string]string{LabelSidecar: "true"}); err != nil {
		return "", fmt.Errorf("sidecar image: %w", err)
	}
	return ref, nil
}

// ImageFile is one entry of a single-layer image: a directory when Path
// ends in "/", a symlink when Link is set, else a regular file.
type ImageFile struct {
	Path string
	Mode int64
	Data []byte
	Link string
}

// LoadImage builds a one-layer image from files and loads it into the
// engine under ref, with no registry involved.
func (e *Engine) LoadImage(ctx context.Context, ref string, files []ImageFile, entrypoint []string, labels map[string]string) error {
	tarball, err := imageTar(files, ref, entrypoint, labels)
	if err != nil {
		return err
	}
	if err := e.LoadImages(ctx, bytes.NewReader(tarball)); err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	return nil
}

// LoadImages loads images from a stream in the format of docker save.
func (e *Engine) LoadImages(ctx context.Context, r io.Reader) error {
	res, err := e.c.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	defer res.Close()
	out, err := io.ReadAll(res)
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	if msg := loadError(out); msg != "" {
		return fmt.Errorf("load images: %s", msg)
	}
	return nil
}

// SaveImage streams the image ref as docker save does; the caller closes
// the stream.
func (e *Engine) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	rc, err := e.c.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, fmt.Errorf("save image %s: %w", ref, err)
	}
	return rc, nil
}

// ImageRef is the sidecar image reference for the executable at exe.
func ImageRef(exe, version string) (string, error) {
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	return imageRef(bin, version), nil
}

func imageRef(bin []byte, version string) string {
	sum := sha256.Sum256(bin)
	return fmt.Sprintf("%s:%s-%s", ImageName, tagSafe(version), hex.EncodeToString(sum[:6]))
}

// checkStatic refuses an executable with an ELF interpreter.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("sidecar image: not an ELF executable: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	return nil
}

func tagSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// loadError finds an error in the engine's JSON-lines reply to a load.
func loadError(out []byte) string {
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			return ""
		}
		if m.Error != "" {
			return m.Error
		}
	}
}

// imageTar builds a `docker save` archive of a one-layer image.
func imageTar(files []ImageFile, ref string, entrypoint []string, labels map[string]string) ([]byte, error) {
	mtime := time.Unix(0, 0)
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, f := range files {
		hdr := tar.Header{Name: f.Path, Mode: f.Mode, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(f.Data))}
		switch {
		case strings.HasSuffix(f.Path, "/"):
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		case f.Link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := lw.WriteHeader(&hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := lw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	layerSum := sha256.Sum256(layer.Bytes())
	diffID := "sha256:" + hex.EncodeToString(layerSum[:])
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      mtime.UTC().Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": entrypoint,
			"Env":        []string{"TMPDIR=/tmp", "PATH=/bin"},
			"Labels":     labels,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]string{{"created_by": "lifeboat"}},
	})
	if err != nil {
		return nil, err
	}
	cfgSum := sha256.Sum256(config)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": []string{layerName}}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), tw.Close()
}
